/**
 * A pure-forwarding rig for one mediasoup worker: RTP in over PlainTransport producers, RTP (or SRTP)
 * out over PlainTransport consumers, fed and drained by plain Node dgram sockets in this process.
 *
 * The worker is created here with the daemon's settings (src/sfu/worker-pool.ts: same binary from
 * node_modules/mediasoup, logLevel warn, liburing off), its router with the daemon's codecs
 * (src/sfu/codecs.ts), an ActiveSpeakerObserver fed with the audio producers like a room's, and
 * consumers made like the room makes them (enableRtx, ignoreDtx). What a WebRtcTransport adds on top
 * (ICE consent checks, DTLS, transport-cc feedback and bandwidth estimation) is not here.
 *
 * Loss is counted at the receivers from RTP sequence numbers, per consumer SSRC (the worker gives
 * each consumer its own SSRC and sequence space, and a packet it did not get leaves a gap). SRTP
 * leaves the RTP header in the clear, so the same counting works when consumers encrypt.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { MEDIA_CODECS } from '../../src/sfu/codecs.ts';
import { CpuWindow, processRss, sumDrops, udpDropsByPort } from './proc.ts';
import type { ReceiverTotals } from './rtp-receiver.ts';

export type StreamKind = 'audio' | 'video';

/** What each publisher sends: Opus at 50 packets/s; VP8 at 30 fps, key frames every 2 s and on PLI/FIR. */
export const MEDIA_PROFILE = {
  audio: { packetsPerSecond: 50, bytes: 100 },
  video: { fps: 30, deltaPackets: 2, deltaBytes: 1000, keyPackets: 6, keyBytes: 1100, keyEverySeconds: 2 },
} as const;

/** Average packets per second of one video stream under MEDIA_PROFILE. */
export const VIDEO_PPS =
  MEDIA_PROFILE.video.fps * MEDIA_PROFILE.video.deltaPackets +
  (MEDIA_PROFILE.video.keyPackets - MEDIA_PROFILE.video.deltaPackets) / MEDIA_PROFILE.video.keyEverySeconds;

interface SendStream {
  kind: StreamKind;
  ssrc: number;
  payloadType: number;
  seq: number;
  ts: number;
  pictureId: number;
  /** performance.now() when the next packet (audio) or frame (video) is due. */
  due: number;
  frames: number;
  keyWanted: boolean;
  sent: number;
  sentInWindow: number;
  producer: types.Producer;
}

interface Publisher {
  socket: Socket;
  transport: types.PlainTransport;
  streams: SendStream[];
}

export interface RigOptions {
  publishers: number;
  /** Consumers encrypt with SRTP (AES_CM_128_HMAC_SHA1_80, what WebRTC peers get) instead of plain RTP. */
  srtp: boolean;
  /** Local UDP port range for the worker's transports. */
  portRange: { min: number; max: number };
  /** Producer option (mediasoup): coalesce key frame requests to the publisher; the daemon leaves it at 0. */
  keyFrameRequestDelay?: number;
  /** Receiving sockets, in a worker thread of this process (each with a 4 MiB buffer where the kernel allows). */
  receiverSockets?: number;
}

export interface WindowResult {
  consumers: number;
  seconds: number;
  /** Packets the receivers counted, per second. */
  receivedPps: number;
  /** Packets the sequence numbers say should have arrived, per second. */
  expectedPps: number;
  lossFraction: number;
  /** Packets sent into the worker, per second. */
  ingressPps: number;
  /** Drops at this process's receiving sockets (the rig was too slow), and at the worker's producer sockets. */
  receiverDrops: number;
  workerIngressDrops: number;
  /** Cores used during the window: the worker, this process (sender + receivers), everything else. */
  workerCores: number;
  rigCores: number;
  otherCores: number;
  loadavg1: number;
  workerRss: number;
  /** Consumers that got nothing at all in the window. */
  silentConsumers: number;
}

