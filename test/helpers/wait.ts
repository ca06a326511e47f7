/** Waiting in tests: a pause, and conditions that become true on another process's schedule. */
import { setTimeout as pause } from 'node:timers/promises';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => pause(ms);

/**
 * How long a wait may take by default: a bound for a hang, not an expectation. A CI machine runs two
 * test files at once and can be 3-4x slower than a desk; werift's ICE and DTLS (pure JS) beside an
 * argon2 burst took over 15 s there.
 */
export const WAIT_MS = 45_000;

/** Resolves once `pred` holds (polled every `everyMs`); rejects naming `what` after `timeoutMs`. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = WAIT_MS, everyMs = 25): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * `until` for a value: reads it (every 200 ms) until `ok` accepts it and resolves with it; the timeout's
 * error shows the last value read.
 */
export async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = WAIT_MS): Promise<T> {
  let last: T | undefined;
  try {
    await until(async () => ok((last = await read())), what, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last value: ${JSON.stringify(last)}`);
  }
  return last as T;
}

/** Whether a process exists (EPERM: it does, it just is not ours to signal). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
