/**
 * A pure-forwarding rig for one room: RTP in over PlainTransport producers, RTP (or SRTP) out over
 * PlainTransport consumers, fed and drained by plain Node dgram sockets in this process.
 *
 * The room's media is the daemon's own: a WorkerPool (src/sfu/worker-pool.ts: same binary from
 * node_modules/mediasoup, logLevel warn, liburing off, the port range split per worker) and a RouterSet
 * (src/sfu/router-set.ts: routers with the daemon's codecs, each new peer placed on the least-loaded
 * router, a router added on another worker once every router holds `peersPerRouter` peers, producers
 * piped with pipeToRouter on demand). With one worker (the default) that is one router, as before.
 * An ActiveSpeakerObserver is fed with the audio producers like a room's, and consumers are made like
 * the room makes them (enableRtx, ignoreDtx). What a WebRtcTransport adds on top (ICE consent checks,
 * DTLS, transport-cc feedback and bandwidth estimation) is not here, unless `webrtcSubscribers` is set:
 * then each subscriber's transport is a WebRtcTransport made as the daemon makes it (the pool's
 * listenOptions: its worker's WebRtcServer when `mediaPort` is set, else ports of its own from
 * portRange), whose ICE and DTLS a light client in the receiver thread completes
 * (bench/load/webrtc-client.ts; SRTP counted, not decrypted; consent checks every 5 s, no RTCP back).
 *
 * Two room shapes: fixed publishers (`publishers` peers sending audio + video, then subscribers added
 * with growTo() that each consume every producer) and a mesh (addMeshPeer(): each peer sends and
 * consumes everyone else, as in a meeting where every camera is on).
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
import type { types } from 'mediasoup';
import { createLogger } from '../../src/log.ts';
import { createRouterSet, type RoomRouter, type RouterSet } from '../../src/sfu/router-set.ts';
import { startWorkerPool, type WorkerPool } from '../../src/sfu/worker-pool.ts';
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
  home: RoomRouter;
}

interface Subscriber {
  transport: types.PlainTransport | types.WebRtcTransport;
  ssrcs: number[];
  home: RoomRouter;
  /** The receiver thread's client for a WebRtcTransport. */
  clientId?: number;
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
  /** mediasoup.workers for the room (default 1) and mediasoup.peersPerRouter (default: never spread). */
  workers?: number;
  peersPerRouter?: number;
  /** Subscribers get WebRtcTransports (ICE + DTLS by a light client, SRTP out) instead of PlainTransports. */
  webrtcSubscribers?: boolean;
  /** mediasoup.port: each worker's WebRtcServer on this port + i; null (default): a port per transport. */
  mediaPort?: number | null;
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
  /** Cores used during the window: the workers (summed), this process (sender + receivers), everything else. */
  workerCores: number;
  /** Per worker (pool order), and the consumers placed on each. */
  workerCoresEach: number[];
  consumersEach: number[];
  rigCores: number;
  otherCores: number;
  /** The part of otherCores at a positive nice (see CpuWindow). */
  otherNicedCores: number;
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
  readonly pool: WorkerPool;
  readonly set: RouterSet;
  readonly opts: RigOptions;
  private readonly publishers: Publisher[] = [];
  private readonly subscribers: Subscriber[] = [];
  /** Every stream sent, in creation order: its index is the receiver's `source`. */
  private readonly streams: SendStream[] = [];
  private readonly meshSubscribers: Subscriber[] = [];
  private speaker: types.ActiveSpeakerObserver | null = null;
  private receiver: Worker | null = null;
  private receiverPorts: number[] = [];
  private clientFingerprint: string | null = null;
  private nextClientId = 1;
  private readonly clientWaits = new Map<number, { resolve: (ms: number) => void; reject: (e: Error) => void }>();
  /** WebRTC subscribers: ms to create + connect each transport (the worker's side), and for its client's ICE + DTLS. */
  readonly transportMs: number[] = [];
  readonly handshakeMs: number[] = [];
  private consumerCount = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly seenRouters = new Set<types.Router>();
  /** Pipe transports (both ends) and the producers piped (producer id + destination router). */
  readonly pipeTransports: types.Transport[] = [];
  readonly piped = new Set<string>();
  /** Totals of the last window: packets that matched no consumer, probation padding, RTCP. */
  lastTotals: ReceiverTotals | null = null;

  private constructor(pool: WorkerPool, set: RouterSet, opts: RigOptions) {
    this.pool = pool;
    this.set = set;
    this.opts = opts;
  }

  static async start(opts: RigOptions): Promise<ForwardingRig> {
    const log = createLogger('silent');
    const pool = await startWorkerPool({
      workers: opts.workers ?? 1,
      media: { ip: '127.0.0.1', announcedAddress: null, port: opts.mediaPort ?? null, portRange: [opts.portRange.min, opts.portRange.max] },
      log, onWorkerDied: () => {} });
    let set: RouterSet;
    try {
      set = await createRouterSet({ pool, peersPerRouter: opts.peersPerRouter ?? 1_000_000, log, onLost: () => {} });
    } catch (e) {
      pool.close();
      throw e;
    }
    const rig = new ForwardingRig(pool, set, opts);
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

  /** The first worker (the only one by default). */
  get worker(): types.Worker {
    return this.pool.list()[0]!.worker;
  }

  get workerPid(): number {
    return this.worker.pid;
  }

  /** Peers placed so far (publishers, subscribers, mesh peers). */
  get peers(): number {
    return this.set.routers.reduce((a, r) => a + r.peers, 0);
  }

  private listenInfo(home: RoomRouter): types.TransportListenInfo {
    return { protocol: 'udp', ip: '127.0.0.1', portRange: home.worker.portRange };
  }

  /** A new peer's router (the daemon's placement), watching new routers for pipe transports. */
  private async place(): Promise<RoomRouter> {
    const home = await this.set.place();
    for (const r of this.set.routers) {
      if (this.seenRouters.has(r.router)) continue;
      this.seenRouters.add(r.router);
      r.router.observer.on('newtransport', (t) => {
        if (t.type === 'pipe') this.pipeTransports.push(t);
      });
    }
    return home;
  }

  private async setUp(): Promise<void> {
    this.receiver = new Worker(new URL('./rtp-receiver.ts', import.meta.url), { workerData: { sockets: this.opts.receiverSockets ?? 4, webrtc: Boolean(this.opts.webrtcSubscribers) } });
    const [ready] = (await once(this.receiver, 'message')) as [{ ports: number[]; fingerprint: string | null }];
    this.receiverPorts = ready.ports;
    this.clientFingerprint = ready.fingerprint;
    this.receiver.on('message', (m: { type: string; id?: number; ms?: number; sent?: number; error?: string }) => {
      const w = m.id === undefined ? undefined : this.clientWaits.get(m.id);
      if (!w) return;
      this.clientWaits.delete(m.id!);
      if (m.type === 'webrtc-ready') w.resolve(m.ms!);
      else if (m.type === 'flood-stopped') w.resolve(m.sent!);
      else w.reject(new Error(m.error ?? 'webrtc client failed'));
    });
    for (let p = 0; p < this.opts.publishers; p++) await this.addPublisher(`pub${p}`);
    this.timer = setInterval(() => this.tick(), 5);
  }

  private async addPublisher(cname: string, home?: RoomRouter): Promise<Publisher> {
    home ??= await this.place();
    const first = this.set.routers[0]!;
    if (!this.speaker) this.speaker = await first.router.createActiveSpeakerObserver({ interval: 300 });
    const transport = await home.router.createPlainTransport({ listenInfo: this.listenInfo(home), rtcpMux: true, comedia: true });
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const pub: Publisher = { socket, transport, streams: [], home };
    for (const kind of ['audio', 'video'] as const) {
      const ssrc = randomBytes(4).readUInt32BE(0) >>> 0;
      const producer = await transport.produce({
        kind,
        rtpParameters:
          kind === 'audio'
            ? { codecs: [{ mimeType: 'audio/opus', payloadType: OPUS_PT, clockRate: 48000, channels: 2 }], encodings: [{ ssrc }], rtcp: { cname } }
            : {
                codecs: [{ mimeType: 'video/VP8', payloadType: VP8_PT, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }],
                encodings: [{ ssrc }],
                rtcp: { cname },
              },
        appData: { peerId: cname },
        ...(this.opts.keyFrameRequestDelay ? { keyFrameRequestDelay: this.opts.keyFrameRequestDelay } : {}),
      });
      // The room's observer lives on its first router; audio from other routers is piped to it (src/rooms/room.ts addToSpeaker).
      if (kind === 'audio') {
        if (home !== first) {
          await this.set.pipe(producer.id, home, first);
          this.piped.add(`${producer.id} ${first.router.id}`);
        }
        await this.speaker.addProducer({ producerId: producer.id });
      }
      const stream: SendStream = {
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
      };
      pub.streams.push(stream);
      this.streams.push(stream);
    }
    socket.on('message', (m) => this.onPublisherRtcp(pub, m));
    this.publishers.push(pub);
    return pub;
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

  /** Stops sending (the worker's consumers stay): another rig on the same machine can be measured meanwhile. */
  pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  resume(): void {
    if (this.timer) return;
    const now = performance.now();
    for (const s of this.streams) s.due = now + randomInt(0, 20);
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** A subscriber's WebRtcTransport, made and connected as the daemon makes it (src/rooms/media.ts). */
  private async newWebRtcSubscriber(home: RoomRouter): Promise<Subscriber> {
    const t0 = performance.now();
    const transport = await home.router.createWebRtcTransport({ ...home.worker.listenOptions(false), initialAvailableOutgoingBitrate: 1_000_000, enableSctp: false });
    await transport.setMaxIncomingBitrate(3_000_000).catch(() => {});
    await transport.connect({ dtlsParameters: { role: 'server', fingerprints: [{ algorithm: 'sha-256', value: this.clientFingerprint! }] } });
    this.transportMs.push(performance.now() - t0);
    return { transport, ssrcs: [], home, clientId: this.nextClientId++ };
  }

  /** Runs the subscriber's client (ICE + DTLS) in the receiver thread and waits until it is connected. */
  private async connectClient(sub: Subscriber, ssrcs: [number, number][]): Promise<void> {
    const t = sub.transport as types.WebRtcTransport;
    const cand = t.iceCandidates.find((c) => c.protocol === 'udp');
    if (!cand) throw new Error('WebRtcTransport without a UDP candidate');
    const id = sub.clientId!;
    const done = new Promise<number>((resolve, reject) => this.clientWaits.set(id, { resolve, reject }));
    this.receiver!.postMessage({ type: 'webrtc', id, ssrcs, target: { ip: cand.address ?? cand.ip, port: cand.port, usernameFragment: t.iceParameters.usernameFragment, password: t.iceParameters.password } });
    this.handshakeMs.push(await done);
  }

  /**
   * WebRTC subscribers: every connected client sends junk to its transport (`pps` packets/s in all) that
   * the worker receives and drops, to measure its receive path (and the WebRtcServer's demultiplexing).
   */
  startFlood(pps: number): void {
    this.receiver!.postMessage({ type: 'flood', pps });
  }

  /** Stops the flood; resolves with the packets sent. */
  async stopFlood(): Promise<number> {
    const id = this.nextClientId++;
    const done = new Promise<number>((resolve, reject) => this.clientWaits.set(id, { resolve, reject }));
    this.receiver!.postMessage({ type: 'flood', id, pps: 0 });
    return done;
  }

  /** The worker's UDP ports the WebRTC subscribers send to (one per transport, or each worker's WebRtcServer). */
  get clientTargetPorts(): number[] {
    const ports = new Set<number>();
    for (const sub of this.subscribers) {
      const c = sub.clientId !== undefined ? (sub.transport as types.WebRtcTransport).iceCandidates.find((x) => x.protocol === 'udp') : undefined;
      if (c) ports.add(c.port);
    }
    return [...ports];
  }

  /** Worker ports that receive from the WebRTC clients in single-port mode (each worker's WebRtcServer). */
  get serverPorts(): number[] {
    return this.pool.list().flatMap((w) => (w.port === null ? [] : [w.port]));
  }

  private async newSubscriber(home: RoomRouter): Promise<Subscriber> {
    if (this.opts.webrtcSubscribers) return this.newWebRtcSubscriber(home);
    const transport = await home.router.createPlainTransport({
      listenInfo: this.listenInfo(home),
      rtcpMux: true,
      comedia: false,
      enableSrtp: this.opts.srtp,
      srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
    });
    const dest = this.receiverPorts[(this.subscribers.length + this.meshSubscribers.length) % this.receiverPorts.length]!;
    await transport.connect({
      ip: '127.0.0.1',
      port: dest,
      ...(this.opts.srtp ? { srtpParameters: { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80' as const, keyBase64: randomBytes(30).toString('base64') } } : {}),
    });
    return { transport, ssrcs: [], home };
  }

  /** One consumer of `s` (sent by `pub`) for `sub`, piped to the subscriber's router first if need be. */
  private async consumeOne(sub: Subscriber, pub: Publisher, s: SendStream): Promise<[number, number]> {
    if (pub.home !== sub.home) {
      await this.set.pipe(s.producer.id, pub.home, sub.home);
      this.piped.add(`${s.producer.id} ${sub.home.router.id}`);
    }
    // As the room does (src/rooms/media.ts consume), minus the pause until the client answers.
    const consumer = await sub.transport.consume({ producerId: s.producer.id, rtpCapabilities: sub.home.router.rtpCapabilities, enableRtx: true, ignoreDtx: true });
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    if (ssrc === undefined) throw new Error('consumer without an SSRC');
    sub.ssrcs.push(ssrc);
    sub.home.worker.consumers++;
    this.consumerCount++;
    return [ssrc, this.streams.indexOf(s)];
  }

  /**
   * Adds subscribers until `target` consumers exist: one transport per subscriber consuming every
   * producer, like a peer's recv transport, on the router the room places it on. Returns false if that
   * took longer than `maxMs` (a worker near saturation answers its channel slowly) and stops there.
   */
  async growTo(target: number, maxMs = Infinity): Promise<boolean> {
    const t0 = performance.now();
    while (this.consumerCount + this.streams.length <= target) {
      if (performance.now() - t0 > maxMs) return false;
      const home = await this.place();
      const sub = await this.newSubscriber(home);
      this.subscribers.push(sub);
      const added: [number, number][] = [];
      for (const pub of this.publishers) for (const s of pub.streams) added.push(await this.consumeOne(sub, pub, s));
      if (sub.clientId !== undefined) await this.connectClient(sub, added);
      else this.receiver!.postMessage({ type: 'add', ssrcs: added });
    }
    return true;
  }

  /**
   * Mesh shape: one more peer that sends audio + video and consumes every other peer's streams; every
   * mesh peer already in consumes the newcomer's. Returns false if that took longer than `maxMs`.
   */
  async addMeshPeer(maxMs = Infinity): Promise<boolean> {
    if (this.opts.webrtcSubscribers) throw new Error('mesh peers are PlainTransport only');
    const t0 = performance.now();
    const home = await this.place();
    const others = [...this.publishers];
    const pub = await this.addPublisher(`mesh${this.meshSubscribers.length}`, home);
    const sub = await this.newSubscriber(home);
    const mine: [number, number][] = [];
    for (const p of others) for (const s of p.streams) mine.push(await this.consumeOne(sub, p, s));
    this.meshSubscribers.push(sub);
    this.receiver!.postMessage({ type: 'add', ssrcs: mine });
    for (const other of this.meshSubscribers) {
      if (other === sub) continue;
      const theirs: [number, number][] = [];
      for (const s of pub.streams) theirs.push(await this.consumeOne(other, pub, s));
      this.receiver!.postMessage({ type: 'add', ssrcs: theirs });
      if (performance.now() - t0 > maxMs) return false;
    }
    return true;
  }

  /** Closes subscribers (newest first) until at most `target` consumers are left (fixed-publisher shape only). */
  shrinkTo(target: number): void {
    while (this.consumerCount > target && this.subscribers.length > 0) {
      const sub = this.subscribers.pop()!;
      sub.transport.close();
      this.set.release(sub.home);
      sub.home.worker.consumers -= sub.ssrcs.length;
      if (sub.clientId !== undefined) this.receiver!.postMessage({ type: 'webrtc-close', id: sub.clientId, ssrcs: sub.ssrcs });
      else this.receiver!.postMessage({ type: 'remove', ssrcs: sub.ssrcs });
      this.consumerCount -= sub.ssrcs.length;
    }
  }

  /** Consumers per subscriber (every publisher's audio and video). */
  get consumersPerSubscriber(): number {
    return this.streams.length;
  }

  /** Routers of the room with their worker pid, peers and consumers. */
  routers(): { workerPid: number; peers: number; consumers: number }[] {
    return this.set.routers.map((r) => ({ workerPid: r.worker.worker.pid, peers: r.peers, consumers: r.worker.consumers }));
  }

  /** Counts one window of `seconds`; loss from sequence-number gaps per consumer SSRC. */
  async measure(seconds: number): Promise<WindowResult> {
    const rx = this.receiver!;
    const streams = this.streams;
    // Where the workers receive: the publishers' transports and both ends of every pipe.
    const ingressPorts = [...this.publishers.map((p) => p.transport.tuple.localPort), ...this.pipeTransports.filter((t) => !t.closed).map((t) => (t as types.PipeTransport).tuple.localPort), ...this.serverPorts];
    const workers = this.pool.list();
    rx.postMessage({ type: 'start' });
    await once(rx, 'message');
    for (const s of streams) s.sentInWindow = 0;
    const drops0 = udpDropsByPort();
    const cpu = new CpuWindow([...workers.map((w) => w.worker.pid), process.pid]);
    await sleep(seconds * 1000);
    const c = cpu.end();
    const workerCoresEach = c.cores.slice(0, workers.length);
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
      workerCores: workerCoresEach.reduce((a, b) => a + b, 0),
      workerCoresEach,
      consumersEach: workers.map((w) => w.consumers),
      rigCores: c.cores[workers.length]!,
      otherCores: c.others,
      otherNicedCores: c.othersNiced,
      loadavg1: c.loadavg1,
      workerRss: workers.reduce((a, w) => a + processRss(w.worker.pid), 0),
      silentConsumers: t.silent,
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const p of this.publishers) p.socket.close();
    this.receiver?.postMessage({ type: 'close' });
    void this.receiver?.terminate();
    this.set.close();
    this.pool.close();
  }
}
