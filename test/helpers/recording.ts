/** Looking at what a recording wrote: Debian's ffprobe on the files, the side-cars, the daemon's ffmpegs. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childProcesses } from './children.ts';

export const HAVE_FFMPEG = existsSync('/usr/bin/ffmpeg') && existsSync('/usr/bin/ffprobe');

/** ffprobe's duration (NaN when it cannot tell: a WebM never finalised has none) and streams as "kind:codec". */
export function ffprobe(file: string): { duration: number; streams: string[] } {
  const j = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { encoding: 'utf8' }));
  return { duration: Number(j.format.duration), streams: j.streams.map((s: any) => `${s.codec_type}:${s.codec_name}`).sort() };
}

/** ffmpeg children of process `parent` (a daemon's recorders), with the file each writes (its last argument). */
export function ffmpegChildren(parent: number): { pid: number; file: string }[] {
  const out: { pid: number; file: string }[] = [];
  for (const c of childProcesses(parent)) {
    if (c.comm !== 'ffmpeg') continue;
    try {
      out.push({ pid: c.pid, file: readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).pop()! });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every side-car in a recordings directory, with its own path. */
export function sideCars(dir: string): any[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => ({ name: n, path: join(dir, n), ...JSON.parse(readFileSync(join(dir, n), 'utf8')) }));
}
