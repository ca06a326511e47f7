/**
 * Signalling load for the benchmarks: peers that join a real daemon's rooms over its WebSocket, each
 * timed from the moment its socket is opened.
 *
 * - LightPeer speaks the protocol with no media stack: it creates a WebRtcTransport, joins with the
 *   router's own RTP capabilities and answers newConsumer with ok, but never runs ICE/DTLS. It can
 *   also produce (the worker accepts a producer before the transport connects), so a room has
 *   something to consume. What it measures is the daemon's signalling and consumer set-up, not media.
 * - mediaPeer() is test/helpers/sfu-client.ts (msc-node on werift: real ICE, DTLS, SRTP, generated
 *   Opus/VP8 RTP), opened from a chosen local address.
 *
 * The daemon allows 64 WebSocket connections per client address; peers can be given distinct loopback
 * source addresses (127.0.1.x) with `localAddress`, as distinct participants would have.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { SfuClient, randomSession, wsUrl, type Kind } from '../../test/helpers/sfu-client.ts';

/** The i-th participant's own loopback address: 127.0.1.1, 127.0.1.2, ... 127.0.4.250. */
export const peerAddress = (i: number): string => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;

export interface PeerTimes {
  /** performance.now() when the socket was created. */
  start: number;
  open?: number;
  joined?: number;
  firstConsumer?: number;
  allConsumers?: number;
  firstRtp?: number;
  error?: string;
}

/** Opens the signalling socket and says hello (id 0, before any request of the peer's own). */
function openSocket(baseUrl: string, room: string, peerId: string, localAddress: string | undefined, timeoutMs: number): Promise<WebSocket> {
  const url = wsUrl(baseUrl, { room, peer: peerId });
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('websocket did not open in time'));
    }, timeoutMs);
    ws.once('open', () => {
      ws.send(JSON.stringify({ request: true, id: 0, method: 'hello', data: { session: randomSession() } }));
      const onHello = (raw: WebSocket.RawData) => {
        const m = JSON.parse(raw.toString()) as { response?: boolean; id?: number; ok?: boolean; errorReason?: string };
        if (m.response !== true || m.id !== 0) return;
        ws.off('message', onHello);
        clearTimeout(timer);
        if (m.ok) resolve(ws);
        else reject(new Error(`hello refused: ${m.errorReason}`));
      };
      ws.on('message', onHello);
    });
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      reject(new Error(`closed before admission: ${code} ${reason.toString()}`));
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A protocol-only peer (no ICE/DTLS/media); see the module comment. */
export class LightPeer {
  readonly times: PeerTimes;
  readonly peerId: string;
  ws: WebSocket | null = null;
  consumers = 0;
  private expectConsumers = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (d: any) => void; reject: (e: Error) => void }>();
  private transportId = '';
  private routerCaps: unknown = null;

  constructor(peerId = `l-${randomBytes(4).toString('hex')}`) {
    this.peerId = peerId;
    this.times = { start: performance.now() };
  }

  /** Opens, joins (creating a transport for producing or consuming) and waits for `expectConsumers` newConsumer requests. */
  async join(baseUrl: string, o: { room: string; localAddress?: string; produce?: Kind[]; expectConsumers?: number; timeoutMs?: number }): Promise<void> {
    const timeoutMs = o.timeoutMs ?? 30_000;
    this.times.start = performance.now();
    this.expectConsumers = o.expectConsumers ?? 0;
    let allDone!: () => void;
    const all = new Promise<void>((r) => (allDone = r));
    const ws = await openSocket(baseUrl, o.room, this.peerId, o.localAddress, timeoutMs);
    this.ws = ws;
    this.times.open = performance.now();
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.response) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.data);
        else p?.reject(new Error(`${m.errorCode} ${m.errorReason}`));
      } else if (m.request && m.method === 'newConsumer') {
        this.consumers++;
        if (this.consumers === 1) this.times.firstConsumer = performance.now();
        ws.send(JSON.stringify({ response: true, id: m.id, ok: true, data: {} }));
        if (this.consumers === this.expectConsumers) {
          this.times.allConsumers = performance.now();
          allDone();
        }
      }
    });
    const closed = new Promise<never>((_, reject) => ws.once('close', (code) => reject(new Error(`closed by the server (${code})`))));
    closed.catch(() => {});
    const producing = (o.produce ?? []).length > 0;
    const flow = (async () => {
      this.routerCaps = await this.request('getRouterRtpCapabilities');
      const t = await this.request('createWebRtcTransport', { producing, consuming: !producing });
      this.transportId = t.id;
      await this.request('join', { displayName: this.peerId, device: { name: 'bench-light' }, rtpCapabilities: this.routerCaps });
      this.times.joined = performance.now();
      for (const kind of o.produce ?? []) await this.produce(kind);
      if (this.expectConsumers > 0) await all;
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not done within ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([flow, closed, timeout]);
    } catch (e) {
      this.times.error = (e as Error).message;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private request(method: string, data: unknown = {}): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws!.send(JSON.stringify({ request: true, id, method, data }));
    });
  }

  private async produce(kind: Kind): Promise<void> {
    const ssrc = randomBytes(4).readUInt32BE(0);
    const rtpParameters =
      kind === 'audio'
        ? { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }], encodings: [{ ssrc }], headerExtensions: [], rtcp: { cname: this.peerId } }
        : {
            codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] }],
            encodings: [{ ssrc }],
            headerExtensions: [],
            rtcp: { cname: this.peerId },
          };
    await this.request('produce', { transportId: this.transportId, kind, rtpParameters, appData: { source: kind === 'audio' ? 'mic' : 'webcam' } });
  }

  close(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => ws.terminate(), 3000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      ws.close(1000);
    });
  }
}

