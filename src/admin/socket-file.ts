import { connect } from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfdError } from '../errors.ts';

function probe(path: string): Promise<'live' | 'stale'> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve('stale');
      else reject(e);
    });
  });
}

/**
 * Makes `path` free for a new listening socket: a stale socket file left by a crash is removed; a live
 * one (another daemon) or a non-socket file (never ours to delete) is refused.
 */
export async function claimSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new ConfdError('already_running', `${path} exists and is not a socket; remove it or choose another admin socket path (--socket)`);
  }
  if ((await probe(path)) === 'live') {
    throw new ConfdError(
      'already_running',
      `another confd is already running on the admin socket ${path}; stop it first (or use "confctl --socket ${path} status" to talk to it)`,
    );
  }
  await unlink(path);
}
