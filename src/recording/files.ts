/**
 * Recording files under DATA_DIR/recordings (mode 0700): one WebM per participant (0600), named from
 * the room, the peer's name and the start time, and a side-car JSON beside it (0600) with what the
 * name cannot say safely: the room, peer id and name as given, times, codecs, size, why it stopped.
 */
import { randomBytes } from 'node:crypto';
import { constants, mkdirSync, statSync, chmodSync } from 'node:fs';
import { open, readdir, readFile, rename, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { probe } from './ffmpeg.ts';

export const RECORDINGS_DIR = 'recordings';
/** Below this much free space `record start` is refused. */
export const MIN_FREE_TO_START = 100 * 1024 * 1024;
/** Below this much free space running recordings are stopped (before ffmpeg hits a full disk). */
export const MIN_FREE_TO_GO_ON = 32 * 1024 * 1024;

export interface SideCar {
  version: 1;
  room: string;
  peerId: string;
  peerName: string;
  /** 'main' (microphone and camera) or 'screen'. */
  source: string;
  /** 1, then 2, ... when a producer of the participant was replaced mid-recording (a new file from then). */
  part: number;
  file: string;
  startedAt: string;
  startedBy: string;
  stoppedAt: string | null;
  /** 'stopped' (by an admin), 'room_closed', 'left', 'replaced', 'ffmpeg_died', 'disk_full', 'shutdown', ... */
  stopReason: string | null;
  /** Details of a failure (ffmpeg's last words). */
  error: string | null;
  codecs: { kind: 'audio' | 'video'; mimeType: string }[];
  sizeBytes: number | null;
  durationSeconds: number | null;
}

export function recordingsDir(dataDir: string): string {
  return join(dataDir, RECORDINGS_DIR);
}

/** Makes the directory (0700) and proves a file can be created in it; throws with the reason. */
export async function prepareDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (st.uid === process.getuid?.() && (st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  // access(W_OK) says yes to root on a read-only mount's 0700 dir only sometimes: try for real.
  // A name of its own per call: two `record start` at once must not trip over each other's probe.
  const probeFile = join(dir, `.write-test-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fh = await open(probeFile, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  await fh.close();
  await unlink(probeFile);
}

/** Free bytes for an unprivileged writer on the file system of `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Letters, digits, '-' and '_' only (at most `max`), never empty: safe in any file name. */
export function safePart(s: string, max = 40): string {
  const t = s
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, max);
  return t || 'x';
}

/** e.g. standup_Ann-Lee_20261130T101500Z (the caller adds the peer id's hash and part). */
export function baseName(o: { room: string; peerName: string; peerId: string; source: string; part: number; startedAt: Date }): string {
  const time = o.startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const src = o.source === 'main' ? '' : `_${safePart(o.source, 10)}`;
  const part = o.part > 1 ? `_part${o.part}` : '';
  return `${safePart(o.room, 64)}_${safePart(o.peerName)}${src}_${time}_${safePart(o.peerId, 8)}${part}`;
}

/** Creates `name`.webm exclusively with mode 0600 (ffmpeg then writes into it); adds -2, -3 on a clash. */
export async function createRecordingFile(dir: string, name: string): Promise<{ file: string; base: string }> {
  for (let i = 1; i < 100; i++) {
    const base = i === 1 ? name : `${name}-${i}`;
    const file = join(dir, `${base}.webm`);
    try {
      const fh = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      await fh.close();
      return { file, base };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`too many recordings named ${name}`);
}

/** Writes a small file atomically with mode 0600. */
export async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export const sideCarPath = (dir: string, base: string) => join(dir, `${base}.json`);

export async function writeSideCar(dir: string, base: string, s: SideCar): Promise<void> {
  await writePrivate(sideCarPath(dir, base), `${JSON.stringify(s, null, 1)}\n`);
}

export interface ListedRecording extends SideCar {
  /** Still being written. */
  active: boolean;
}

/** Every side-car in the directory, newest first; size and duration from the file (ffprobe) where the side-car has none. */
export async function listRecordings(dir: string, activeFiles: ReadonlySet<string>): Promise<ListedRecording[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ListedRecording[] = [];
  for (const n of names.filter((x) => x.endsWith('.json') && !x.startsWith('.'))) {
    let s: SideCar;
    try {
      s = JSON.parse(await readFile(join(dir, n), 'utf8')) as SideCar;
      if (s.version !== 1 || typeof s.file !== 'string') continue;
    } catch {
      continue;
    }
    const file = join(dir, s.file);
    const active = activeFiles.has(file);
    const size = await stat(file).then((x) => x.size, () => null);
    let duration = s.durationSeconds;
    if (active) {
      duration = Math.round((Date.now() - Date.parse(s.startedAt)) / 100) / 10;
    } else if (duration === null && size) {
      duration = (await probe(file))?.durationSeconds ?? null;
    }
    out.push({ ...s, sizeBytes: size ?? s.sizeBytes, durationSeconds: duration, active });
  }
  out.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.file < b.file ? -1 : 1));
  return out;
}
