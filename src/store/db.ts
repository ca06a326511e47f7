import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfdError } from '../errors.ts';
import { firstProblem } from '../validation/issues.ts';
import { counters } from '../metrics.ts';
import type { Logger } from '../log.ts';
import { mergedTrail, pushEvent, splitLegacyNoise, type AuditDetails } from './audit.ts';
import { DurableJsonFile } from './durable-json-file.ts';
import { normaliseIp } from './ips.ts';
import { copyForChange } from './delta.ts';
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
  /**
   * Cluster: brings `data` up to the newest shared state before a decision that must see every
   * node's changes (a login, a join); throws ConfdError('cluster_unavailable') when Redis cannot be
   * reached. A single node: resolves at once.
   */
  sync(what: string): Promise<void>;
  /**
   * Told of every change to `data`, this node's and (in a cluster) other nodes', in the order they
   * happen: the state before and after. A change of this node is told before its `mutate` resolves.
   */
  onChange(listener: StoreListener): void;
  /** Writes pending noise, then waits for pending writes; closes the backend. */
  close(): Promise<void>;
  readonly path: string;
}

export type StoreListener = (before: Readonly<StoreData>, after: Readonly<StoreData>) => void;

interface Pending {
  change: (data: StoreData) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Where the state lives: a file (lowdb, one node) or Redis (a cluster). The store's queue, batching
 * and noise coalescing (createStore) are the same over both.
 */
export interface StoreBackend {
  /** The newest state this node knows. */
  current(): StoreData;
  /**
   * Builds the next state from the newest one (`build`; null: nothing to write) and makes it the
   * state, durably. In a cluster, when another node wrote in between, it catches up and builds
   * again, as often as it takes (up to a bound), holding its own follow-ups back meanwhile so that a
   * node writing without pause cannot starve another's change. Resolves true when something was
   * written; throws a ConfdError when the write failed (nothing changed).
   */
  commit(build: (base: StoreData) => StoreData | null): Promise<boolean>;
  /** Brings current() up to the shared state (a no-op on a single node); throws when it cannot. */
  sync(what: string): Promise<void>;
  /** Called once by createStore: the backend reports every change of current() to `changed`. */
  listen(changed: StoreListener): void;
  close(): Promise<void>;
  /** The file, or the Redis, for messages. */
  readonly path: string;
}

/** The Store over a backend: queued changes, committed in batches, login noise coalesced. */
export function createStore(backend: StoreBackend, log: Pick<Logger, 'error'> = console): Store {
  let queue: Pending[] = [];
  const listeners: StoreListener[] = [];
  // The change is durable by now: a failing listener must not fail it, nor keep the others from hearing of it.
  backend.listen((before, after) => {
    for (const l of listeners) {
      try {
        l(before, after);
      } catch (e) {
        log.error({ err: e }, 'a listener to store changes failed');
      }
    }
  });
  let writing: Promise<void> | null = null;

  const noise = new Map<string, AuditEvent>();
  let droppedNoise = 0;
  let noiseTimer: NodeJS.Timeout | null = null;

  const pendingNoise = (): AuditEvent[] => {
    const events = [...noise.values()];
    if (droppedNoise > 0) events.push({ at: new Date().toISOString(), type: 'audit.noise_dropped', actor: 'system', count: droppedNoise });
    return events;
  };

  /** Takes the pending noise, to be written with the batch being committed. */
  function takeNoise(): AuditEvent[] {
    if (noise.size === 0 && droppedNoise === 0) return [];
    const events = pendingNoise();
    noise.clear();
    droppedNoise = 0;
    if (noiseTimer) clearTimeout(noiseTimer);
    noiseTimer = null;
    return events;
  }

  /**
   * Applies the live changes of a batch to a copy of `base`. A change that throws may have
   * half-mutated the copy: then the copy is made again and the changes that succeeded are re-applied
   * (they are deterministic), so the common path never pays a copy per change.
   */
  function build(base: StoreData, live: Pending[]): { next: StoreData; applied: { p: Pending; value: unknown }[] } {
    let next = copyForChange(base);
    const applied: { p: Pending; value: unknown }[] = [];
    for (const p of live) {
      try {
        applied.push({ p, value: p.change(next) });
      } catch (e) {
        p.reject(e);
        next = copyForChange(base);
        for (const a of applied) a.value = a.p.change(next);
      }
    }
    return { next, applied };
  }

  async function commitBatch(batch: Pending[]): Promise<void> {
    // Noise rides along with a real change for free. If the write fails it is lost: it is noise.
    const noiseEvents = takeNoise();
    let live = batch;
    let applied: { p: Pending; value: unknown }[] = [];
    try {
      const wrote = await backend.commit((base) => {
        // Built again on each attempt: a change is decided on the state it is written over.
        const built = build(base, live);
        applied = built.applied;
        live = applied.map((a) => a.p);
        if (applied.length === 0) return null;
        for (const e of noiseEvents) pushEvent(built.next, e);
        return built.next;
      });
      if (wrote) counters.dbWrites++;
      for (const { p, value } of applied) p.resolve(value);
    } catch (e) {
      // Every change still waiting: the backend may have failed before building anything.
      for (const p of live) p.reject(e);
    }
  }

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await commitBatch(batch);
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
    path: backend.path,
    get data() {
      return backend.current();
    },
    mutate,
    sync: (what) => backend.sync(what),
    onChange: (l) => void listeners.push(l),
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
      return mergedTrail(backend.current(), pendingNoise(), limit);
    },
    async close() {
      if (noise.size > 0 || droppedNoise > 0) await mutate(() => undefined).catch(() => {});
      if (noiseTimer) clearTimeout(noiseTimer);
      noiseTimer = null;
      while (writing) await writing;
      await backend.close();
    },
  };
}

/** Opens (or creates) the database in `dataDir`. The daemon is its only writer. */
export async function openStore(dataDir: string, log?: Pick<Logger, 'error'>): Promise<Store> {
  const path = join(dataDir, DB_FILE_NAME);
  const adapter = new DurableJsonFile<StoreData>(path);

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
  let data: StoreData;
  if (raw === null) {
    data = emptyStore();
    await adapter.write(data);
  } else {
    const parsed = storeDataSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfdError(
        'data_dir_unusable',
        `database ${path} does not have the expected shape (${firstProblem(parsed.error)}); restore it from a backup or move it aside to start empty`,
      );
    }
    data = parsed.data;
    migrate(data);
    // A restart ends every host session on a single node: hosts log in again.
    data.sessions = [];
  }

  let changed: StoreListener = () => {};
  return createStore(
    {
      path,
      current: () => data,
      async commit(buildNext) {
        const next = buildNext(data);
        if (next === null) return false;
        try {
          await adapter.write(next);
        } catch (e) {
          throw new ConfdError(
            'data_dir_unusable',
            `could not save the database ${path}: ${(e as Error).message}; nothing was changed (check free space and permissions of the data dir)`,
          );
        }
        const before = data;
        data = next;
        changed(before, next);
        return true;
      },
      sync: async () => {},
      listen: (l) => void (changed = l),
      close: async () => {},
    },
    log,
  );
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
