/**
 * A small signalling + media client for tests and benchmarks: speaks confd's protocol over `ws`, and
 * sends/receives real media with msc-node (mediasoup-client on werift: ICE, DTLS, SRTP in Node).
 *
 * Media is generated, not encoded: every RTP payload carries a recognisable pattern (a magic, the
 * track's tag, a running counter and filler bytes derived from both), so a receiver can check after
 * SRTP decryption that each packet is exactly one that was sent, and by whom.
 *
 *   const c = await connect(d.http, { room: 'r1' });
 *   await c.joinWithMedia({ produce: ['audio', 'video'], consume: true });
 *   ... c.consumers (packets, bytes, corrupt, tags) ...
 *   await c.close();
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import WebSocket from 'ws';
import { Device, MediaStreamTrack, RTCRtpCodecParameters, RtpHeader, RtpPacket, serializeAudioLevelIndication, useAbsSendTime, useAudioLevelIndication, useNACK, usePLI, useREMB, useSdesMid, useFIR } from 'msc-node';
import type { types as msc } from 'msc-node';
import type { MediaSource, NewConsumerData } from '../../src/protocol/index.ts';
import { until, WAIT_MS } from './wait.ts';

export type Kind = 'audio' | 'video';

export interface ConnectOptions {
  room: string;
  /** Default: a random `p-xxxxxxxx`. */
  peerId?: string;
  name?: string;
  token?: string;
  /**
   * The session secret (16-128 URL-safe chars). Default: one per peer id in this test process, so that
   * connecting again with a peer id is the same tab coming back, as in a browser (the server keeps a
   * departed id for its own tab a while). Pass randomSession() to act as another tab.
   */
  session?: string;
  /**
   * Query parameters to override (null removes one), for testing bad connect parameters. The secret ones
   * (session, token, host, roomPassword) are sent in the hello message instead, as the page does.
   */
  query?: Record<string, string | null>;
  /** Send these hello fields exactly (null: send no hello at all), instead of the ones built from the options. */
  hello?: Record<string, unknown> | null;
  /** Put the secret query parameters in the URL as given (to test that the server refuses them). */
  secretsInUrl?: boolean;
  /** Extra headers for the upgrade request (e.g. Origin). */
  headers?: Record<string, string>;
  /** How long to wait for the socket to open. */
  timeoutMs?: number;
  /** Connect from this local address (e.g. 127.0.3.7: a guest at another address on loopback). */
  localAddress?: string;
}

export interface Message {
  request?: true;
  response?: true;
  notification?: true;
  id?: number;
  method?: string;
  ok?: boolean;
  data?: any;
  errorCode?: number;
  errorReason?: string;
  /** A frame that was not JSON (or was binary), as text. */
  raw?: string;
}

/** An error response from the server. */
export class RequestFailed extends Error {
  readonly errorCode: number;
  readonly errorReason: string;
  readonly method: string;
  constructor(method: string, errorCode: number, errorReason: string) {
    super(`${method} failed: ${errorCode} ${errorReason}`);
    this.method = method;
    this.errorCode = errorCode;
    this.errorReason = errorReason;
  }
}

export interface CloseInfo {
  code: number;
  reason: string;
}

// ---- generated media ------------------------------------------------------------------------------

const MAGIC = { audio: Buffer.from('CFDA'), video: Buffer.from('CFDV') } as const;
/** Bytes before the pattern: Opus TOC; VP8 payload descriptor (X, I with 15-bit picture id) + header. */
const VP8_DESCRIPTOR_LEN = 4;

