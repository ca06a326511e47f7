/**
 * Running one bench section so that a disturbed machine does not fail the whole bench: a section that
 * fails because of a disturbance (a browser or page gone, a wait that ran out) is run once more; if it
 * is disturbed again it is reported as disturbed, with no figures. Any other error is a failure at
 * once: a broken section is not retried into hiding.
 */
import type { SectionOptions, SectionResult } from './lib.ts';

/**
 * What a loaded or disturbed machine makes a section throw, as opposed to a bug in it: the browser,
 * a page or its context closed under it (Playwright), a page that crashed, a wait for a state that
 * ran out (test/helpers/wait.ts, Playwright's own timeouts, a daemon slow to start), a connection
 * reset under it.
 */
const DISTURBANCES: readonly RegExp[] = [
  /\b(page|context|browser) has been closed\b/i,
  /\bbrowser has disconnected\b/i,
  /\b(page|target) crashed\b/i,
  /\bexecution context was destroyed\b/i,
  /\btimed out waiting for\b/i,
  /\bTimeout \d+ms exceeded\b/,
  /\bconfd did not become ready in time\b/,
  /\b(ECONNRESET|EPIPE)\b|\bsocket hang up\b/,
];

/** Whether a section's error says the machine disturbed it rather than that the section is wrong. */
export function isDisturbance(e: unknown): boolean {
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return DISTURBANCES.some((r) => r.test(text));
}

export type SectionOutcome =
  /** Measured; `retriedAfter` is the first run's disturbance when it took a second run. */
  | { status: 'ok'; result: SectionResult; retriedAfter?: string }
  /** Disturbed twice: no figures. */
  | { status: 'disturbed'; error: string; first: string }
  /** A failure that is not a disturbance (not retried). */
  | { status: 'failed'; error: string; stack: string };

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);

/** Runs `run`, once more after a disturbance. */
export async function runSection(id: string, run: (o: SectionOptions) => Promise<SectionResult>, o: SectionOptions): Promise<SectionOutcome> {
  let first: string;
  try {
    return { status: 'ok', result: await run(o) };
  } catch (e) {
    if (!isDisturbance(e)) return { status: 'failed', error: firstLine(e), stack: (e as Error).stack ?? String(e) };
    first = firstLine(e);
    o.log(`section ${id} DISTURBED (${first}); running it once more`);
  }
  try {
    return { status: 'ok', result: await run(o), retriedAfter: first };
  } catch (e) {
    if (!isDisturbance(e)) return { status: 'failed', error: firstLine(e), stack: (e as Error).stack ?? String(e) };
    return { status: 'disturbed', error: firstLine(e), first };
  }
}
