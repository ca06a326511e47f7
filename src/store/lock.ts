import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfdError } from '../errors.ts';

export const LOCK_FILE_NAME = 'confd.pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes this process the data dir's only writer. A lock left by a crashed daemon (its pid no longer
 * runs) is taken over; a live one is refused. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfdError('data_dir_unusable', `cannot write the lock file ${path}: ${(e as Error).message}; check free space and permissions of the data dir`);
      }
      const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new ConfdError(
          'already_running',
          `another confd (pid ${pid}) is using the data dir ${dataDir}; stop it first, or give this one its own --data-dir`,
        );
      }
      unlinkSync(path);
    }
  }
  throw new ConfdError('already_running', `could not lock the data dir ${dataDir}; another confd may be starting`);
}
