/**
 * One room's recording: which participants have a file now, starting and rolling files over as their
 * producers come and go (a producer replaced mid-recording starts the next part of that participant's
 * file: an RTP stream cannot change mid-file), and the one way it ends (stopped, room closed, failed,
 * shutdown): every file finalised, the room told.
 */
import type { types } from 'mediasoup';
import type { AuditDetails } from '../store/audit.ts';
import type { RecordableParticipant, RecordingTap } from '../rooms/recording.ts';
import { isRecordable } from './sdp.ts';
import { createSegment, finishSegment, groupOf, keyOf, mimeOf, openSegment, type Segment, type SegmentEnv, type SegmentHooks } from './segment.ts';

/** Files (ffmpeg processes) written at once for one room; participants beyond it are not recorded (logged). */
export const MAX_FILES_PER_RECORDING = 16;
/** A participant's producers settle (microphone, then camera) before its file starts or rolls over. */
const SETTLE_MS = 800;
/**
 * A participant stream's next part starts at least this long after its previous one: a guest swapping
 * devices in a loop must not start an ffmpeg per swap. The producers it has then are recorded.
 */
export const MIN_PART_INTERVAL_MS = 5_000;

export interface ActiveRecording {
  room: string;
  startedAt: string;
  startedBy: string;
  files: { peerId: string; peerName: string; source: string; part: number; file: string }[];
  /** Participants not recorded because of MAX_FILES_PER_RECORDING or a codec WebM cannot hold. */
  skipped: string[];
}

export interface SessionEnv extends SegmentEnv {
  /** Writes an audit event; never rejects (a failure is logged). */
  audit(type: string, actor: string, details: AuditDetails): Promise<void>;
  /** Every end in progress, so that the daemon's shutdown can wait for it. */
  track(ending: Promise<void>): void;
  /** The disk is full: gives back the space held for finishing files (reserve.ts). */
  freeReserve(): void;
}

export interface Session {
  readonly room: string;
  /** Set once the recording is ending (or has ended). */
  readonly stopping: Promise<void> | null;
  /** Files being written now. */
  readonly files: number;
  describe(): ActiveRecording;
  /** Starts a file for every participant's stream group; rejects when one cannot start. */
  startFiles(): Promise<void>;
  /**
   * Ends the recording: every file finalised, the room told. Idempotent. `error` goes into the side-car
   * of `failed`, or of every file when no one file is to blame (a full disk).
   */
  end(reason: string, error?: string | null, failed?: Segment | null): Promise<void>;
  /** Ends the recording because of a failure: logged, audited as recording.failed; the call goes on. */
  fail(reason: string, error: string, seg: Segment | null): Promise<void>;
}

