/**
 * Recording driven from the admin socket (`confctl record start|stop|list`). For each participant of
 * the room: a PlainTransport per stream on the router that holds its producers (loopback, no comedia,
 * RTCP on its own port), a paused consumer per producer, an SDP file for ffmpeg, then ffmpeg (`-c copy`,
 * WebM), then the consumers resume and a key frame is asked for. One WebM per participant ("main":
 * microphone + camera; a screen share gets its own file); a producer replaced mid-recording starts the
 * next part of that participant's file (an RTP stream cannot change mid-file: new SSRC, sequence and
 * timestamps).
 *
 * A dying ffmpeg (a full disk makes it die too) or a disk running out of space stops the room's
 * recording: every file is finalised, its side-car says why, the audit trail gets recording.failed and
 * the room is told; the call itself is not touched.
 */
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { types } from 'mediasoup';
import { ConfdError, isConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AuditDetails } from '../store/audit.ts';
import type { RecordableParticipant, RecordingTap } from '../rooms/recording.ts';
import { diskFullIn, ffmpegFailure, findTool, freeRtpPort, probe, runFfmpeg, waitListening, type FfmpegRun } from './ffmpeg.ts';
import {
  baseName,
  createRecordingFile,
  freeBytes,
  listRecordings,
  MIN_FREE_TO_GO_ON,
  MIN_FREE_TO_START,
  prepareDir,
  recordingsDir,
  writePrivate,
  writeSideCar,
  type ListedRecording,
  type SideCar,
} from './files.ts';
import { isRecordable, recordingSdp, type SdpStream } from './sdp.ts';

/** Rooms recorded at once. */
export const MAX_RECORDINGS = 4;
/** Files (ffmpeg processes) written at once for one room; participants beyond it are not recorded (logged). */
export const MAX_FILES_PER_RECORDING = 16;
/** A participant's producers settle (microphone, then camera) before its file starts or rolls over. */
const SETTLE_MS = 800;
const DISK_CHECK_MS = 5_000;
/** Key frames are asked for again shortly after the start: ffmpeg needs one to learn the video size. */
const KEY_FRAME_RETRIES_MS = [1_000, 2_500];

export interface RecorderDeps {
  dataDir: string;
  log: Logger;
  /** The room of that name, if it exists. */
  room(name: string): { tap: RecordingTap } | undefined;
  audit(type: string, actor: string, details: AuditDetails): Promise<void>;
  maxRecordings?: number;
}

export interface ActiveRecording {
  room: string;
  startedAt: string;
  startedBy: string;
  files: { peerId: string; peerName: string; source: string; part: number; file: string }[];
  /** Participants not recorded because of MAX_FILES_PER_RECORDING or a codec WebM cannot hold. */
  skipped: string[];
}

export interface Recorder {
  start(room: string, by: string): Promise<ActiveRecording>;
  stop(room: string, by: string): Promise<ActiveRecording>;
  list(): Promise<{ active: ActiveRecording[]; recordings: ListedRecording[] }>;
  /** Daemon shutdown: every recording is finalised. */
  close(): Promise<void>;
}

interface Segment {
  key: string;
  base: string;
  file: string;
  sdpFile: string;
  side: SideCar;
  transports: types.PlainTransport[];
  consumers: types.Consumer[];
  producerIds: Set<string>;
  ports: number[];
  ffmpeg: FfmpegRun | null;
  timers: NodeJS.Timeout[];
  /** Being set up (transports, consumers, ffmpeg); finish() waits for it. */
  starting: Promise<void> | null;
  /** finish() was called: the set-up stops at its next step. */
  abort: boolean;
  finished: Promise<void> | null;
}

interface RoomRecording {
  room: string;
  tap: RecordingTap;
  detach: () => void;
  startedAt: Date;
  startedBy: string;
  segments: Map<string, Segment>;
  parts: Map<string, number>;
  /** Per participant stream: the last refresh, so that starts and roll-overs never overlap. */
  chains: Map<string, Promise<void>>;
  settle: Map<string, NodeJS.Timeout>;
  skipped: Set<string>;
  /** The first files are being started by `record start` (which reports their failure itself). */
  initial: boolean;
  stopping: Promise<void> | null;
}

