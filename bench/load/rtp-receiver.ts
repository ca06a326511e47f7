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
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';

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
const count = (workerData as { sockets: number }).sockets;
for (let k = 0; k < count; k++) {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 * 2 ** 20 });
  s.on('message', onPacket);
  sockets.push(s);
}
await Promise.all(sockets.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
port.postMessage({ type: 'ports', ports: sockets.map((s) => s.address().port) });

port.on('message', (msg: { type: string; ssrcs?: [number, number][] | number[]; sent?: number[] }) => {
  switch (msg.type) {
    case 'add':
      for (const [ssrc, source] of msg.ssrcs as [number, number][]) streams.set(ssrc, { source, count: 0, cycles: 0, lastSeq: 0, maxExt: -1, winCount: 0, winFirst: 0 });
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
      for (const s of sockets) s.close();
      port.close();
      break;
  }
});
