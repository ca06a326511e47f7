/**
 * One file of a recording: one participant's stream group ("main": microphone + camera, or "screen"),
 * one part. A PlainTransport per stream on the router that holds the producers (loopback, no comedia,
 * RTCP on its own port), a paused consumer per producer, an SDP file for ffmpeg, then ffmpeg (`-c copy`,
 * WebM), then the consumers resume and a key frame is asked for. Finishing stops ffmpeg (it writes the
 * trailer), closes the transports and completes the side-car.
 */
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { types } from 'mediasoup';
import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { diskFullIn, ffmpegFailure, findTool, freeRtpPort, probe, runFfmpeg, waitListening, type FfmpegRun } from './ffmpeg.ts';
import { baseName, createRecordingFile, writePrivate, writeSideCar, type SideCar } from './files.ts';
import { isRecordable, recordingSdp, type SdpStream } from './sdp.ts';
import { createWaker, type Waker } from './wake.ts';

/** Key frames are asked for again shortly after the start: ffmpeg needs one to learn the video size. */
const KEY_FRAME_RETRIES_MS = [1_000, 2_500];
/**
 * Wake packets sent once ffmpeg listens: it learns the wake stream's format from them and does not
 * wait for more before it starts writing (a few, in case one is late).
 */
const WAKE_AT_START = 3;
/** How long a stop waits for an ffmpeg that has media but has not begun its file (it begins once it knows each stream's format). */
const FIRST_WRITE_WAIT_MS = 3_000;
/** A file its participant sent nothing into: nothing worth keeping, and not a WebM a player reads. */
const NO_MEDIA = 'no media reached this file (its participant sent none while recorded): no file kept';

/** What every file of every recording shares. */
export interface SegmentEnv {
  /** The recordings directory. */
  dir: string;
  log: Logger;
  /** RTP/RTCP ports handed to running ffmpegs (of every room), so that two never get the same. */
  usedPorts: Set<number>;
}

/** What the file's recording is told. */
export interface SegmentHooks {
  /** The file is closed (whatever the reason): its recording forgets it. */
  closed(seg: Segment): void;
  /** ffmpeg died on its own (after the set-up): this file ends (and, on a full disk, the recording). */
  died(seg: Segment, reason: 'disk_full' | 'ffmpeg_died', error: string): void;
}

export interface Segment {
  key: string;
  base: string;
  file: string;
  sdpFile: string;
  side: SideCar;
  hooks: SegmentHooks;
  transports: types.PlainTransport[];
  consumers: types.Consumer[];
  producerIds: Set<string>;
  ports: number[];
  ffmpeg: FfmpegRun | null;
  /** Sends packets on ffmpeg's wake stream (sdp.ts), so that it hears a stop however silent its input. */
  waker: Waker | null;
  timers: NodeJS.Timeout[];
  /** Being set up (transports, consumers, ffmpeg); finishSegment() waits for it. */
  starting: Promise<void> | null;
  /** finishSegment() was called: the set-up stops at its next step. */
  abort: boolean;
  finished: Promise<void> | null;
}

export const groupOf = (p: types.Producer): string => ((p.appData as { source?: unknown }).source === 'screen' ? 'screen' : 'main');
export const keyOf = (peerId: string, group: string) => `${peerId}\0${group}`;
export const mimeOf = (p: types.Producer): string => p.rtpParameters.codecs[0]?.mimeType ?? '?';

/** What the recorder's consumers accept: the router's Opus/VP8/VP9, no RTX, no feedback, no extensions. */
function recorderCaps(router: types.Router): types.RtpCapabilities {
  return {
    codecs: (router.rtpCapabilities.codecs ?? []).filter((c) => isRecordable(c.mimeType)).map((c) => ({ ...c, rtcpFeedback: [] })),
    headerExtensions: [],
  };
}

/** Creates the (empty, 0600) WebM file and the segment that will fill it; nothing runs yet. */
export async function createSegment(
  env: SegmentEnv,
  o: { room: string; startedBy: string; peerId: string; peerName: string; group: string; part: number; hooks: SegmentHooks },
): Promise<Segment> {
  const startedAt = new Date();
  const made = await createRecordingFile(env.dir, baseName({ room: o.room, peerName: o.peerName, peerId: o.peerId, source: o.group, part: o.part, startedAt }));
  return {
    key: keyOf(o.peerId, o.group),
    base: made.base,
    file: made.file,
    sdpFile: join(env.dir, `.${made.base}.sdp`),
    side: {
      version: 1,
      room: o.room,
      peerId: o.peerId,
      peerName: o.peerName,
      source: o.group,
      part: o.part,
      file: `${made.base}.webm`,
      startedAt: startedAt.toISOString(),
      startedBy: o.startedBy,
      stoppedAt: null,
      stopReason: null,
      error: null,
      codecs: [],
      sizeBytes: null,
      durationSeconds: null,
    },
    hooks: o.hooks,
    transports: [],
    consumers: [],
    producerIds: new Set(),
    ports: [],
    ffmpeg: null,
    waker: null,
    timers: [],
    starting: null,
    abort: false,
    finished: null,
  };
}