const groupOf = (p: types.Producer): string => ((p.appData as { source?: unknown }).source === 'screen' ? 'screen' : 'main');
const keyOf = (peerId: string, group: string) => `${peerId}\0${group}`;
const mimeOf = (p: types.Producer): string => p.rtpParameters.codecs[0]?.mimeType ?? '?';

/** What the recorder's consumers accept: the router's Opus/VP8/VP9, no RTX, no feedback, no extensions. */
function recorderCaps(router: types.Router): types.RtpCapabilities {
  return {
    codecs: (router.rtpCapabilities.codecs ?? []).filter((c) => isRecordable(c.mimeType)).map((c) => ({ ...c, rtcpFeedback: [] })),
    headerExtensions: [],
  };
}

export function createRecorder(deps: RecorderDeps): Recorder {
  const { log } = deps;
  const dir = recordingsDir(deps.dataDir);
  const max = deps.maxRecordings ?? MAX_RECORDINGS;
  const recordings = new Map<string, RoomRecording>();
  const inFlight = new Set<Promise<void>>();
  const usedPorts = new Set<number>();
  let diskTimer: NodeJS.Timeout | null = null;

  const audit = (type: string, actor: string, details: AuditDetails) =>
    deps.audit(type, actor, details).catch((e: unknown) => log.error({ err: e, type }, 'could not write a recording audit event'));

  const describe = (r: RoomRecording): ActiveRecording => ({
    room: r.room,
    startedAt: r.startedAt.toISOString(),
    startedBy: r.startedBy,
    files: [...r.segments.values()].map((s) => ({ peerId: s.side.peerId, peerName: s.side.peerName, source: s.side.source, part: s.side.part, file: s.file })),
    skipped: [...r.skipped],
  });

  function watchDisk(): void {
    if (diskTimer || recordings.size === 0) return;
    diskTimer = setInterval(() => {
      if (recordings.size === 0) {
        clearInterval(diskTimer!);
        diskTimer = null;
        return;
      }
      freeBytes(dir).then(
        (free) => {
          if (free >= MIN_FREE_TO_GO_ON) return;
          for (const r of [...recordings.values()]) void fail(r, 'disk_full', `only ${Math.floor(free / 1048576)} MiB left on the recordings disk`, null);
        },
        () => {},
      );
    }, DISK_CHECK_MS);
    diskTimer.unref();
  }

  /** Stops ffmpeg (it writes the trailer), closes the transports, completes the side-car. Idempotent. */
  function finish(r: RoomRecording, seg: Segment, reason: string, error: string | null): Promise<void> {
    seg.abort = true;
    seg.finished ??= (async () => {
      await seg.starting?.catch(() => {});
      for (const t of seg.timers) clearTimeout(t);
      const result = seg.ffmpeg ? await seg.ffmpeg.stop() : null;
      for (const t of seg.transports) if (!t.closed) t.close();
      for (const port of seg.ports) usedPorts.delete(port);
      await unlink(seg.sdpFile).catch(() => {});
      const size = await stat(seg.file).then((s) => s.size, () => null);
      const probed = size ? await probe(seg.file) : null;
      let err = error;
      if (!err && result && result.code !== 0 && result.code !== 255 && result.signal !== 'SIGINT') err = ffmpegFailure(result);
      Object.assign(seg.side, { stoppedAt: new Date().toISOString(), stopReason: reason, error: err, sizeBytes: size, durationSeconds: probed?.durationSeconds ?? null });
      await writeSideCar(dir, seg.base, seg.side).catch((e: unknown) => log.error({ err: e, file: seg.file }, 'could not write a recording side-car'));
      if (r.segments.get(seg.key) === seg) r.segments.delete(seg.key);
      log.info({ room: r.room, peer: seg.side.peerId, file: seg.file, reason, sizeBytes: size, durationSeconds: seg.side.durationSeconds }, 'recording file closed');
    })();
    return seg.finished;
  }

  /** Starts the file of one participant's stream group; null when it has nothing recordable. */
  async function startSegment(r: RoomRecording, p: RecordableParticipant, group: string): Promise<Segment | null> {
    const key = keyOf(p.id, group);
    if (!p.router || p.router.closed) return null;
    const byKind = new Map<'audio' | 'video', types.Producer>();
    for (const prod of p.producers) if (!prod.closed && groupOf(prod) === group) byKind.set(prod.kind, prod); // the newest of each kind
    for (const [kind, prod] of byKind) {
      if (!isRecordable(mimeOf(prod))) {
        byKind.delete(kind);
        r.skipped.add(`${p.displayName} (${kind}: ${mimeOf(prod)} cannot go into WebM)`);
        log.warn({ room: r.room, peer: p.id, codec: mimeOf(prod) }, 'a producer in a codec WebM cannot hold is not recorded');
      }
    }
    if (byKind.size === 0) return null;
    if (r.segments.size >= MAX_FILES_PER_RECORDING) {
      r.skipped.add(p.displayName);
      log.warn({ room: r.room, peer: p.id, max: MAX_FILES_PER_RECORDING }, 'recording: too many files for one room; this participant is not recorded');
      return null;
    }
    const part = (r.parts.get(key) ?? 0) + 1;
    r.parts.set(key, part);
    const startedAt = new Date();
    const made = await createRecordingFile(dir, baseName({ room: r.room, peerName: p.displayName, peerId: p.id, source: group, part, startedAt }));
    const seg: Segment = {
      key,
      base: made.base,
      file: made.file,
      sdpFile: join(dir, `.${made.base}.sdp`),
      side: {
        version: 1,
        room: r.room,
        peerId: p.id,
        peerName: p.displayName,
        source: group,
        part,
        file: `${made.base}.webm`,
        startedAt: startedAt.toISOString(),
        startedBy: r.startedBy,
        stoppedAt: null,
        stopReason: null,
        error: null,
        codecs: [],
        sizeBytes: null,
        durationSeconds: null,
      },
      transports: [],
      consumers: [],
      producerIds: new Set(),
      ports: [],
      ffmpeg: null,
      timers: [],
      starting: null,
      abort: false,
      finished: null,
    };
    r.segments.set(key, seg);
    seg.starting = open(r, p.router, seg, byKind);
    try {
      await seg.starting;
      log.info({ room: r.room, peer: p.id, file: seg.file, codecs: seg.side.codecs.map((c) => c.mimeType) }, 'recording file started');
      return seg;
    } catch (e) {
      const aborted = seg.abort;
      await finish(r, seg, aborted ? 'stopped' : 'failed', (e as Error).message);
      if (aborted) return null;
      throw e;
    }
  }

  /** Transports, paused consumers, the SDP, ffmpeg; then the consumers resume and key frames are asked for. */
  async function open(r: RoomRecording, router: types.Router, seg: Segment, byKind: Map<'audio' | 'video', types.Producer>): Promise<void> {
    const step = () => {
      if (seg.abort) throw new Error('the recording was stopped while this file was being set up');
    };
    const streams: SdpStream[] = [];
    for (const kind of ['audio', 'video'] as const) {
      const prod = byKind.get(kind);
      if (!prod) continue;
      const transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: false, appData: { recording: r.room } });
      seg.transports.push(transport);
      step();
      const consumer = await transport.consume({ producerId: prod.id, rtpCapabilities: recorderCaps(router), paused: true, appData: { recording: r.room } });
      seg.consumers.push(consumer);
      seg.producerIds.add(prod.id);
      const port = await freeRtpPort(usedPorts);
      usedPorts.add(port);
      seg.ports.push(port);
      step();
      await transport.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
      step();
      const codec = consumer.rtpParameters.codecs[0]!;
      streams.push({ kind, port, payloadType: codec.payloadType, mimeType: codec.mimeType, clockRate: codec.clockRate, channels: codec.channels });
      seg.side.codecs.push({ kind, mimeType: codec.mimeType });
      // The participant left or closed this producer: the file ends when none of its streams is left.
      consumer.on('producerclose', () => {
        if (seg.consumers.every((c) => c.closed)) void finish(r, seg, 'left', null);
      });
      transport.on('routerclose', () => void finish(r, seg, 'media_lost', null));
    }
    await writePrivate(seg.sdpFile, recordingSdp(streams));
    await writeSideCar(dir, seg.base, seg.side);
    step();
    const bin = findTool('ffmpeg');
    if (!bin) throw new ConfdError('unavailable', 'ffmpeg is not installed: recording needs it (Debian: apt-get install ffmpeg)');
    const run = runFfmpeg(bin, seg.sdpFile, seg.file);
    seg.ffmpeg = run;
    void run.exited.then(async (res) => {
      // A death during the set-up is reported by the set-up (its caller).
      await seg.starting?.catch(() => {});
      if (run.stopping || seg.abort) return;
      const reason = diskFullIn(res.stderr) ? 'disk_full' : 'ffmpeg_died';
      void fail(r, reason, ffmpegFailure(res), seg);
    });
    const ports = streams.flatMap((s) => [s.port, s.port + 1]);
    if (!(await waitListening(run, ports))) {
      const res = run.proc.exitCode !== null || run.proc.signalCode !== null ? await run.exited : null;
      throw new Error(res ? ffmpegFailure(res) : 'ffmpeg did not open its RTP ports in time');
    }
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

  /** A participant's producers changed: its file starts, or rolls over to the next part when one was replaced. */
  function refresh(r: RoomRecording, peerId: string, group: string): Promise<void> {
    const key = keyOf(peerId, group);
    const prev = r.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (r.stopping) return;
      const p = r.tap.participants().find((x) => x.id === peerId);
      if (!p) return;
      const current = p.producers.filter((x) => groupOf(x) === group && isRecordable(mimeOf(x)));
      const seg = r.segments.get(key);
      if (seg && !seg.finished && current.every((x) => seg.producerIds.has(x.id))) return;
      if (seg) await finish(r, seg, 'replaced', null);
      if (r.stopping) return;
      await startSegment(r, p, group);
    });
    const settled = next.catch((e: unknown) => {
      if (!r.stopping && !r.initial) void fail(r, 'failed', `could not record ${peerId}: ${(e as Error).message}`, null);
    });
    r.chains.set(key, settled);
    return next;
  }

  /** Ends the room's recording: every file finalised, the room told. */
  function end(r: RoomRecording, reason: string, error: string | null, failed: Segment | null): Promise<void> {
    r.stopping ??= (async () => {
      r.detach();
      for (const t of r.settle.values()) clearTimeout(t);
      // At once (before the room closes its routers under them), then whatever was being started.
      const now = [...r.segments.values()].map((s) => finish(r, s, reason, s === failed ? error : null));
      await Promise.allSettled([...r.chains.values(), ...now]);
      await Promise.all([...r.segments.values()].map((s) => finish(r, s, reason, null)));
      if (recordings.get(r.room) === r) recordings.delete(r.room);
      r.tap.announce({ active: false });
      log.info({ room: r.room, reason }, 'recording stopped');
    })();
    const p = r.stopping;
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    return p;
  }

  async function fail(r: RoomRecording, reason: string, error: string, seg: Segment | null): Promise<void> {
    if (r.stopping) return;
    log.error({ room: r.room, peer: seg?.side.peerId, reason, error }, 'recording failed; the call goes on');
    const done = end(r, reason, error, seg);
    await audit('recording.failed', 'system', { room: r.room, peer: seg?.side.peerId ?? null, file: seg ? seg.side.file : null, reason, error: error.slice(0, 300) });
    await done;
  }

  return {
    async start(room, by) {
      if (recordings.has(room)) throw new ConfdError('conflict', `room "${room}" is already being recorded; "confctl record stop --room ${room}" stops it`);
      const target = deps.room(room);
      if (!target || target.tap.participants().length === 0) throw new ConfdError('not_found', `no room "${room}" with participants; "confctl rooms" lists the rooms`);
      if (recordings.size >= max) throw new ConfdError('unavailable', `${recordings.size} rooms are being recorded already (at most ${max}); stop one first`);
      const refuse = async (code: 'unavailable' | 'data_dir_unusable', message: string): Promise<never> => {
        await audit('recording.failed', 'admin', { room, by, reason: 'not_started', error: message });
        throw new ConfdError(code, message);
      };
      if (!findTool('ffmpeg')) await refuse('unavailable', 'ffmpeg is not installed: recording needs it (Debian: apt-get install ffmpeg); the call goes on unrecorded');
      try {
        await prepareDir(dir);
      } catch (e) {
        await refuse('data_dir_unusable', `cannot write recordings in ${dir}: ${(e as Error).message}`);
      }
      const free = await freeBytes(dir).catch(() => Infinity);
      if (free < MIN_FREE_TO_START) await refuse('data_dir_unusable', `only ${Math.floor(free / 1048576)} MiB free in ${dir} (at least ${MIN_FREE_TO_START / 1048576} MiB needed to start a recording)`);

      const r: RoomRecording = {
        room,
        tap: target.tap,
        detach: () => {},
        startedAt: new Date(),
        startedBy: by,
        segments: new Map(),
        parts: new Map(),
        chains: new Map(),
        settle: new Map(),
        skipped: new Set(),
        initial: true,
        stopping: null,
      };
      r.detach = target.tap.attach({
        producer(p, producer) {
          const group = groupOf(producer);
          const key = keyOf(p.id, group);
          clearTimeout(r.settle.get(key));
          const t = setTimeout(() => {
            r.settle.delete(key);
            void refresh(r, p.id, group).catch(() => {});
          }, SETTLE_MS);
          t.unref();
          r.settle.set(key, t);
        },
        ended(reason) {
          void end(r, reason, null, null).then(() => audit('recording.stop', 'system', { room, reason }));
        },
      });
      recordings.set(room, r);
      // Everyone is told before anything is recorded.
      target.tap.announce({ active: true, startedBy: 'admin' });
      try {
        const groups = target.tap.participants().flatMap((p) => [...new Set(p.producers.map(groupOf))].map((g) => ({ p, g })));
        await Promise.all(groups.map(({ p, g }) => refresh(r, p.id, g)));
      } catch (e) {
        const message = `recording of room "${room}" could not start: ${(e as Error).message}`;
        await end(r, 'failed', (e as Error).message, null);
        await audit('recording.failed', 'admin', { room, by, reason: 'not_started', error: (e as Error).message.slice(0, 300) });
        throw isConfdError(e) ? new ConfdError(e.code, message) : new ConfdError('internal', message);
      }
      r.initial = false;
      watchDisk();
      await audit('recording.start', 'admin', { room, by, files: r.segments.size });
      log.info({ room, by, files: r.segments.size }, 'recording started');
      return describe(r);
    },

    async stop(room, by) {
      const r = recordings.get(room);
      if (!r || r.stopping) throw new ConfdError('not_found', `room "${room}" is not being recorded; "confctl record list" shows what is`);
      const info = describe(r);
      await end(r, 'stopped', null, null);
      await audit('recording.stop', 'admin', { room, by, files: info.files.length });
      return info;
    },

    async list() {
      const active = [...recordings.values()].filter((r) => !r.stopping).map(describe);
      const activeFiles = new Set(active.flatMap((a) => a.files.map((f) => f.file)));
      return { active, recordings: await listRecordings(dir, activeFiles) };
    },

    async close() {
      for (const r of [...recordings.values()]) {
        if (r.stopping) continue;
        void end(r, 'shutdown', null, null).then(() => audit('recording.stop', 'system', { room: r.room, reason: 'shutdown' }));
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      if (diskTimer) clearInterval(diskTimer);
    },
  };
}