function filler(tag: number, counter: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = (tag ^ Math.imul(counter, 2654435761)) >>> 0;
  for (let i = 0; i < len; i++) {
    // xorshift32: cheap, and any flipped or shifted byte changes what follows.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function pattern(kind: Kind, tag: number, counter: number, fillLen: number): Buffer {
  const head = Buffer.alloc(12);
  MAGIC[kind].copy(head, 0);
  head.writeUInt32BE(tag >>> 0, 4);
  head.writeUInt32BE(counter >>> 0, 8);
  return Buffer.concat([head, filler(tag, counter, fillLen)]);
}

/** An Opus-shaped payload: TOC byte (config 15, mono, code 0) + pattern; never DTX-sized. */
export function audioPayload(tag: number, counter: number): Buffer {
  return Buffer.concat([Buffer.from([0x78]), pattern('audio', tag, counter, 60 + (counter % 41))]);
}

/**
 * A VP8-shaped payload. The descriptor has a two-byte picture id (mediasoup rewrites one-byte ids);
 * the first packet of a key frame has S=1, partition 0 and the VP8 key frame header (P=0, start code).
 */
export function videoPayload(tag: number, counter: number, o: { pictureId: number; start: boolean; keyFrame: boolean; size: number }): Buffer {
  const desc = Buffer.from([0x80 | (o.start ? 0x10 : 0), 0x80, 0x80 | ((o.pictureId >> 8) & 0x7f), o.pictureId & 0xff]);
  let vp8 = Buffer.alloc(0);
  if (o.start) {
    vp8 = o.keyFrame
      ? Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]) // P=0, 320x240
      : Buffer.from([0x11, 0x02, 0x00]); // P=1
  }
  const head = Buffer.concat([desc, vp8]);
  return Buffer.concat([head, pattern('video', tag, counter, Math.max(16, o.size - head.length - 12))]);
}

export type PayloadCheck = { ok: true; tag: number; counter: number } | { ok: false; why: string };

/** Checks that a received payload is, byte for byte, one that a generator of this kind produced. */
export function checkPayload(kind: Kind, payload: Buffer): PayloadCheck {
  let off: number;
  if (kind === 'audio') {
    if (payload[0] !== 0x78) return { ok: false, why: 'bad Opus TOC byte' };
    off = 1;
  } else {
    if (payload.length < VP8_DESCRIPTOR_LEN + 12 || (payload[0]! & 0x80) === 0 || payload[1] !== 0x80 || (payload[2]! & 0x80) === 0) return { ok: false, why: 'bad VP8 descriptor' };
    const start = (payload[0]! & 0x10) !== 0;
    off = VP8_DESCRIPTOR_LEN + (start ? ((payload[VP8_DESCRIPTOR_LEN]! & 1) === 0 ? 10 : 3) : 0);
  }
  if (payload.length < off + 12) return { ok: false, why: 'payload too short' };
  if (!payload.subarray(off, off + 4).equals(MAGIC[kind])) return { ok: false, why: 'magic not found' };
  const tag = payload.readUInt32BE(off + 4);
  const counter = payload.readUInt32BE(off + 8);
  const body = payload.subarray(off + 12);
  if (!body.equals(filler(tag, counter, body.length))) return { ok: false, why: `filler differs (tag ${tag}, counter ${counter})` };
  return { ok: true, tag, counter };
}

/**
 * The audio level an RtpGenerator puts in its ssrc-audio-level header extension (RFC 6464): a constant
 * level in -dBov (0 loudest, 127 silence), or 'speech': syllables (-10 dBov, 340 ms) and pauses (-60 dBov,
 * 160 ms), as mediasoup's ActiveSpeakerObserver needs to see activity (a constant level, however loud,
 * becomes its noise floor and counts as no activity); null: no extension.
 */
export type AudioLevel = number | 'speech' | null;

export function audioLevelAt(level: Exclude<AudioLevel, null>, counter: number): number {
  return level === 'speech' ? (counter % 25 < 17 ? 10 : 60) : level;
}

/** Feeds a werift track with generated RTP at a realistic rate: Opus 50 pkt/s; VP8 30 fps, key frames on PLI and every 2 s. */
export class RtpGenerator {
  readonly kind: Kind;
  readonly track: MediaStreamTrack;
  /** Identifies this track in every payload. */
  readonly tag: number;
  /** Audio: the level sent in the ssrc-audio-level extension (once its id is known from the producer). */
  audioLevel: AudioLevel = null;
  audioLevelId: number | null = null;
  packets = 0;
  bytes = 0;
  keyFrames = 0;
  private seq = randomInt(0, 65536);
  private ts = randomInt(0, 2 ** 32);
  private counter = 0;
  private pictureId = randomInt(0, 0x8000);
  private frames = 0;
  private keyFrameWanted = true;
  private timer: NodeJS.Timeout | null = null;

