import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { ConfdError } from '../errors.ts';
import { counters } from '../metrics.ts';
import { mergedTrail, pushEvent, splitLegacyNoise, type AuditDetails } from './audit.ts';
import { DurableJsonFile } from './durable-json-file.ts';
import { normaliseIp } from './ips.ts';
import { emptyStore, storeDataSchema, type AuditEvent, type StoreData } from './schema.ts';

export const DB_FILE_NAME = 'confd.db.json';

/**
 * Login noise (failures, blocks) is not written one event at a time: it is coalesced in memory and
 * goes to disk with the next real change, or at the latest this long after it happened. So a flood
 * of failed logins costs at most one database rewrite per interval, and a crash loses at most this
 * much noise, never an admin or security event (those are written before their request is answered).
 */
export const NOISE_FLUSH_MS = 10_000;
/** Distinct noise events held between writes; beyond it they are only counted (audit.noise_dropped). */
export const MAX_PENDING_NOISE = 1000;

export interface Store {
  /** The last durably written state. Treat as read-only. */
  readonly data: Readonly<StoreData>;
  /**
   * Applies `change` to a copy of the data and resolves once that copy is on disk; rejects (and the
   * data stays as it was) if `change` throws or the write fails. Changes made while a write is in
   * flight are committed together in the next write.
   */
  mutate<T>(change: (data: StoreData) => T): Promise<T>;
  /**
   * Records a noise event (login.failed, login.blocked): coalesced with identical ones (same type,
   * actor and details: one event with `count` and `lastAt`), written with the next change or within
   * NOISE_FLUSH_MS. Never rejects; never makes a write of its own sooner than that.
   */
  recordNoise(type: string, actor: string, details?: AuditDetails, now?: Date): void;
  /** The newest `limit` audit events, both rings and unwritten noise merged, oldest first. */
  auditTrail(limit: number): AuditEvent[];
  /** Writes pending noise, then waits for pending writes. */
  close(): Promise<void>;
  readonly path: string;
}

interface Pending {
  change: (data: StoreData) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Opens (or creates) the database in `dataDir`. The daemon is its only writer. */
export async function openStore(dataDir: string): Promise<Store> {
  const path = join(dataDir, DB_FILE_NAME);
  const adapter = new DurableJsonFile<StoreData>(path);
  const db = new Low<StoreData>(adapter, emptyStore());

  // Temp files are left only by a write interrupted before its rename: the real file is intact.
  for (const name of await readdir(dataDir)) {
    if (name.startsWith(`.${DB_FILE_NAME}.`) && name.endsWith('.tmp')) await unlink(join(dataDir, name)).catch(() => {});
  }

  let raw: StoreData | null;
  try {
    raw = await adapter.read();
  } catch (e) {
    throw new ConfdError(
      'data_dir_unusable',
      `database ${path} is unreadable (${(e as Error).message}); restore it from a backup or move it aside to start empty`,
    );
  }
  if (raw === null) {
    db.data = emptyStore();
    await db.write();
  } else {
    const parsed = storeDataSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new ConfdError(
        'data_dir_unusable',
        `database ${path} does not have the expected shape (${first?.path.join('.') ?? ''}: ${first?.message ?? ''}); restore it from a backup or move it aside to start empty`,
      );
    }
    db.data = parsed.data;
    migrate(db.data);
  }

  let queue: Pending[] = [];
  let writing: Promise<void> | null = null;

  const noise = new Map<string, AuditEvent>();
  let droppedNoise = 0;
  let noiseTimer: NodeJS.Timeout | null = null;

  const pendingNoise = (): AuditEvent[] => {
    const events = [...noise.values()];
    if (droppedNoise > 0) events.push({ at: new Date().toISOString(), type: 'audit.noise_dropped', actor: 'system', count: droppedNoise });
    return events;
  };

  /** Moves the pending noise into `data` (the copy about to be written). */
  function drainNoise(data: StoreData): void {
    if (noise.size === 0 && droppedNoise === 0) return;
    for (const e of pendingNoise()) pushEvent(data, e);
    noise.clear();
    droppedNoise = 0;
    if (noiseTimer) clearTimeout(noiseTimer);
    noiseTimer = null;
  }

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      // One copy per batch. A change that throws may have half-mutated the copy: then the copy is
      // made again and the changes that succeeded are re-applied (they are deterministic), so the
      // common path never pays a copy per change.
      let next = structuredClone(db.data);
      const applied: { p: Pending; value: unknown }[] = [];
      for (const p of batch) {
        try {
          applied.push({ p, value: p.change(next) });
        } catch (e) {
          p.reject(e);
          next = structuredClone(db.data);
          for (const a of applied) a.value = a.p.change(next);
        }
      }
      if (applied.length === 0) continue;
      // Noise rides along with a real change for free. If this write fails it is lost: it is noise.
      drainNoise(next);
      try {
        await adapter.write(next);
        counters.dbWrites++;
        db.data = next;
        for (const { p, value } of applied) p.resolve(value);
      } catch (e) {
        const err = new ConfdError(
          'data_dir_unusable',
          `could not save the database ${path}: ${(e as Error).message}; nothing was changed (check free space and permissions of the data dir)`,
        );
        for (const { p } of applied) p.reject(err);
      }
    }
  }

  function kick(): void {
    if (writing) return;
    writing = flush().finally(() => {
      writing = null;
      if (queue.length > 0) kick();
    });
  }

  function mutate<T>(change: (data: StoreData) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({ change, resolve: resolve as (v: unknown) => void, reject });
      kick();
    });
  }

  return {
    path,
    get data() {
      return db.data;
    },
    mutate,
    recordNoise(type, actor, details = {}, now = new Date()) {
      const key = JSON.stringify([type, actor, details]);
      const seen = noise.get(key);
      if (seen) {
        seen.count = (typeof seen.count === 'number' ? seen.count : 1) + 1;
        seen.lastAt = now.toISOString();
      } else if (noise.size >= MAX_PENDING_NOISE) {
        droppedNoise++;
      } else {
        noise.set(key, { ...details, at: now.toISOString(), type, actor });
      }
      if (noiseTimer) return;
      noiseTimer = setTimeout(() => {
        noiseTimer = null;
        if (noise.size > 0 || droppedNoise > 0) mutate(() => undefined).catch(() => {});
      }, NOISE_FLUSH_MS);
      noiseTimer.unref();
    },
    auditTrail(limit) {
      return mergedTrail(db.data, pendingNoise(), limit);
    },
    async close() {
      if (noise.size > 0 || droppedNoise > 0) await mutate(() => undefined).catch(() => {});
      if (noiseTimer) clearTimeout(noiseTimer);
      noiseTimer = null;
      while (writing) await writing;
    },
  };
}

/**
 * Brings a database written by an older confd up to date in memory (saved with the next write):
 * login noise moves out of the admin ring, and authorised IPs get their canonical spelling so that
 * `ip revoke` matches them however they are typed.
 */
function migrate(data: StoreData): void {
  splitLegacyNoise(data);
  const byKey = new Map<string, StoreData['ips'][number]>();
  for (const e of data.ips) {
    e.ip = normaliseIp(e.ip) ?? e.ip;
    // Two spellings of one address for one user become one entry: the one that lasts longer.
    const key = `${e.ip}\u0000${e.user}`;
    const other = byKey.get(key);
    if (!other || Date.parse(e.expiresAt) > Date.parse(other.expiresAt)) byKey.set(key, e);
  }
  if (byKey.size < data.ips.length) data.ips = data.ips.filter((e) => byKey.get(`${e.ip}\u0000${e.user}`) === e);
}
