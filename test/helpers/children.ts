/**
 * Servers a test file started (confd, redis-server, coturn, nginx) die with it. A test that fails or
 * times out before its own stop would otherwise leave them running, and their pipes would keep the
 * test file's process (and so the whole `npm test`) alive for ever.
 */
import type { ChildProcess } from 'node:child_process';

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