  constructor(kind: Kind) {
    this.kind = kind;
    this.track = new MediaStreamTrack({ kind });
    this.tag = randomBytes(4).readUInt32BE(0);
  }

  requestKeyFrame(): void {
    this.keyFrameWanted = true;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.kind === 'audio' ? 20 : 33);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.track.stopped) this.track.stop();
  }

  private write(payload: Buffer, marker: boolean): void {
    const header = new RtpHeader({ sequenceNumber: this.seq, timestamp: this.ts, marker, payloadType: 96 });
    if (this.kind === 'audio' && this.audioLevel !== null && this.audioLevelId !== null) {
      header.extensions = [{ id: this.audioLevelId, payload: serializeAudioLevelIndication(audioLevelAt(this.audioLevel, this.counter)) }];
    }
    this.seq = (this.seq + 1) & 0xffff;
    this.track.writeRtp(new RtpPacket(header, payload));
    this.packets++;
    this.bytes += payload.length;
  }

  private tick(): void {
    if (this.kind === 'audio') {
      this.write(audioPayload(this.tag, this.counter++), false);
      this.ts = (this.ts + 960) >>> 0;
      return;
    }
    const key = this.keyFrameWanted || this.frames % 60 === 0;
    this.keyFrameWanted = false;
    this.frames++;
    this.pictureId = (this.pictureId + 1) & 0x7fff;
    // Key frames: 3 packets of ~1100 bytes; delta frames: 1 packet of 300-800 bytes.
    const parts = key ? 3 : 1;
    for (let i = 0; i < parts; i++) {
      const size = key ? 1100 : 300 + ((this.counter * 37) % 500);
      this.write(videoPayload(this.tag, this.counter++, { pictureId: this.pictureId, start: i === 0, keyFrame: key, size }), i === parts - 1);
    }
    if (key) this.keyFrames++;
    this.ts = (this.ts + 3000) >>> 0;
  }
}

/** What one consumer has received, checked packet by packet. */
export interface ConsumerStats {
  id: string;
  producerId: string;
  peerId: string;
  kind: Kind;
  packets: number;
  bytes: number;
  /** Packets whose payload is not exactly one the generator made. */
  corrupt: number;
  firstCorrupt: string | null;
  /** Generator tags seen (one per producer track). */
  tags: Set<number>;
  /** Distinct payload counters seen (retransmissions count once). */
  unique: Set<number>;
  closed: boolean;
}

// ---- the client ------------------------------------------------------------------------------------

const NATIVE_CAPS = {
  codecs: {
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [useFIR(), useNACK(), usePLI(), useREMB()] })],
  },
  headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid(), useAbsSendTime()] },
};