/**
 * A werift peer (test/helpers/sfu-client.ts) from `localAddress`, timed: open, join response, first
 * newConsumer request, every expected consumer offered, first RTP packet on any consumer (polled by
 * the caller with pollMedia()).
 */
export class MediaPeer {
  readonly times: PeerTimes = { start: performance.now() };
  client: SfuClient | null = null;
  private expectConsumers = 0;

  async join(baseUrl: string, o: { room: string; peerId?: string; localAddress?: string; produce?: Kind[]; consume?: boolean; expectConsumers?: number; timeoutMs?: number }): Promise<void> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    this.times.start = performance.now();
    this.expectConsumers = o.expectConsumers ?? 0;
    const peerId = o.peerId ?? `m-${randomBytes(4).toString('hex')}`;
    try {
      const ws = await openSocket(baseUrl, o.room, peerId, o.localAddress, timeoutMs);
      this.times.open = performance.now();
      const client = new SfuClient(ws, { room: o.room, peerId, session: randomSession() });
      this.client = client;
      ws.on('message', (raw) => {
        // Only needs to spot newConsumer requests; SfuClient parses and answers them itself.
        const text = raw.toString();
        if (!text.includes('"newConsumer"')) return;
        this.onOffer();
      });
      await client.joinWithMedia({ produce: o.produce, consume: o.consume });
      this.times.joined ??= performance.now();
    } catch (e) {
      this.times.error = (e as Error).message;
      throw e;
    }
  }

  private offers = 0;
  private onOffer(): void {
    this.offers++;
    const now = performance.now();
    if (this.offers === 1) this.times.firstConsumer = now;
    if (this.offers === this.expectConsumers) this.times.allConsumers = now;
  }

  /** Records the first RTP packet; true once every expected consumer has received packets. */
  pollMedia(now = performance.now()): boolean {
    const cs = this.client ? [...this.client.consumers.values()] : [];
    if (this.times.firstRtp === undefined && cs.some((c) => c.packets > 0)) this.times.firstRtp = now;
    return cs.length >= this.expectConsumers && cs.every((c) => c.packets > 0);
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}

/**
 * Joins `peers` all at once while polling their media every 5 ms (which times each one's first RTP),
 * then waits until every peer that joined has media on all its consumers, or `timeoutMs`.
 */
export async function joinAtOnce(
  peers: readonly MediaPeer[],
  join: (p: MediaPeer, i: number) => Promise<void>,
  timeoutMs: number,
): Promise<{ failed: PromiseRejectedResult[]; withMedia: number }> {
  let withMedia = 0;
  const poll = setInterval(() => {
    const now = performance.now();
    withMedia = 0;
    for (const p of peers) if (p.pollMedia(now)) withMedia++;
  }, 5);
  try {
    const results = await Promise.allSettled(peers.map(join));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    const deadline = performance.now() + timeoutMs;
    while (withMedia < peers.length - failed.length && performance.now() < deadline) await sleep(20);
    return { failed, withMedia };
  } finally {
    clearInterval(poll);
  }
}
