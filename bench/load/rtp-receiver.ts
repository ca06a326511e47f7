/**
 * The forwarding rig's receivers, in a worker thread of their own: at 100k+ packets/s the 'message'
 * callbacks would otherwise keep the main thread's event loop busy, and every await on the mediasoup
 * channel (creating transports and consumers) would queue behind them, which looks like a slow worker
 * but is not.
 *
 * Counts RTP per consumer SSRC: packets in the window, and the extended sequence numbers they span.
 * Messages from the parent: {type:'add', ssrcs:[[ssrc, source]]}, {type:'remove', ssrcs}, {type:'start'},
 * {type:'end', sent: number[] (packets each source sent in the window)}; replies to 'init' with the
 * ports, to 'start' with {type:'started'} and to 'end' with the window's totals.
 *
 * With workerData.webrtc, it also plays the client of WebRtcTransports (bench/load/webrtc-client.ts):
 * {type:'webrtc', id, target, ssrcs} opens a socket of its own for that transport, runs ICE and DTLS
 * and answers {type:'webrtc-ready', id, ms} (or 'webrtc-failed'); the SRTP that follows is counted like
 * the rest; {type:'webrtc-close', id, ssrcs} closes it. The 'ports' message then carries the client
 * certificate's fingerprint, for transport.connect().
 * {type:'flood', id, pps} makes the connected clients send `pps` packets/s in all (round-robin, 100
 * bytes, first byte 0xff: neither STUN, DTLS, RTP nor RTCP, so the worker receives, demultiplexes and
 * drops each one); pps 0 stops and answers {type:'flood-stopped', id, sent}.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { IceDtlsClient, makeClientCert, type WebRtcTarget } from './webrtc-client.ts';

interface Stream {
  source: number;
  count: number;
  cycles: number;
  lastSeq: number;
  maxExt: number;
  winCount: number;
  winFirst: number;
}

export interface ReceiverTotals {
  type: 'totals';
  received: number;
  expected: number;
  silent: number;
  unknown: number;
  probation: number;
  rtcp: number;
}

const port = parentPort!;
const streams = new Map<number, Stream>();
let unknown = 0;
let probation = 0;
let rtcp = 0;

function onPacket(m: Buffer): void {
  if (m.length < 12) return;
  const b1 = m[1]!;
  if (b1 >= 192 && b1 <= 223) {
    rtcp++;
    return;
  }
  const ssrc = m.readUInt32BE(8);
  const st = streams.get(ssrc);
  if (!st) {
    // SSRC 1234 / PT 127: the worker's bandwidth probation padding, sent as video consumers start.
    if (ssrc === 1234) probation++;
    else unknown++;
    return;
  }
  const seq = m.readUInt16BE(2);
  if (st.count === 0) st.cycles = 0;
  else if (seq < st.lastSeq && st.lastSeq - seq > 0x8000) st.cycles += 0x10000;
  const ext = st.cycles + seq;
  st.lastSeq = seq;
  st.count++;
  if (ext > st.maxExt) st.maxExt = ext;
  if (st.winCount === 0) st.winFirst = ext;
  st.winCount++;
}

const sockets: Socket[] = [];
const { sockets: count, webrtc = false } = workerData as { sockets: number; webrtc?: boolean };
const cert = webrtc ? await makeClientCert() : null;
const clients = new Map<number, IceDtlsClient>();
// Consent checks, as browsers send them (RFC 7675: every 4-6 s).
const consent = webrtc ? setInterval(() => {
  for (const c of clients.values()) if (c.dtlsDone) c.consent();
}, 5000) : null;

function addStreams(ssrcs: [number, number][]): void {
  for (const [ssrc, source] of ssrcs) streams.set(ssrc, { source, count: 0, cycles: 0, lastSeq: 0, maxExt: -1, winCount: 0, winFirst: 0 });
}

let flood: NodeJS.Timeout | null = null;
let floodSent = 0;
const junk = Buffer.alloc(100, 0xff);

function startFlood(pps: number): void {
  const ready = [...clients.values()].filter((c) => c.dtlsDone);
  if (ready.length === 0) return;
  let k = 0;
  let due = 0;
  const t0 = performance.now();
  flood = setInterval(() => {
    // Catch up on what is due (timers run late under load), never more than 50 ms' worth at once.
    const target = ((performance.now() - t0) / 1000) * pps;
    due = Math.max(due, target - pps * 0.05);
    while (due < target) {
      const c = ready[k++ % ready.length]!;
      c.socket.send(junk, c.target.port, c.target.ip);
      floodSent++;
      due++;
    }
  }, 2);
}

async function openClient(id: number, target: WebRtcTarget, ssrcs: [number, number][]): Promise<void> {
  const t0 = performance.now();
  const s = createSocket({ type: 'udp4', recvBufferSize: 2 ** 20 });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const client = new IceDtlsClient(s, target);
  clients.set(id, client);
  s.on('message', (m) => {
    const b0 = m[0]!;
    if (b0 >= 128 && b0 <= 191) onPacket(m);
    else client.handle(m);
  });
  addStreams(ssrcs);
  try {
    await client.connect(cert!);
    port.postMessage({ type: 'webrtc-ready', id, ms: performance.now() - t0 });
  } catch (e) {
    port.postMessage({ type: 'webrtc-failed', id, error: (e as Error).message });
  }
}
for (let k = 0; k < count; k++) {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 * 2 ** 20 });
  s.on('message', onPacket);
  sockets.push(s);
}
await Promise.all(sockets.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
port.postMessage({ type: 'ports', ports: sockets.map((s) => s.address().port), fingerprint: cert?.fingerprint ?? null });

port.on('message', (msg: { type: string; ssrcs?: [number, number][] | number[]; sent?: number[]; id?: number; target?: WebRtcTarget }) => {
  switch (msg.type) {
    case 'add':
      addStreams(msg.ssrcs as [number, number][]);
      break;
    case 'webrtc':
      void openClient(msg.id!, msg.target!, msg.ssrcs as [number, number][]);
      break;
    case 'flood': {
      const pps = (msg as { pps?: number }).pps ?? 0;
      if (flood) clearInterval(flood);
      flood = null;
      if (pps > 0) {
        floodSent = 0;
        startFlood(pps);
      } else port.postMessage({ type: 'flood-stopped', id: msg.id, sent: floodSent });
      break;
    }
    case 'webrtc-close':
      clients.get(msg.id!)?.close();
      clients.delete(msg.id!);
      for (const ssrc of msg.ssrcs as number[]) streams.delete(ssrc);
      break;
    case 'remove':
      for (const ssrc of msg.ssrcs as number[]) streams.delete(ssrc);
      break;
    case 'start':
      for (const st of streams.values()) st.winCount = 0;
      port.postMessage({ type: 'started' });
      break;
    case 'end': {
      let received = 0;
      let expected = 0;
      let silent = 0;
      for (const st of streams.values()) {
        received += st.winCount;
        if (st.winCount > 0) expected += Math.max(st.winCount, st.maxExt - st.winFirst + 1);
        else {
          // Nothing arrived: everything its producer sent in the window was lost.
          silent++;
          expected += msg.sent![st.source] ?? 0;
        }
      }
      const totals: ReceiverTotals = { type: 'totals', received, expected, silent, unknown, probation, rtcp };
      port.postMessage(totals);
      break;
    }
    case 'close':
      if (consent) clearInterval(consent);
      if (flood) clearInterval(flood);
      for (const c of clients.values()) c.close();
      for (const s of sockets) s.close();
      port.close();
      break;
  }
});