const OPUS_PT = 111;
const VP8_PT = 96;

function rtpHeader(buf: Buffer, s: SendStream, marker: boolean): void {
  buf[0] = 0x80;
  buf[1] = (marker ? 0x80 : 0) | s.payloadType;
  buf.writeUInt16BE(s.seq, 2);
  buf.writeUInt32BE(s.ts >>> 0, 4);
  buf.writeUInt32BE(s.ssrc, 8);
  s.seq = (s.seq + 1) & 0xffff;
}

/** A VP8 packet: descriptor with a 15-bit picture id; the first packet of a frame carries the VP8 header (key frame: P=0 + start code). */
function vp8Packet(s: SendStream, size: number, start: boolean, key: boolean, marker: boolean): Buffer {
  const b = Buffer.alloc(size);
  rtpHeader(b, s, marker);
  b[12] = 0x80 | (start ? 0x10 : 0);
  b[13] = 0x80;
  b[14] = 0x80 | ((s.pictureId >> 8) & 0x7f);
  b[15] = s.pictureId & 0xff;
  if (start) {
    if (key) Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]).copy(b, 16); // P=0, 640x360
    else Buffer.from([0x11, 0x02, 0x00]).copy(b, 16); // P=1
  }
  return b;
}

function opusPacket(s: SendStream, size: number): Buffer {
  const b = Buffer.alloc(size);
  rtpHeader(b, s, false);
  b[12] = 0x78; // TOC: config 15, mono, one frame
  return b;
}

export class ForwardingRig {
  readonly worker: types.Worker;
  readonly router: types.Router;
  readonly opts: RigOptions;
  private readonly publishers: Publisher[] = [];
  private readonly subscribers: { transport: types.PlainTransport; ssrcs: number[] }[] = [];
  private receiver: Worker | null = null;
  private receiverPorts: number[] = [];
  private consumerCount = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Totals of the last window: packets that matched no consumer, probation padding, RTCP. */
  lastTotals: ReceiverTotals | null = null;

  private constructor(worker: types.Worker, router: types.Router, opts: RigOptions) {
    this.worker = worker;
    this.router = router;
    this.opts = opts;
  }

  static async start(opts: RigOptions): Promise<ForwardingRig> {
    const worker = await mediasoup.createWorker({ logLevel: 'warn' });
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const rig = new ForwardingRig(worker, router, opts);
    try {
      await rig.setUp();
    } catch (e) {
      rig.close();
      throw e;
    }
    return rig;
  }

  get consumers(): number {
    return this.consumerCount;
  }

  get workerPid(): number {
    return this.worker.pid;
  }

  private listenInfo(): types.TransportListenInfo {
    return { protocol: 'udp', ip: '127.0.0.1', portRange: this.opts.portRange };
  }

