import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';

/**
 * A lowdb adapter whose writes survive power loss and kill -9: the new content goes to a temp file
 * in the same directory, is fsynced, renamed over the old file, and the directory entry is fsynced.
 * lowdb's own JSONFile (steno) renames without fsync, so an acknowledged change could vanish.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  readonly path: string;
  private readonly mode: number;
  private seq = 0;

  constructor(path: string, mode = 0o600) {
    this.path = path;
    this.mode = mode;
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return JSON.parse(text) as T;
  }

  async write(data: T): Promise<void> {
    const text = `${JSON.stringify(data, null, 1)}\n`;
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${this.seq++}.tmp`);
    const fh = await open(tmp, 'w', this.mode);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    try {
      await rename(tmp, this.path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
