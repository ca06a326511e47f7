/**
 * Servers a test file started (confd, redis-server, coturn, nginx) die with it. A test that fails or
 * times out before its own stop would otherwise leave them running, and their pipes would keep the
 * test file's process (and so the whole `npm test`) alive for ever.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();

process.once('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Kills `proc` when this process exits, unless it has exited first. */
export function killOnExit<P extends ChildProcess>(proc: P): P {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/** Live child processes of `ppid` (any process's, read from /proc), with their command names (e.g. ffmpeg). */
export function childProcesses(ppid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (m && Number(m[2]) === ppid) out.push({ pid: Number(d), comm: m[1]! });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}