export function wsUrl(baseUrl: string, params: Record<string, string | undefined>): string {
  const u = new URL('/ws', baseUrl.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

export const randomSession = (): string => randomBytes(24).toString('base64url');
const SALT = randomBytes(16);
const sessionFor = (peerId: string) => createHash('sha256').update(SALT).update(peerId).digest('base64url');

export class SfuClient {
  readonly ws: WebSocket;
  readonly room: string;
  readonly peerId: string;
  readonly session: string;
  /** Every message received, in order (parsed JSON; non-JSON text as {raw}). */
  readonly messages: Message[] = [];
  /** Resolves when the socket closes. */
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | null = null;
  /** The server's answer to hello ({role, waiting}), or the error that ended it. */
  hello: Promise<{ role: string; waiting: boolean } | Error> = Promise.resolve(new Error('no hello sent'));
  /** Answer server `newConsumer` requests (consuming when a recv transport exists); false: leave them unanswered. */
  answerNewConsumer = true;

  device: Device | null = null;
  sendTransport: msc.Transport | null = null;
  recvTransport: msc.Transport | null = null;
  readonly generators = new Map<string, RtpGenerator>(); // producer id -> generator
  readonly producerIds = new Map<Kind, string>();
  readonly consumers = new Map<string, ConsumerStats>();
  readonly peers = new Map<string, { id: string; displayName: string }>();

  private nextId = 1;
  private readonly pending = new Map<number, { method: string; resolve: (d: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly waiters = new Set<{ pred: (m: Message) => boolean; resolve: (m: Message) => void }>();
  private readonly mscConsumers: msc.Consumer[] = [];

  constructor(ws: WebSocket, o: { room: string; peerId: string; session: string }) {
    this.ws = ws;
    this.room = o.room;
    this.peerId = o.peerId;
    this.session = o.session;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${p.method}: connection closed (${code})`));
        }
        this.pending.clear();
        this.stopMedia();
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => {}); // surfaced through `closed`
    ws.on('message', (raw, isBinary) => this.onMessage(raw.toString(), isBinary));
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  private onMessage(text: string, isBinary: boolean): void {
    let m: Message;
    try {
      m = isBinary ? { raw: text } : (JSON.parse(text) as Message);
    } catch {
      m = { raw: text };
    }
    this.messages.push(m);
    for (const w of [...this.waiters]) {
      if (w.pred(m)) {
        this.waiters.delete(w);
        w.resolve(m);
      }
    }
    if (m.response && typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data);
      else p.reject(new RequestFailed(p.method, m.errorCode ?? -1, m.errorReason ?? ''));
      return;
    }
    if (m.request && m.method === 'newConsumer' && typeof m.id === 'number') {
      if (this.answerNewConsumer) void this.onNewConsumer(m.id, m.data as NewConsumerData);
      return;
    }
    if (m.request && typeof m.id === 'number') {
      this.sendJson({ response: true, id: m.id, ok: false, errorCode: 501, errorReason: `unknown method ${m.method}` });
      return;
    }
    if (m.notification) this.onNotification(m.method ?? '', m.data);
  }

  private onNotification(method: string, data: any): void {
    switch (method) {
      case 'newPeer':
        this.peers.set(data.id, data);
        break;
      case 'peerClosed':
        this.peers.delete(data.peerId);
        break;
      case 'consumerClosed': {
        const c = this.consumers.get(data.consumerId);
        if (c) c.closed = true;
        break;
      }
    }
  }

  private async onNewConsumer(id: number, d: NewConsumerData): Promise<void> {
    if (!this.recvTransport) {
      this.sendJson({ response: true, id, ok: false, errorCode: 409, errorReason: 'not consuming' });
      return;
    }
    try {
      const consumer = await this.recvTransport.consume({ id: d.id, producerId: d.producerId, kind: d.kind, rtpParameters: d.rtpParameters as msc.RtpParameters });
      this.mscConsumers.push(consumer);
      const stats: ConsumerStats = { id: d.id, producerId: d.producerId, peerId: d.peerId, kind: d.kind, packets: 0, bytes: 0, corrupt: 0, firstCorrupt: null, tags: new Set(), unique: new Set(), closed: false };
      this.consumers.set(d.id, stats);
      consumer.track.onReceiveRtp.subscribe((rtp) => {
        stats.packets++;
        stats.bytes += rtp.payload.length;
        const c = checkPayload(d.kind, rtp.payload);
        if (c.ok) {
          stats.tags.add(c.tag);
          stats.unique.add(c.counter);
        } else {
          stats.corrupt++;
          stats.firstCorrupt ??= c.why;
        }
      });
      this.sendJson({ response: true, id, ok: true, data: {} });
    } catch (e) {
      this.sendJson({ response: true, id, ok: false, errorCode: 500, errorReason: (e as Error).message });
    }
  }

  sendJson(msg: unknown): void {
    if (this.open) this.ws.send(JSON.stringify(msg));
  }

  /** Sends anything as is (text or binary frame). */
  sendRaw(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.ws.send(data, { binary });
  }

  request<T = any>(method: string, data?: unknown, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      if (!this.open) return reject(new Error(`${method}: connection is not open`));
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.sendJson({ request: true, id, method, ...(data === undefined ? {} : { data }) });
    });
  }

  notify(method: string, data?: unknown): void {
    this.sendJson({ notification: true, method, ...(data === undefined ? {} : { data }) });
  }

  /** The first message (already received, from index `since`, or future) matching `pred`. */
  waitFor(pred: (m: Message) => boolean, timeoutMs = 10_000, since = 0): Promise<Message> {
    const seen = this.messages.slice(since).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no matching message within ${timeoutMs} ms; last: ${JSON.stringify(this.messages.slice(-3))}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  waitForNotification(method: string, pred: (data: any) => boolean = () => true, timeoutMs = 10_000, since = 0): Promise<any> {
    return this.waitFor((m) => m.notification === true && m.method === method && pred(m.data), timeoutMs, since).then((m) => m.data);
  }

  notifications(method?: string): any[] {
    return this.messages.filter((m) => m.notification && (!method || m.method === method)).map((m) => m.data);
  }

  // ---- media ----

  /** Loads the device, creates the transports, joins, then publishes the given kinds. */
  async joinWithMedia(o: { produce?: Kind[]; consume?: boolean; displayName?: string } = {}): Promise<{ peers: any[] }> {
    const routerRtpCapabilities = await this.request('getRouterRtpCapabilities');
    const device = new Device(nativeCaps(), { handlerName: 'werift' });
    await device.load({ routerRtpCapabilities });
    this.device = device;
    const produce = o.produce ?? [];
    if (produce.length > 0) {
      const t = await this.request('createWebRtcTransport', { producing: true, consuming: false });
      const transport = device.createSendTransport(t);
      transport.on('connect', ({ dtlsParameters }: any, callback: () => void, errback: (e: Error) => void) => {
        this.request('connectWebRtcTransport', { transportId: transport.id, dtlsParameters }).then(callback, errback);
      });
      transport.on('produce', ({ kind, rtpParameters, appData }: any, callback: (r: { id: string }) => void, errback: (e: Error) => void) => {
        this.request('produce', { transportId: transport.id, kind, rtpParameters, appData }).then(callback, errback);
      });
      this.sendTransport = transport;
    }
    if (o.consume) {
      const t = await this.request('createWebRtcTransport', { producing: false, consuming: true });
      const transport = device.createRecvTransport(t);
      transport.on('connect', ({ dtlsParameters }: any, callback: () => void, errback: (e: Error) => void) => {
        this.request('connectWebRtcTransport', { transportId: transport.id, dtlsParameters }).then(callback, errback);
      });
      this.recvTransport = transport;
    }
    const joined = await this.request('join', { displayName: o.displayName, device: { name: 'sfu-client' }, rtpCapabilities: device.rtpCapabilities });
    for (const p of joined.peers ?? []) this.peers.set(p.id, p);
    for (const kind of produce) await this.produce(kind);
    return joined;
  }

  async produce(kind: Kind): Promise<string> {
    const id = await this.publish(kind, kind === 'audio' ? 'mic' : 'webcam');
    this.producerIds.set(kind, id);
    return id;
  }

  /** A second video producer labelled as a screen share (`producerIds` keeps the camera's). */
  shareScreen(): Promise<string> {
    return this.publish('video', 'screen');
  }

  private async publish(kind: Kind, source: MediaSource): Promise<string> {
    if (!this.sendTransport) throw new Error('no send transport: call joinWithMedia({ produce: [...] })');
    const gen = new RtpGenerator(kind);
    const producer = await this.sendTransport.produce({ track: gen.track, appData: { source } });
    producer.rtpSender?.onPictureLossIndication.subscribe(() => gen.requestKeyFrame());
    gen.audioLevelId = producer.rtpParameters.headerExtensions?.find((e) => e.uri === 'urn:ietf:params:rtp-hdrext:ssrc-audio-level')?.id ?? null;
    this.generators.set(producer.id, gen);
    gen.start();
    return producer.id;
  }

  /** What this peer's microphone "says" from now on (see AudioLevel); sent with no level by default. */
  setAudioLevel(level: AudioLevel): void {
    const id = this.producerIds.get('audio');
    const gen = id ? this.generators.get(id) : undefined;
    if (!gen) throw new Error('no audio producer: produce audio first');
    gen.audioLevel = level;
  }

  tagOf(kind: Kind): number | undefined {
    const id = this.producerIds.get(kind);
    return id ? this.generators.get(id)?.tag : undefined;
  }

  /** Consumers of the given peer's producers. */
  consumersOf(peerId: string): ConsumerStats[] {
    return [...this.consumers.values()].filter((c) => c.peerId === peerId);
  }

  private stopMedia(): void {
    for (const g of this.generators.values()) g.stop();
    for (const c of this.mscConsumers) {
      try {
        c.track.stop();
      } catch {
        /* already stopped */
      }
    }
    for (const t of [this.sendTransport, this.recvTransport]) {
      try {
        t?.close();
      } catch {
        /* already closed */
      }
    }
  }

  /** Stops media and closes the socket; resolves once it is closed. */
  async close(): Promise<CloseInfo> {
    this.stopMedia();
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    const t = setTimeout(() => this.ws.terminate(), 3000);
    const info = await this.closed;
    clearTimeout(t);
    return info;
  }
}

/** A fresh copy of the native capabilities: the werift handler mutates what it is given. */
function nativeCaps(): typeof NATIVE_CAPS {
  return {
    codecs: {
      audio: NATIVE_CAPS.codecs.audio.map((c) => new RTCRtpCodecParameters({ ...c })),
      video: NATIVE_CAPS.codecs.video.map((c) => new RTCRtpCodecParameters({ ...c, rtcpFeedback: [...c.rtcpFeedback] })),
    },
    headerExtensions: { audio: [...NATIVE_CAPS.headerExtensions.audio], video: [...NATIVE_CAPS.headerExtensions.video] },
  };
}

/** Opens the signalling socket; resolves once open (the server may still refuse and close it right after). */
const SECRET_KEYS = new Set(['session', 'token', 'host', 'roomPassword']);

export function connect(baseUrl: string, o: ConnectOptions): Promise<SfuClient> {
  const peerId = o.peerId ?? `p-${randomBytes(4).toString('hex')}`;
  const session = o.session ?? sessionFor(peerId);
  const params: Record<string, string | undefined> = { room: o.room, peer: peerId, name: o.name };
  const secrets: Record<string, string | undefined> = { session, token: o.token };
  for (const [k, v] of Object.entries(o.query ?? {})) {
    if (SECRET_KEYS.has(k) && !o.secretsInUrl) secrets[k] = v ?? undefined;
    else params[k] = v ?? undefined;
  }
  const hello = o.hello === undefined ? Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== undefined)) : o.hello;
  const url = wsUrl(baseUrl, params);
  const ws = new WebSocket(url, { headers: o.headers, perMessageDeflate: false, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
  const client = new SfuClient(ws, { room: o.room, peerId, session });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`websocket to ${url} did not open in time`));
    }, o.timeoutMs ?? 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      if (hello === null) return resolve(client);
      // Resolves once the hello is answered or the server refused (closed): `closed` tells which.
      client.hello = client.request('hello', hello).catch((e: Error) => e);
      void client.hello.then(() => resolve(client));
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
      res.resume();
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Connects and expects the server to refuse: resolves with the close code/reason and what was said. */
export async function connectRefused(baseUrl: string, o: ConnectOptions): Promise<CloseInfo & { messages: Message[] }> {
  const c = await connect(baseUrl, o);
  const t = setTimeout(() => c.ws.terminate(), 5000);
  const info = await c.closed;
  clearTimeout(t);
  return { ...info, messages: c.messages };
}

/** Connects, joins with media (produce and/or consume) in one go. */
export async function joinPeer(baseUrl: string, o: ConnectOptions & { produce?: Kind[]; consume?: boolean }): Promise<SfuClient> {
  const c = await connect(baseUrl, o);
  try {
    await c.joinWithMedia({ produce: o.produce, consume: o.consume, displayName: o.name });
  } catch (e) {
    await c.close();
    throw e;
  }
  return c;
}

/** Waits until `c` has `n` open consumers, each with at least `min` more intact packets than now. */
export async function receiving(c: SfuClient, n: number, min = 15, timeoutMs = WAIT_MS): Promise<void> {
  const live = () => [...c.consumers.values()].filter((s) => !s.closed);
  const base = new Map(live().map((s) => [s.id, s.unique.size]));
  await until(
    () => live().length === n && live().every((s) => s.unique.size >= (base.get(s.id) ?? 0) + min),
    `${c.peerId}: ${n} consumers receiving; have ${JSON.stringify(live().map((s) => [s.peerId, s.kind, s.packets]))}`,
    timeoutMs,
  );
  for (const s of c.consumers.values()) assert.equal(s.corrupt, 0, `${c.peerId}: corrupt payloads from ${s.peerId} ${s.kind}: ${s.firstCorrupt}`);
}
