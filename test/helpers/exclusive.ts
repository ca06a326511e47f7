/**
 * A lock between test files (npm test runs two at once): a test whose assertion needs a core of its
 * own takes it so that no other such test runs beside it. The adaptive-layer tests are of that kind:
 * two of them at once (each Chromium encoding three simulcast layers on a 2-core machine) starve the
 * packets, mediasoup's delay-based estimate reads the queueing as a congested link, and an unshaped
 * receiver is held on layer 1. That is the estimator doing its job, not the behaviour under test.
 *
 * The lock is a directory (mkdir is atomic) holding the owner's pid; one whose owner is dead is taken
 * over, so a test file killed mid-run does not block the next run.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, sleep } from './wait.ts';

const held = new Set<string>();
process.once('exit', () => {
  for (const dir of held) rmSync(dir, { recursive: true, force: true });
});

/** Waits (up to `maxWaitMs`) for the lock `name`, then holds it until the returned release is called. */
export async function exclusive(name: string, maxWaitMs = 15 * 60_000): Promise<() => void> {
  const dir = join(tmpdir(), `confd-test-lock-${name}`);
  const until = Date.now() + maxWaitMs;
  let said = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      held.add(dir);
      return () => {
        held.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      /* being written or removed: look again */
    }
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > until) throw new Error(`test lock ${name} still held by pid ${owner} after ${maxWaitMs / 1000} s (${dir})`);
    if (!said) console.log(`# waiting for test lock ${name} (held by pid ${owner})`);
    said = true;
    await sleep(250);
  }
}
