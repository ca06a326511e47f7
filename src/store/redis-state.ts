import type { z } from 'zod';
import { parseJsonInput } from '../validation/issues.ts';
import { KEYED, entryKey, entrySchema, inAgeOrder, parseDelta, type StoreDelta } from './delta.ts';
import { auditEventSchema, type AuditEvent, type StoreData } from './schema.ts';

/**
 * Reading the cluster's state back from Redis (redis-backend.ts keeps it there). Whatever is not in
 * the shape nodes write is skipped and handed to `Skip` to be said, never used: someone with access
 * to Redis, or another program, must not be able to stop a node by writing one bad entry.
 */
export type Skip = (key: string, problem: string, value: string) => void;

type Keyed = (typeof KEYED)[number];

/**
 * The version a change-log entry id stands for (`VERSION-1`, as the commit script writes it), or
 * null; up to 14 digits, as versions (redis-backend.ts, VERSION_LUA).
 */
export function logVersion(id: string): number | null {
  const m = /^([1-9][0-9]{0,13})-1$/.exec(id);
  return m ? Number(m[1]) : null;
}

/** A collection's entries from its Redis hash (key -> JSON entry), oldest first; the rest skipped. */
export function readEntries<K extends Keyed>(kind: K, hashKey: string, hash: Record<string, string>, skip: Skip): StoreData[K] {
  const schema: z.ZodType<unknown> = entrySchema[kind];
  const key = entryKey[kind] as (e: unknown) => string;
  const entries: unknown[] = [];
  for (const [field, raw] of Object.entries(hash)) {
    const parsed = parseJsonInput(schema, raw);
    if (!parsed.ok) skip(`${hashKey} ${field}`, parsed.problem, raw);
    // Under another key it would stand beside the real entry of that key.
    else if (key(parsed.data) !== field) skip(`${hashKey} ${field}`, `the entry of "${key(parsed.data)}"`, raw);
    else entries.push(parsed.data);
  }
  return inAgeOrder(kind, entries as StoreData[K]);
}

/** An audit ring from its Redis list, the events that are not events skipped. */
export function readEvents(listKey: string, list: string[], skip: Skip): AuditEvent[] {
  const events: AuditEvent[] = [];
  list.forEach((raw) => {
    const parsed = parseJsonInput(auditEventSchema, raw);
    if (parsed.ok) events.push(parsed.data);
    else skip(listKey, parsed.problem, raw);
  });
  return events;
}

export interface LogEntry {
  id: string;
  message: Record<string, unknown>;
}

export type Changes =
  /** The deltas after version `from`, in order, up to and with version `to`. */
  | { ok: true; deltas: StoreDelta[]; to: number }
  /** The log does not go on from `from` (trimmed past it, or a gap): read the whole state. */
  | { ok: false; gap: true }
  /** An entry no node wrote this way: read the whole state; `key`, `problem` and `value` say which. */
  | { ok: false; gap: false; key: string; problem: string; value: string };

/** The changes after version `from` in `entries` (the log read from version from + 1 on). */
export function changesAfter(from: number, entries: readonly LogEntry[], logKey: string): Changes {
  const deltas: StoreDelta[] = [];
  let v = from;
  for (const e of entries) {
    if (logVersion(e.id) !== v + 1) return { ok: false, gap: true };
    const raw = e.message['d'];
    const parsed = typeof raw === 'string' ? parseDelta(raw) : { ok: false as const, problem: 'no delta in it' };
    if (!parsed.ok) return { ok: false, gap: false, key: `${logKey} ${e.id}`, problem: parsed.problem, value: typeof raw === 'string' ? raw : '' };
    deltas.push(parsed.data);
    v++;
  }
  return { ok: true, deltas, to: v };
}
