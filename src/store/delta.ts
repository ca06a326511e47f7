import { z } from 'zod';
import { parseJsonInput, type Parsed } from '../validation/issues.ts';
import { AUDIT_MAX_EVENTS, AUDIT_NOISE_MAX_EVENTS } from './audit.ts';
import { auditEventSchema, authorisedIpSchema, hostSessionSchema, storedUserSchema, tokenRecordSchema, type AuditEvent, type StoreData } from './schema.ts';

/**
 * What one committed change did, collection by collection: the unit a cluster writes to Redis and
 * sends to the other nodes, so that nobody rewrites or re-reads the whole state per change.
 */
export interface StoreDelta {
  users: Part;
  ips: Part;
  tokens: Part;
  sessions: Part;
  /** Events appended to each audit ring (the rings drop their oldest beyond their bound). */
  audit: AuditEvent[];
  auditNoise: AuditEvent[];
}

/** Entries written (key, whole entry) and keys removed. */
export interface Part {
  set: [string, unknown][];
  del: string[];
}

type Keyed = 'users' | 'ips' | 'tokens' | 'sessions';
export const KEYED: readonly Keyed[] = ['users', 'ips', 'tokens', 'sessions'];

/** The key each entry is stored under. An IP cannot contain a space, nor can a user name. */
export const entryKey: { [K in Keyed]: (e: StoreData[K][number]) => string } = {
  users: (u) => u.name,
  ips: (e) => `${e.ip} ${e.user}`,
  tokens: (t) => t.id,
  sessions: (s) => s.id,
};

/** The shape of each collection's entries. */
export const entrySchema = { users: storedUserSchema, ips: authorisedIpSchema, tokens: tokenRecordSchema, sessions: hostSessionSchema } as const;

/** The field the entries of a collection are ordered by (their age), so every node lists them alike. */
const ageOf: { [K in Keyed]: (e: StoreData[K][number]) => string } = {
  users: (u) => u.createdAt,
  ips: (e) => e.since,
  tokens: (t) => t.issuedAt,
  sessions: (s) => s.createdAt,
};

/**
 * The copy a change is applied to: keyed entries deep-copied (changes edit them in place), the audit
 * rings copied shallowly (events are only ever appended), so diffStore can tell new events by identity.
 */
export function copyForChange(data: StoreData): StoreData {
  return {
    ...data,
    users: structuredClone(data.users),
    ips: structuredClone(data.ips),
    tokens: structuredClone(data.tokens),
    sessions: structuredClone(data.sessions),
    audit: [...data.audit],
    auditNoise: [...data.auditNoise],
  };
}

function sameEntry(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => v === y[i])) continue;
    return false;
  }
  return true;
}

function diffPart<K extends Keyed>(kind: K, base: StoreData[K], next: StoreData[K]): Part {
  const key = entryKey[kind] as (e: StoreData[K][number]) => string;
  const before = new Map<string, Record<string, unknown>>();
  for (const e of base) before.set(key(e), e as Record<string, unknown>);
  const part: Part = { set: [], del: [] };
  const seen = new Set<string>();
  for (const e of next) {
    const k = key(e);
    seen.add(k);
    const old = before.get(k);
    if (!old || !sameEntry(old, e as Record<string, unknown>)) part.set.push([k, e]);
  }
  for (const k of before.keys()) if (!seen.has(k)) part.del.push(k);
  return part;
}

/** Events of `next`'s ring that `base`'s ring did not hold (rings only append and drop their oldest). */
function appended(base: readonly AuditEvent[], next: readonly AuditEvent[]): AuditEvent[] {
  const last = base[base.length - 1];
  if (!last) return [...next];
  const at = next.lastIndexOf(last);
  return next.slice(at + 1);
}