/** Attaches to the room's recording tap; `ended` is called once every file is finalised. */
export function createSession(roomEnv: SessionEnv, o: { room: string; tap: RecordingTap; startedBy: string; ended(s: Session): void }): Session {
  const { room, tap, startedBy } = o;
  // The session's files log with the room bound.
  const env: SessionEnv = { ...roomEnv, log: roomEnv.log.child({ room }) };
  const { log } = env;
  const startedAt = new Date();
  const segments = new Map<string, Segment>();
  const parts = new Map<string, number>();
  /** Per participant stream: the last refresh, so that starts and roll-overs never overlap. */
  const chains = new Map<string, Promise<void>>();
  const settle = new Map<string, NodeJS.Timeout>();
  /** When each participant stream's last part started, and which streams were told to wait (logged once). */
  const lastStart = new Map<string, number>();
  const held = new Set<string>();
  const skipped = new Set<string>();
  /** The first files are being started by `record start` (which reports their failure itself). */
  let initial = true;
  let stopping: Promise<void> | null = null;

  const hooks: SegmentHooks = {
    closed(seg) {
      if (segments.get(seg.key) === seg) segments.delete(seg.key);
    },
    died(seg, reason, error) {
      // A full disk is every file's problem. Any other death is this file's alone: one participant's
      // stream (or its ffmpeg) must never end the others' files.
      if (reason === 'disk_full') return void session.fail(reason, error, seg);
      log.error({ peer: seg.side.peerId, file: seg.file, error }, 'recording: ffmpeg died; this file ends, the others go on');
      void finishSegment(env, seg, reason, error);
      void env.audit('recording.file_failed', 'system', { room, peer: seg.side.peerId, file: seg.side.file, reason, error: error.slice(0, 300) });
    },
  };

  /** Starts the file of one participant's stream group; null when it has nothing recordable. */
  async function startSegment(p: RecordableParticipant, group: string): Promise<Segment | null> {
    const key = keyOf(p.id, group);
    if (!p.router || p.router.closed) return null;
    const byKind = new Map<'audio' | 'video', types.Producer>();
    for (const prod of p.producers) if (!prod.closed && groupOf(prod) === group) byKind.set(prod.kind, prod); // the newest of each kind
    for (const [kind, prod] of byKind) {
      if (!isRecordable(mimeOf(prod))) {
        byKind.delete(kind);
        skipped.add(`${p.displayName} (${kind}: ${mimeOf(prod)} cannot go into WebM)`);
        log.warn({ peer: p.id, codec: mimeOf(prod) }, 'a producer in a codec WebM cannot hold is not recorded');
      }
    }
    if (byKind.size === 0) return null;
    if (segments.size >= MAX_FILES_PER_RECORDING) {
      skipped.add(p.displayName);
      log.warn({ peer: p.id, max: MAX_FILES_PER_RECORDING }, 'recording: too many files for one room; this participant is not recorded');
      return null;
    }
    const part = (parts.get(key) ?? 0) + 1;
    parts.set(key, part);
    lastStart.set(key, Date.now());
    const seg = await createSegment(env, { room, startedBy, peerId: p.id, peerName: p.displayName, group, part, hooks });
    segments.set(key, seg);
    seg.starting = openSegment(env, seg, p.router, byKind);
    try {
      await seg.starting;
      log.info({ peer: p.id, file: seg.file, codecs: seg.side.codecs.map((c) => c.mimeType) }, 'recording file started');
      return seg;
    } catch (e) {
      const aborted = seg.abort;
      await finishSegment(env, seg, aborted ? 'stopped' : 'failed', (e as Error).message);
      if (aborted) return null;
      throw e;
    }
  }

  /** A participant's producers changed: its file starts, or rolls over to the next part when one was replaced. */
  function refresh(peerId: string, group: string): Promise<void> {
    const key = keyOf(peerId, group);
    const prev = chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (stopping) return;
      const p = tap.participants().find((x) => x.id === peerId);
      if (!p) return;
      const current = p.producers.filter((x) => groupOf(x) === group && isRecordable(mimeOf(x)));
      const seg = segments.get(key);
      if (seg && !seg.finished && current.every((x) => seg.producerIds.has(x.id))) return;
      if (seg) await finishSegment(env, seg, 'replaced', null);
      if (stopping) return;
      await startSegment(p, group);
    });
    // One participant's file that cannot start (e.g. its producer closed mid-set-up: a guest swapping
    // microphones) is that participant's loss alone, like an ffmpeg that dies.
    const settled = next.catch((e: unknown) => {
      if (!stopping && !initial) log.error({ peer: peerId, error: (e as Error).message }, 'recording: could not start this participant\'s file; the others go on');
    });
    chains.set(key, settled);
    return next;
  }

  /** Refreshes a participant stream after `delay`, later again while its last part is too recent. */
  function schedule(peerId: string, group: string, delay: number): void {
    const key = keyOf(peerId, group);
    clearTimeout(settle.get(key));
    const t = setTimeout(() => {
      settle.delete(key);
      const wait = (lastStart.get(key) ?? -Infinity) + MIN_PART_INTERVAL_MS - Date.now();
      if (wait > 0) {
        if (!held.has(key)) {
          held.add(key);
          log.warn({ peer: peerId, source: group, minIntervalMs: MIN_PART_INTERVAL_MS }, 'recording: this participant\'s producers change too often; its next part waits (logged once)');
        }
        return schedule(peerId, group, wait);
      }
      void refresh(peerId, group).catch(() => {});
    }, delay);
    t.unref();
    settle.set(key, t);
  }

  const detach = tap.attach({
    producer(p, producer) {
      schedule(p.id, groupOf(producer), SETTLE_MS);
    },
    ended(reason) {
      env.track(session.end(reason).then(() => env.audit('recording.stop', 'system', { room, reason })));
    },
  });

  const session: Session = {
    room,
    get stopping() {
      return stopping;
    },
    get files() {
      return segments.size;
    },

    describe: () => ({
      room,
      startedAt: startedAt.toISOString(),
      startedBy,
      files: [...segments.values()].map((s) => ({ peerId: s.side.peerId, peerName: s.side.peerName, source: s.side.source, part: s.side.part, file: s.file })),
      skipped: [...skipped],
    }),

    async startFiles() {
      const groups = tap.participants().flatMap((p) => [...new Set(p.producers.map(groupOf))].map((g) => ({ p, g })));
      await Promise.all(groups.map(({ p, g }) => refresh(p.id, g)));
      initial = false;
    },

    end(reason, error = null, failed = null) {
      stopping ??= (async () => {
        detach();
        for (const t of settle.values()) clearTimeout(t);
        // At once (before the room closes its routers under them), then whatever was being started.
        const why = (s: Segment) => (s === failed || failed === null ? error : null);
        const now = [...segments.values()].map((s) => finishSegment(env, s, reason, why(s)));
        await Promise.allSettled([...chains.values(), ...now]);
        await Promise.all([...segments.values()].map((s) => finishSegment(env, s, reason, why(s))));
        o.ended(session);
        tap.announce({ active: false });
        log.info({ reason }, 'recording stopped');
      })();
      const p = stopping;
      env.track(p);
      return p;
    },

    async fail(reason, error, seg) {
      if (stopping) return;
      log.error({ peer: seg?.side.peerId, reason, error }, 'recording failed; the call goes on');
      // The files still being written need room for what they hold and their trailers.
      if (reason === 'disk_full') env.freeReserve();
      const done = session.end(reason, error, seg);
      await env.audit('recording.failed', 'system', { room, peer: seg?.side.peerId ?? null, file: seg ? seg.side.file : null, reason, error: error.slice(0, 300) });
      await done;
    },
  };
  return session;
}
