/**
 * The Redis test helper (test/helpers/redis.ts) keeps what the cluster fault tests rely on: an
 * acknowledged write survives a SIGKILL (appendonly + appendfsync always) and a restart comes back on the
 * same port and data dir.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pidAlive } from './wait.ts';
import { startRedis } from './redis.ts';
import { cleanup } from './daemon.ts';

test('redis helper: an acknowledged write survives kill -9 and a restart on the same port; a password is honoured', async () => {
  const redis = await startRedis({ password: 'pass word"1' });
  try {
    assert.match(redis.url, /^redis:\/\/:pass%20word%221@127\.0\.0\.1:\d+$/);
    assert.equal(await redis.cli('SET', 'confd:test', 'kept'), 'OK');
    const before = redis.pid;
    await redis.kill();
    assert.equal(pidAlive(before), false);
    await redis.restart();
    assert.notEqual(redis.pid, before);
    assert.equal(await redis.cli('GET', 'confd:test'), 'kept', 'the AOF was replayed');
    assert.equal(await redis.cli('CONFIG', 'GET', 'appendfsync'), 'appendfsync\nalways');
    await assert.rejects(redis.cli('LPUSH', 'confd:test', 'x'), /WRONGTYPE/, 'an error reply rejects');
  } finally {
    await redis.stop();
  }
});

test('test Redis runs the docs/cluster.md recipe: append-only, fsync always, no eviction, loopback', async () => {
  const r = await startRedis();
  try {
    const get = async (k: string) => (await r.cli('CONFIG', 'GET', k)).trim().split('\n')[1];
    assert.equal(await get('appendonly'), 'yes');
    assert.equal(await get('appendfsync'), 'always');
    assert.equal(await get('maxmemory-policy'), 'noeviction');
    assert.equal(await get('protected-mode'), 'yes');
  } finally {
    await r.stop();
    cleanup(r.dir);
  }
});