/** What turned `base` into `next` (next made by copyForChange(base) and changes). */
export function diffStore(base: StoreData, next: StoreData): StoreDelta {
  return {
    users: diffPart('users', base.users, next.users),
    ips: diffPart('ips', base.ips, next.ips),
    tokens: diffPart('tokens', base.tokens, next.tokens),
    sessions: diffPart('sessions', base.sessions, next.sessions),
    audit: appended(base.audit, next.audit),
    auditNoise: appended(base.auditNoise, next.auditNoise),
  };
}

export const isEmptyDelta = (d: StoreDelta) =>
  KEYED.every((k) => d[k].set.length === 0 && d[k].del.length === 0) && d.audit.length === 0 && d.auditNoise.length === 0;

function applyPart<K extends Keyed>(kind: K, list: StoreData[K], part: Part): StoreData[K] {
  if (part.set.length === 0 && part.del.length === 0) return list;
  const key = entryKey[kind] as (e: StoreData[K][number]) => string;
  const gone = new Set(part.del);
  const replaced = new Map(part.set);
  const out = [] as unknown as StoreData[K];
  for (const e of list) {
    const k = key(e);
    if (gone.has(k)) continue;
    if (replaced.has(k)) {
      (out as unknown[]).push(replaced.get(k));
      replaced.delete(k);
    } else (out as unknown[]).push(e);
  }
  for (const e of replaced.values()) (out as unknown[]).push(e);
  return out;
}

const ring = (list: AuditEvent[], add: AuditEvent[], max: number) => (add.length === 0 ? list : [...list, ...add].slice(-max));

/** A new state: `data` with `delta` applied (data itself is not changed). */
export function applyDelta(data: StoreData, delta: StoreDelta): StoreData {
  return {
    ...data,
    users: applyPart('users', data.users, delta.users),
    ips: applyPart('ips', data.ips, delta.ips),
    tokens: applyPart('tokens', data.tokens, delta.tokens),
    sessions: applyPart('sessions', data.sessions, delta.sessions),
    audit: ring(data.audit, delta.audit, AUDIT_MAX_EVENTS),
    auditNoise: ring(data.auditNoise, delta.auditNoise, AUDIT_NOISE_MAX_EVENTS),
  };
}

/** Entries read back unordered (a Redis hash) in the order every node lists them: oldest first. */
export function inAgeOrder<K extends Keyed>(kind: K, entries: StoreData[K]): StoreData[K] {
  const age = ageOf[kind] as (e: StoreData[K][number]) => string;
  const key = entryKey[kind] as (e: StoreData[K][number]) => string;
  return [...entries].sort((a, b) => {
    const x = age(a);
    const y = age(b);
    if (x !== y) return x < y ? -1 : 1;
    return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  }) as StoreData[K];
}

const partSchema = <T extends z.ZodType>(entry: T) => z.object({ set: z.array(z.tuple([z.string(), entry])), del: z.array(z.string()) });

/** A delta as nodes write it to the change log: every part there, each entry whole and valid. */
const storeDeltaSchema = z.object({
  users: partSchema(entrySchema.users),
  ips: partSchema(entrySchema.ips),
  tokens: partSchema(entrySchema.tokens),
  sessions: partSchema(entrySchema.sessions),
  audit: z.array(auditEventSchema),
  auditNoise: z.array(auditEventSchema),
});

/**
 * A delta read back from the change log, or why it cannot be applied. An entry set under a key that
 * is not its own (a user "mallory" under "bob") is refused too: applied, it would sit beside the
 * real one and the copies of the nodes would differ from the state in Redis.
 */
export function parseDelta(text: string): Parsed<StoreDelta> {
  const parsed = parseJsonInput(storeDeltaSchema, text);
  if (!parsed.ok) return parsed;
  for (const kind of KEYED) {
    const key = entryKey[kind] as (e: unknown) => string;
    const wrong = parsed.data[kind].set.find(([k, e]) => key(e) !== k);
    if (wrong) return { ok: false, problem: `${kind}: an entry set under "${wrong[0]}" is the entry of "${key(wrong[1])}"` };
  }
  return parsed;
}