  private async setUp(): Promise<void> {
    const speaker = await this.router.createActiveSpeakerObserver({ interval: 300 });
    this.receiver = new Worker(new URL('./rtp-receiver.ts', import.meta.url), { workerData: { sockets: this.opts.receiverSockets ?? 4 } });
    const [ready] = (await once(this.receiver, 'message')) as [{ ports: number[] }];
    this.receiverPorts = ready.ports;
    for (let p = 0; p < this.opts.publishers; p++) {
      const transport = await this.router.createPlainTransport({ listenInfo: this.listenInfo(), rtcpMux: true, comedia: true });
      const socket = createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
      const pub: Publisher = { socket, transport, streams: [] };
      for (const kind of ['audio', 'video'] as const) {
        const ssrc = randomBytes(4).readUInt32BE(0) >>> 0;
        const producer = await transport.produce({
          kind,
          rtpParameters:
            kind === 'audio'
              ? { codecs: [{ mimeType: 'audio/opus', payloadType: OPUS_PT, clockRate: 48000, channels: 2 }], encodings: [{ ssrc }], rtcp: { cname: `pub${p}` } }
              : {
                  codecs: [{ mimeType: 'video/VP8', payloadType: VP8_PT, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
                  encodings: [{ ssrc }],
                  rtcp: { cname: `pub${p}` },
                },
          appData: { peerId: `pub${p}` },
          ...(this.opts.keyFrameRequestDelay ? { keyFrameRequestDelay: this.opts.keyFrameRequestDelay } : {}),
        });
        if (kind === 'audio') await speaker.addProducer({ producerId: producer.id });
        pub.streams.push({
          kind,
          ssrc,
          payloadType: kind === 'audio' ? OPUS_PT : VP8_PT,
          seq: randomInt(0, 65536),
          ts: randomInt(0, 2 ** 32),
          pictureId: randomInt(0, 0x8000),
          due: performance.now() + randomInt(0, 20),
          frames: 0,
          keyWanted: true,
          sent: 0,
          sentInWindow: 0,
          producer,
        });
      }
      socket.on('message', (m) => this.onPublisherRtcp(pub, m));
      this.publishers.push(pub);
    }
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** PLI (PSFB FMT 1) and FIR (FMT 4) from the worker ask the publisher for a key frame. */
  /** Key frame requests (PLI/FIR) received from the worker. */
  keyFrameRequests = 0;

  private onPublisherRtcp(pub: Publisher, m: Buffer): void {
    let off = 0;
    while (off + 12 <= m.length) {
      const fmt = m[off]! & 0x1f;
      const pt = m[off + 1]!;
      const len = (m.readUInt16BE(off + 2) + 1) * 4;
      if (pt === 206 && (fmt === 1 || fmt === 4)) {
        const media = fmt === 1 ? m.readUInt32BE(off + 8) : off + 16 <= m.length ? m.readUInt32BE(off + 12) : 0;
        this.keyFrameRequests++;
        for (const s of pub.streams) if (s.kind === 'video' && (s.ssrc === media || fmt === 4)) s.keyWanted = true;
      }
      off += len;
    }
  }

  private tick(): void {
    const now = performance.now();
    const a = MEDIA_PROFILE.audio;
    const v = MEDIA_PROFILE.video;
    for (const pub of this.publishers) {
      const port = pub.transport.tuple.localPort;
      for (const s of pub.streams) {
        // Catch up on what is due, but never burst more than 200 ms after a stall.
        if (now - s.due > 200) s.due = now - 200;
        while (s.due <= now) {
          if (s.kind === 'audio') {
            this.send(pub, port, opusPacket(s, a.bytes), s);
            s.ts = (s.ts + 960) >>> 0;
            s.due += 1000 / a.packetsPerSecond;
            continue;
          }
          const key = s.keyWanted || s.frames % (v.fps * v.keyEverySeconds) === 0;
          s.keyWanted = false;
          s.frames++;
          s.pictureId = (s.pictureId + 1) & 0x7fff;
          const parts = key ? v.keyPackets : v.deltaPackets;
          for (let i = 0; i < parts; i++) this.send(pub, port, vp8Packet(s, key ? v.keyBytes : v.deltaBytes, i === 0, key, i === parts - 1), s);
          s.ts = (s.ts + 90000 / v.fps) >>> 0;
          s.due += 1000 / v.fps;
        }
      }
    }
  }

  private send(pub: Publisher, port: number, b: Buffer, s: SendStream): void {
    pub.socket.send(b, port, '127.0.0.1');
    s.sent++;
    s.sentInWindow++;
  }

  /**
   * Adds subscribers until `target` consumers exist: one transport per subscriber consuming every
   * producer, like a peer's recv transport. Returns false if that took longer than `maxMs` (a worker
   * near saturation answers its channel slowly) and stops there.
   */
  async growTo(target: number, maxMs = Infinity): Promise<boolean> {
    const streams = this.publishers.flatMap((p) => p.streams);
    const t0 = performance.now();
    while (this.consumerCount + streams.length <= target) {
      if (performance.now() - t0 > maxMs) return false;
      const i = this.subscribers.length;
      const transport = await this.router.createPlainTransport({
        listenInfo: this.listenInfo(),
        rtcpMux: true,
        comedia: false,
        enableSrtp: this.opts.srtp,
        srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
      });
      const dest = this.receiverPorts[i % this.receiverPorts.length]!;
      await transport.connect({
        ip: '127.0.0.1',
        port: dest,
        ...(this.opts.srtp ? { srtpParameters: { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80' as const, keyBase64: randomBytes(30).toString('base64') } } : {}),
      });
      const sub = { transport, ssrcs: [] as number[] };
      this.subscribers.push(sub);
      for (const s of streams) {
        // As the room does (src/sfu/room.ts createConsumer), minus the pause until the client answers.
        const consumer = await transport.consume({ producerId: s.producer.id, rtpCapabilities: this.router.rtpCapabilities, enableRtx: true, ignoreDtx: true });
        const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
        if (ssrc === undefined) throw new Error('consumer without an SSRC');
        sub.ssrcs.push(ssrc);
        this.consumerCount++;
      }
      this.receiver!.postMessage({ type: 'add', ssrcs: sub.ssrcs.map((ssrc, k) => [ssrc, k]) });
    }
    return true;
  }

  /** Closes subscribers (newest first) until at most `target` consumers are left. */
  shrinkTo(target: number): void {
    while (this.consumerCount > target && this.subscribers.length > 0) {
      const sub = this.subscribers.pop()!;
      sub.transport.close();
      this.receiver!.postMessage({ type: 'remove', ssrcs: sub.ssrcs });
      this.consumerCount -= sub.ssrcs.length;
    }
  }

  /** Consumers per subscriber (every publisher's audio and video). */
  get consumersPerSubscriber(): number {
    return this.publishers.length * 2;
  }

  /** Counts one window of `seconds`; loss from sequence-number gaps per consumer SSRC. */
  async measure(seconds: number): Promise<WindowResult> {
    const rx = this.receiver!;
    const streams = this.publishers.flatMap((p) => p.streams);
    const ingressPorts = this.publishers.map((p) => p.transport.tuple.localPort);
    rx.postMessage({ type: 'start' });
    await once(rx, 'message');
    for (const s of streams) s.sentInWindow = 0;
    const drops0 = udpDropsByPort();
    const cpu = new CpuWindow([this.worker.pid, process.pid]);
    await sleep(seconds * 1000);
    const c = cpu.end();
    const drops1 = udpDropsByPort();
    rx.postMessage({ type: 'end', sent: streams.map((s) => s.sentInWindow) });
    const [t] = (await once(rx, 'message')) as [ReceiverTotals];
    this.lastTotals = t;
    const sent = streams.reduce((a, s) => a + s.sentInWindow, 0);
    return {
      consumers: this.consumerCount,
      seconds: c.seconds,
      receivedPps: t.received / c.seconds,
      expectedPps: t.expected / c.seconds,
      lossFraction: t.expected > 0 ? 1 - t.received / t.expected : 1,
      ingressPps: sent / c.seconds,
      receiverDrops: sumDrops(drops1, this.receiverPorts) - sumDrops(drops0, this.receiverPorts),
      workerIngressDrops: sumDrops(drops1, ingressPorts) - sumDrops(drops0, ingressPorts),
      workerCores: c.cores[0]!,
      rigCores: c.cores[1]!,
      otherCores: c.others,
      loadavg1: c.loadavg1,
      workerRss: processRss(this.worker.pid),
      silentConsumers: t.silent,
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const p of this.publishers) p.socket.close();
    this.receiver?.postMessage({ type: 'close' });
    void this.receiver?.terminate();
    this.worker.close();
  }
}
