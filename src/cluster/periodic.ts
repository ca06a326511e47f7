import type { Logger } from '../log.ts';

/**
 * Runs `task` every `everyMs` (and whenever the returned `now()` is called), never two at once: a
 * slow Redis makes the next run wait for the one in flight rather than pile up. A failure is logged
 * at debug level (the caller's own error path reports outages) and the next run tries again.
 */
export function periodic(task: () => Promise<void>, everyMs: number, log: Logger, what: string): { now(): void; stop(): void } {
  let running = false;
  const now = () => {
    if (running) return;
    running = true;
    task()
      .catch((e: unknown) => log.debug({ err: e }, `${what} failed`))
      .finally(() => (running = false));
  };
  const timer = setInterval(now, everyMs);
  timer.unref();
  return { now, stop: () => clearInterval(timer) };
}
