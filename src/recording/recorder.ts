/**
 * Recording driven from the admin socket (`confctl record start|stop|list`): at most MAX_RECORDINGS
 * rooms at once, each a session (session.ts) writing one WebM per participant (segment.ts: a
 * PlainTransport per stream, ffmpeg copying the RTP into the file) under DATA_DIR/recordings (files.ts).
 *
 * A dying ffmpeg ends its own file only (its side-car says why, the audit trail gets
 * recording.file_failed). A full disk stops the room's recording: the space held back (reserve.ts) is
 * given back, every file is finalised, the audit trail gets recording.failed and the room is told. The
 * call itself is never touched.
 */
import { ConfdError, isConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AuditDetails } from '../store/audit.ts';
import type { RecordingTap } from '../rooms/recording.ts';
import { findTool } from './ffmpeg.ts';
import { freeBytes, listRecordings, MIN_FREE_TO_GO_ON, MIN_FREE_TO_START, prepareDir, recordingsDir, type ListedRecording } from './files.ts';
import { createReserve } from './reserve.ts';
import { createSession, type ActiveRecording, type Session, type SessionEnv } from './session.ts';

/** Rooms recorded at once. */
export const MAX_RECORDINGS = 4;
/** Free space is checked this often while recording (statfs is cheap; a busy room writes MB/s). */
const DISK_CHECK_MS = 1_000;

export interface RecorderDeps {
  dataDir: string;
  log: Logger;
  /** The room of that name, if it exists. */
  room(name: string): { tap: RecordingTap } | undefined;
  audit(type: string, actor: string, details: AuditDetails): Promise<void>;
  maxRecordings?: number;
}

export interface Recorder {
  start(room: string, by: string): Promise<ActiveRecording>;
  stop(room: string, by: string): Promise<ActiveRecording>;
  list(): Promise<{ active: ActiveRecording[]; recordings: ListedRecording[] }>;
  /** Daemon shutdown: every recording is finalised. */
  close(): Promise<void>;
}

export function createRecorder(deps: RecorderDeps): Recorder {
  const { log } = deps;
  const dir = recordingsDir(deps.dataDir);
  const max = deps.maxRecordings ?? MAX_RECORDINGS;
  const recordings = new Map<string, Session>();
  /**
   * Rooms whose `record start` is between its checks and its first files: a second start is a
   * conflict, a stop waits for it (and then stops what it started).
   */
  const starting = new Map<string, Promise<unknown>>();
  let closing = false;
  const inFlight = new Set<Promise<void>>();
  let diskTimer: NodeJS.Timeout | null = null;
  const reserve = createReserve(dir);

  const audit = (type: string, actor: string, details: AuditDetails) =>
    deps.audit(type, actor, details).catch((e: unknown) => log.error({ err: e, type }, 'could not write a recording audit event'));
  const env: SessionEnv = {
    dir,
    log,
    usedPorts: new Set(),
    audit,
    track(p) {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
    freeReserve: () => reserve.release(),
  };

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
          for (const r of [...recordings.values()]) void r.fail('disk_full', `only ${Math.floor(free / 1048576)} MiB left on the recordings disk`, null);
        },
        () => {},
      );
    }, DISK_CHECK_MS);
    diskTimer.unref();
  }

  /** The rest of `start`, with the room reserved: the directory, the session, its first files. */
  async function startSession(room: string, by: string, target: { tap: RecordingTap }): Promise<ActiveRecording> {
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

    await reserve.hold();
    const r = createSession(env, {
      room,
      tap: target.tap,
      startedBy: by,
      ended: (s) => {
        if (recordings.get(room) === s) recordings.delete(room);
        // The last recording gone: the space held back for finishing files is given back.
        if (recordings.size === 0 && [...starting.keys()].every((x) => x === room)) reserve.release();
      },
    });
    recordings.set(room, r);
    // Everyone is told before anything is recorded.
    target.tap.announce({ active: true, startedBy: 'admin' });
    try {
      await r.startFiles();
    } catch (e) {
      const message = `recording of room "${room}" could not start: ${(e as Error).message}`;
      await r.end('failed', (e as Error).message, null);
      await audit('recording.failed', 'admin', { room, by, reason: 'not_started', error: (e as Error).message.slice(0, 300) });
      throw isConfdError(e) ? new ConfdError(e.code, message) : new ConfdError('internal', message);
    }
    watchDisk();
    await audit('recording.start', 'admin', { room, by, files: r.files });
    log.info({ room, by, files: r.files }, 'recording started');
    return r.describe();
  }

  return {
    async start(room, by) {
      // The room's last recording still finishing (a stop just before): this one starts once it has.
      const ending = starting.has(room) ? null : recordings.get(room)?.stopping;
      if (ending) await ending.catch(() => {});
      if (closing) throw new ConfdError('unavailable', 'the daemon is shutting down; recording is not available');
      if (recordings.has(room) || starting.has(room)) throw new ConfdError('conflict', `room "${room}" is already being recorded; "confctl record stop --room ${room}" stops it`);
      const target = deps.room(room);
      if (!target || target.tap.participants().length === 0) throw new ConfdError('not_found', `no room "${room}" with participants; "confctl rooms" lists the rooms`);
      const busy = new Set([...recordings.keys(), ...starting.keys()]).size;
      if (busy >= max) throw new ConfdError('unavailable', `${busy} rooms are being recorded already (at most ${max}); stop one first`);
      const started = startSession(room, by, target);
      starting.set(room, started);
      try {
        return await started;
      } finally {
        starting.delete(room);
      }
    },

    async stop(room, by) {
      // A stop sent with (or just after) a start stops what that start started, not "nothing to stop".
      await starting.get(room)?.catch(() => {});
      const r = recordings.get(room);
      if (!r || r.stopping) throw new ConfdError('not_found', `room "${room}" is not being recorded; "confctl record list" shows what is`);
      const info = r.describe();
      await r.end('stopped', null, null);
      await audit('recording.stop', 'admin', { room, by, files: info.files.length });
      return info;
    },

    async list() {
      const active = [...recordings.values()].filter((r) => !r.stopping).map((r) => r.describe());
      const activeFiles = new Set(active.flatMap((a) => a.files.map((f) => f.file)));
      return { active, recordings: await listRecordings(dir, activeFiles) };
    },

    async close() {
      // No new recording; the ones being started are let finish starting, then end with the rest.
      closing = true;
      await Promise.allSettled([...starting.values()]);
      for (const r of [...recordings.values()]) {
        if (r.stopping) continue;
        // Tracked with its audit event: the store closes after the recordings.
        env.track(r.end('shutdown', null, null).then(() => audit('recording.stop', 'system', { room: r.room, reason: 'shutdown' })));
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      if (diskTimer) clearInterval(diskTimer);
    },
  };
}
