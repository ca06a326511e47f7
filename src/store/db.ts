import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { ConfdError } from '../errors.ts';
import { DurableJsonFile } from './durable-json-file.ts';
import { emptyStore, storeDataSchema, type StoreData } from './schema.ts';

export const DB_FILE_NAME = 'confd.db.json';

export interface Store {
  /** The last durably written state. Treat as read-only. */
  readonly data: Readonly<StoreData>;
  /**
   * Applies `change` to a copy of the data and resolves once that copy is on disk; rejects (and the
   * data stays as it was) if `change` throws or the write fails. Changes made while a write is in
   * flight are committed together in the next write.
   */
  mutate<T>(change: (data: StoreData) => T): Promise<T>;
  /** Waits for pending writes. */
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
  }

  let queue: Pending[] = [];
  let writing: Promise<void> | null = null;

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
      try {
        await adapter.write(next);
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

  return {
    path,
    get data() {
      return db.data;
    },
    mutate<T>(change: (data: StoreData) => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ change, resolve: resolve as (v: unknown) => void, reject });
        kick();
      });
    },
    async close() {
      while (writing) await writing;
    },
  };
}
