/**
 * Space held back on the recordings disk while anything is being recorded: a file of RESERVE_BYTES
 * in the recordings directory (a dot file, which listings skip). When the disk fills up (another writer, or recordings faster than the
 * disk check), it is given back first, so that the ffmpegs still running can write what they hold and
 * the WebM trailer (cues, duration), and every side-car can be written: a full disk stops the
 * recording with its files finalised instead of cut off mid-write.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Enough for the buffered media and trailers of a room's files at ordinary bitrates, and the side-cars. */
export const RESERVE_BYTES = 16 * 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface Reserve {
  /** Makes sure the space is held (idempotent); a disk too full to hold it is not an error here. */
  hold(): Promise<void>;
  /** Gives the space back at once (idempotent). */
  release(): void;
}

export function createReserve(dir: string, bytes = RESERVE_BYTES): Reserve {
  let held: Promise<void> | null = null;
  /** Each hold writes a file of its own: one given back while still being written cleans up after itself. */
  let generation = 0;
  const fileOf = (g: number) => join(dir, `.reserve-${process.pid}-${g}`);
  return {
    hold() {
      if (held) return held;
      const mine = generation;
      const file = fileOf(mine);
      held = (async () => {
        const fh = await open(file, 'w', 0o600);
        try {
          // Random bytes: a compressing or deduplicating filesystem would hold zeros in no space at all.
          for (let done = 0; done < bytes && mine === generation; done += CHUNK) await fh.write(randomBytes(Math.min(CHUNK, bytes - done)));
        } finally {
          await fh.close();
        }
        if (mine !== generation) await unlink(file).catch(() => {});
      })().catch(async () => {
        // No room even for this: whatever part of it was written goes (the disk check stops recordings).
        await unlink(file).catch(() => {});
      });
      return held;
    },
    release() {
      const file = fileOf(generation);
      generation++;
      held = null;
      try {
        unlinkSync(file);
      } catch {
        /* not held, or still being opened (that hold removes its own file) */
      }
    },
  };
}
