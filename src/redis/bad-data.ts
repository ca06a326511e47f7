import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import { setBounded } from '../bounded-map.ts';

/** The log message of every piece of data from Redis a node skipped: one phrase to grep for. */
export const BAD_DATA_MESSAGE = 'skipped data in Redis that this node cannot use';
/** Distinct reports remembered; past this the oldest may be said again (memory stays bounded). */
const REMEMBERED = 1000;

export interface BadDataLog {
  /**
   * Says that `value` read under `key` was skipped because of `problem`, unless that was said
   * before: a poll reads an unchanged bad entry every few seconds, and it is worth one line, not one
   * per poll. A changed value is said again. The value itself is not logged (it may hold anything,
   * a password hash included).
   */
  skipped(key: string, problem: string, value?: string): void;
}

/**
 * Data in Redis that no node wrote this way (a hand edit, another program, someone with access to
 * Redis) is skipped by its reader, never trusted; this is where the reader says so.
 */
export function badDataLog(log: Logger, what: string): BadDataLog {
  const said = new Map<string, true>();
  return {
    skipped(key, problem, value = '') {
      const id = createHash('sha256').update(`${key}\0${problem}\0`).update(value).digest('base64');
      if (said.has(id)) return;
      setBounded(said, id, true, REMEMBERED);
      // Both may quote what was read: a line each, however long that was.
      log.warn({ what, key: key.slice(0, 200), problem: problem.slice(0, 300) }, BAD_DATA_MESSAGE);
    },
  };
}