/** Transports, paused consumers, the SDP, ffmpeg; then the consumers resume and key frames are asked for. */
export async function openSegment(env: SegmentEnv, seg: Segment, router: types.Router, byKind: Map<'audio' | 'video', types.Producer>): Promise<void> {
  const room = seg.side.room;
  const step = () => {
    if (seg.abort) throw new Error('the recording was stopped while this file was being set up');
  };
  const streams: SdpStream[] = [];
  for (const kind of ['audio', 'video'] as const) {
    const prod = byKind.get(kind);
    if (!prod) continue;
    const transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: false, appData: { recording: room } });
    seg.transports.push(transport);
    step();
    const consumer = await transport.consume({ producerId: prod.id, rtpCapabilities: recorderCaps(router), paused: true, appData: { recording: room } });
    seg.consumers.push(consumer);
    seg.producerIds.add(prod.id);
    const port = await freeRtpPort(env.usedPorts);
    env.usedPorts.add(port);
    seg.ports.push(port);
    step();
    await transport.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
    step();
    const codec = consumer.rtpParameters.codecs[0]!;
    streams.push({ kind, port, payloadType: codec.payloadType, mimeType: codec.mimeType, clockRate: codec.clockRate, channels: codec.channels });
    seg.side.codecs.push({ kind, mimeType: codec.mimeType });
    // The participant left or closed this producer: the file ends when none of its streams is left.
    consumer.on('producerclose', () => {
      if (seg.consumers.every((c) => c.closed)) void finishSegment(env, seg, 'left', null);
    });
    transport.on('routerclose', () => void finishSegment(env, seg, 'media_lost', null));
  }
  const wakePort = await freeRtpPort(env.usedPorts);
  env.usedPorts.add(wakePort);
  seg.ports.push(wakePort);
  await writePrivate(seg.sdpFile, recordingSdp(streams, '127.0.0.1', wakePort));
  await writeSideCar(env.dir, seg.base, seg.side);
  step();
  const bin = findTool('ffmpeg');
  if (!bin) throw new ConfdError('unavailable', 'ffmpeg is not installed: recording needs it (Debian: apt-get install ffmpeg)');
  const run = runFfmpeg(bin, seg.sdpFile, seg.file, streams.length);
  seg.ffmpeg = run;
  void run.exited.then(async (res) => {
    // A death during the set-up is reported by the set-up (its caller).
    await seg.starting?.catch(() => {});
    if (run.stopping || seg.abort) return;
    seg.hooks.died(seg, diskFullIn(res.stderr) ? 'disk_full' : 'ffmpeg_died', ffmpegFailure(res));
  });
  const ports = [...streams.map((s) => s.port), wakePort].flatMap((p) => [p, p + 1]);
  if (!(await waitListening(run, ports))) {
    const res = run.proc.exitCode !== null || run.proc.signalCode !== null ? await run.exited : null;
    throw new Error(res ? ffmpegFailure(res) : 'ffmpeg did not open its RTP ports in time');
  }
  seg.waker = createWaker(wakePort);
  for (let i = 0; i < WAKE_AT_START; i++) seg.waker.ping();
  step();
  for (const c of seg.consumers) await c.resume();
  const keyFrame = () => {
    for (const c of seg.consumers) if (c.kind === 'video' && !c.closed) void c.requestKeyFrame().catch(() => {});
  };
  keyFrame();
  for (const ms of KEY_FRAME_RETRIES_MS) {
    const t = setTimeout(keyFrame, ms);
    t.unref();
    seg.timers.push(t);
  }
}

/** Stops ffmpeg (it writes the trailer), closes the transports, completes the side-car. Idempotent. */
export function finishSegment(env: SegmentEnv, seg: Segment, reason: string, error: string | null): Promise<void> {
  seg.abort = true;
  seg.finished ??= (async () => {
    await seg.starting?.catch(() => {});
    for (const t of seg.timers) clearTimeout(t);
    const sent = await packetsSent(seg.consumers);
    // Media reached ffmpeg but it may not have begun the file yet (a stop moments after the start):
    // a signal now would leave it half-written, so it gets a moment to begin.
    const result = seg.ffmpeg ? await seg.ffmpeg.stop({ wake: () => seg.waker?.ping(), firstWriteMs: sent === 0 ? 0 : FIRST_WRITE_WAIT_MS }) : null;
    seg.waker?.close();
    for (const t of seg.transports) if (!t.closed) t.close();
    for (const port of seg.ports) env.usedPorts.delete(port);
    await unlink(seg.sdpFile).catch(() => {});
    let err = error;
    if (sent === 0) {
      await unlink(seg.file).catch(() => {});
      err ??= NO_MEDIA;
    }
    const size = await stat(seg.file).then((s) => s.size, () => null);
    const probed = size ? await probe(seg.file) : null;
    if (!err && result && result.code !== 0 && result.code !== 255 && result.signal !== 'SIGINT') err = ffmpegFailure(result);
    Object.assign(seg.side, { stoppedAt: new Date().toISOString(), stopReason: reason, error: err, sizeBytes: size, durationSeconds: probed?.durationSeconds ?? null });
    await writeSideCar(env.dir, seg.base, seg.side).catch((e: unknown) => env.log.error({ err: e, file: seg.file }, 'could not write a recording side-car'));
    seg.hooks.closed(seg);
    env.log.info({ peer: seg.side.peerId, file: seg.file, reason, sizeBytes: size, durationSeconds: seg.side.durationSeconds }, 'recording file closed');
  })();
  return seg.finished;
}

/**
 * RTP packets the file's consumers sent to its ffmpeg (their 'outbound-rtp' stats: a consumer's stats
 * also hold its producer's 'inbound-rtp'); null when mediasoup cannot say.
 */
async function packetsSent(consumers: types.Consumer[]): Promise<number | null> {
  try {
    let n = 0;
    for (const c of consumers) {
      if (c.closed) return null;
      for (const st of await c.getStats()) if (st.type === 'outbound-rtp') n += st.packetCount;
    }
    return n;
  } catch {
    return null;
  }
}
