/**
 * The store's contract, run against both backends: the lowdb file of a single node and the Redis of
 * a cluster (a real redis-server). Then what only a cluster has: several nodes writing at once, a
 * Redis restarted or away.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../src/store/db.ts';
import { CHANGED_CHANNEL, KEY, openRedisStore } from '../src/store/redis-backend.ts';
import { BAD_DATA_MESSAGE } from '../src/redis/bad-data.ts';
import { connectRedis, type RedisConnection } from '../src/redis/connection.ts';
import { createLogger } from '../src/log.ts';
import { addUser, removeUser, setUserHash } from '../src/store/users.ts';
import { authoriseIp, expireIps, revokeIp } from '../src/store/ips.ts';
import { appendAudit, AUDIT_MAX_EVENTS, AUDIT_NOISE_MAX_EVENTS } from '../src/store/audit.ts';
import { findToken, recordToken, revokeToken } from '../src/store/tokens.ts';
import { addSession, findSessionByHash, removeSessions } from '../src/store/sessions.ts';
import { isConfdError } from '../src/errors.ts';
import { counters } from '../src/metrics.ts';
import { cleanup, tempDir } from './helpers/daemon.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';
import { until } from './helpers/wait.ts';

const now = new Date('2026-06-01T00:00:00Z');
const log = createLogger('silent');

interface Backend {
  name: string;
  /** A store on fresh, empty state. */
  fresh(): Promise<Store>;
  /** Another store over the same state (the file again, or a second connection to the same Redis). */
  again(): Promise<Store>;
  done(): Promise<void>;
}

function lowdbBackend(): Backend {
  const dirs: string[] = [];
  let dir = '';
  return {
    name: 'lowdb',
    async fresh() {
      dir = tempDir();
      dirs.push(dir);
      return openStore(dir, log);
    },
    again: () => openStore(dir, log),
    async done() {
      cleanup(...dirs);
    },
  };
}

function redisBackend(redis: () => RunningRedis): Backend {
  const conns: RedisConnection[] = [];
  const open = async () => {
    const c = await connectRedis(redis().url, log);
    conns.push(c);
    return openRedisStore(c, log);
  };
  return {
    name: 'redis',
    async fresh() {
      await redis().cli('FLUSHALL');
      return open();
    },
    again: open,
    async done() {
      await Promise.all(conns.map((c) => c.close()));
    },
  };
}

let redis: RunningRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
  if (redis) cleanup(redis.dir);
});

for (const make of [lowdbBackend, () => redisBackend(() => redis)]) {
  const backend = make();
  describe(`store contract: ${backend.name}`, () => {
    after(() => backend.done());

    test('a change is kept: another store over the same state sees it', async () => {
      const s = await backend.fresh();
      await s.mutate((d) => addUser(d, 'alice', '$argon2id$fake', now));
      await s.close();
      const s2 = await backend.again();
      assert.deepEqual(s2.data.users.map((u) => u.name), ['alice']);
      await s2.close();
    });

    test('a change that throws is rolled back alone; the others in the same batch commit', async () => {
      const s = await backend.fresh();
      const results = await Promise.allSettled([
        s.mutate((d) => addUser(d, 'a', 'h', now)),
        s.mutate((d) => {
          addUser(d, 'half', 'h', now);
          throw new Error('boom');
        }),
        s.mutate((d) => addUser(d, 'b', 'h', new Date(now.getTime() + 1))),
        s.mutate((d) => addUser(d, 'a', 'h', now)), // duplicate: refused
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected']);
      assert.deepEqual(s.data.users.map((u) => u.name), ['a', 'b']);
      const s2 = await backend.again();
      assert.deepEqual(s2.data.users.map((u) => u.name), ['a', 'b'], 'what was kept is exactly what was acknowledged');
      await Promise.all([s.close(), s2.close()]);
    });

    test('onChange: each committed change is told once (before its mutate resolves), a refused one not at all; a failing listener fails nothing', async () => {
      const s = await backend.fresh();
      const told: [string[], string[]][] = [];
      s.onChange(() => {
        throw new Error('a broken listener');
      });
      s.onChange((before, after) => told.push([before.users.map((u) => u.name), after.users.map((u) => u.name)]));
      await s.mutate((d) => addUser(d, 'alice', 'h', now));
      assert.deepEqual(told, [[[], ['alice']]]);
      await assert.rejects(s.mutate((d) => addUser(d, 'alice', 'h', now)), /already exists/);
      assert.equal(told.length, 1);
      // Another store over the same state (another node, in a cluster) is told of this one's changes too.
      const s2 = await backend.again();
      if (backend.name === 'redis') {
        const remote: string[][] = [];
        s2.onChange((_b, after) => remote.push(after.users.map((u) => u.name)));
        await s.mutate((d) => addUser(d, 'bob', 'h', new Date(now.getTime() + 1)));
        await s2.sync('test');
        assert.deepEqual(remote, [['alice', 'bob']]);
      }
      await Promise.all([s.close(), s2.close()]);
    });

    test('users: add, change a hash, remove (with the IPs they held)', async () => {
      const s = await backend.fresh();
      await s.mutate((d) => {
        addUser(d, 'alice', 'h1', now);
        addUser(d, 'bob', 'h1', new Date(now.getTime() + 1));
        authoriseIp(d, '203.0.113.7', 'alice', 60, now);
        authoriseIp(d, '203.0.113.8', 'bob', 60, now);
      });
      await s.mutate((d) => setUserHash(d, 'bob', 'h2', now));
      const { removedIps } = await s.mutate((d) => removeUser(d, 'alice'));
      assert.equal(removedIps, 1);
      const s2 = await backend.again();
      for (const x of [s, s2]) {
        assert.deepEqual(x.data.users.map((u) => [u.name, u.hash]), [['bob', 'h2']]);
        assert.deepEqual(x.data.ips.map((e) => e.user), ['bob']);
      }
      await Promise.all([s.close(), s2.close()]);
    });

    test('ip table: add/refresh per (ip,user), revoke, expire', async () => {
      const s = await backend.fresh();
      await s.mutate((d) => {
        authoriseIp(d, '203.0.113.7', 'alice', 60, now);
        authoriseIp(d, '203.0.113.7', 'bob', 3600, now);
        authoriseIp(d, '198.51.100.1', 'carol', 3600, now);
        authoriseIp(d, '203.0.113.7', 'alice', 120, new Date(now.getTime() + 10_000)); // refresh, not a new row
      });
      assert.equal(s.data.ips.length, 3);
      assert.equal(s.data.ips.find((e) => e.user === 'alice')!.expiresAt, new Date(now.getTime() + 130_000).toISOString());
      const expired = await s.mutate((d) => expireIps(d, new Date(now.getTime() + 200_000)));
      assert.deepEqual(expired.map((e) => e.user), ['alice']);
      assert.deepEqual((await s.mutate((d) => revokeIp(d, '203.0.113.7'))).map((e) => e.user), ['bob']);
      await assert.rejects(s.mutate((d) => revokeIp(d, '203.0.113.7')), /not in the authorised-IP table/);
      const s2 = await backend.again();
      assert.deepEqual(s2.data.ips.map((e) => e.ip), ['198.51.100.1']);
      await Promise.all([s.close(), s2.close()]);
    });

    test('tokens: recorded, found by id, revoked once', async () => {
      const s = await backend.fresh();
      const rec = { id: 't1', room: 'r', sub: 'guest', presenter: false, issuedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3600_000).toISOString(), revokedAt: null };
      await s.mutate((d) => recordToken(d, rec));
      await s.mutate((d) => revokeToken(d, 't1', now));
      await assert.rejects(s.mutate((d) => revokeToken(d, 't1', now)), /already revoked/);
      const s2 = await backend.again();
      assert.equal(findToken(s2.data, 't1')?.revokedAt, now.toISOString());
      await Promise.all([s.close(), s2.close()]);
    });

    test('host sessions: kept by hash, removed', async () => {
      const s = await backend.fresh();
      const session = { id: 's1', hash: 'ab'.repeat(32), user: 'alice', ip: '203.0.113.7', createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 60_000).toISOString() };
      await s.mutate((d) => addSession(d, session));
      assert.equal(findSessionByHash(s.data, session.hash)?.id, 's1');
      await s.mutate((d) => removeSessions(d, (x) => x.id === 's1'));
      assert.equal(findSessionByHash(s.data, session.hash), undefined);
      await s.close();
    });

    test('the audit trail keeps only the newest events; login noise has its own ring', async () => {
      const s = await backend.fresh();
      await s.mutate((d) => {
        appendAudit(d, now, 'user.add', 'admin', { user: 'alice' });
        for (let i = 0; i < AUDIT_MAX_EVENTS + 9; i++) appendAudit(d, new Date(now.getTime() + i), 'test', 'me', { i });
        for (let i = 0; i < AUDIT_NOISE_MAX_EVENTS + 500; i++) appendAudit(d, new Date(now.getTime() + i), 'login.failed', 'mallory', { i });
      });
      await s.mutate((d) => void appendAudit(d, new Date(now.getTime() + 10_000_000), 'test', 'me', { i: 'last' }));
      const s2 = await backend.again();
      for (const x of [s, s2]) {
        assert.equal(x.data.audit.length, AUDIT_MAX_EVENTS);
        assert.equal(x.data.audit[0]?.i, 10, 'the oldest were dropped');
        assert.equal(x.data.audit.at(-1)?.i, 'last');
        assert.equal(x.data.auditNoise.length, AUDIT_NOISE_MAX_EVENTS);
      }
      await Promise.all([s.close(), s2.close()]);
    });

    test('recordNoise: coalesced in memory, shown at once, written with the next change, not per event', async () => {
      const s = await backend.fresh();
      const writes = counters.dbWrites;
      for (let i = 0; i < 1000; i++) s.recordNoise('login.failed', 'alice', { ip: '198.51.100.1' }, new Date(now.getTime() + i));
      assert.equal(counters.dbWrites, writes, 'no write for noise');
      assert.deepEqual(s.auditTrail(10).map((e) => [e.type, e.count ?? 1]), [['login.failed', 1000]]);
      const peek = await backend.again();
      assert.equal(peek.data.auditNoise.length, 0, 'not stored yet');
      await peek.close();
      await s.mutate((d) => void appendAudit(d, now, 'user.add', 'admin', { user: 'bob' }));
      assert.equal(counters.dbWrites, writes + 1, 'one write took the noise along');
      const s2 = await backend.again();
      assert.deepEqual(s2.data.auditNoise.map((e) => [e.type, e.count]), [['login.failed', 1000]]);
      await Promise.all([s.close(), s2.close()]);
    });
  });
}

describe('a cluster store: several nodes on one Redis', () => {
  const conns: RedisConnection[] = [];
  const node = async () => {
    const c = await connectRedis(redis.url, log);
    conns.push(c);
    return openRedisStore(c, log);
  };
  after(async () => {
    await Promise.all(conns.map((c) => c.close()));
  });

  test('a change on one node reaches the others at once; the same change at once on two nodes is decided once', async () => {
    await redis.cli('FLUSHALL');
    const [a, b, c] = [await node(), await node(), await node()];
    await a.mutate((d) => addUser(d, 'alice', 'h', now));
    await until(() => b.data.users.length === 1 && c.data.users.length === 1, 'the other nodes have the user', 2000);
    // 30 parallel adds of one name from three nodes: exactly one wins, the rest are told it exists.
    const results = await Promise.allSettled([a, b, c].flatMap((s) => Array.from({ length: 10 }, () => s.mutate((d) => addUser(d, 'race', 'h', now)))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.match((r.reason as Error).message, /already exists/);
    // Interleaved writes from all three: every acknowledged one is there, on every node.
    await Promise.all([a, b, c].flatMap((s, n) => Array.from({ length: 20 }, (_, i) => s.mutate((d) => void appendAudit(d, now, 'test', `node${n}`, { i })))));
    for (const s of [a, b, c]) {
      await s.sync('test');
      assert.equal(s.data.audit.filter((e) => e.type === 'test').length, 60);
      assert.deepEqual(s.data.users.map((u) => u.name), ['alice', 'race']);
    }
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  test('a node writing without pause does not starve another node\'s change', async () => {
    await redis.cli('FLUSHALL');
    const a = await node();
    const b = await node();
    let doneOnA = 0;
    const total = 400;
    const stream = (async () => {
      for (let i = 0; i < total; i++) {
        await a.mutate((d) => void appendAudit(d, now, 'stream', 'a', { i }));
        doneOnA++;
      }
    })();
    // Let the stream get going, then one change on b: it lands while a is still writing.
    await until(() => doneOnA >= 20, 'a is writing', 10_000);
    await b.mutate((d) => addUser(d, 'from-b', 'h', now));
    const seenWhenBLanded = doneOnA;
    await stream;
    assert.ok(seenWhenBLanded < total, `b's change waited for all ${total} of a's writes`);
    await a.sync('test');
    assert.deepEqual(a.data.users.map((u) => u.name), ['from-b']);
    assert.equal(a.data.audit.filter((e) => e.type === 'stream').length, total);
    await Promise.all([a.close(), b.close()]);
  });

  test('a node far behind (past the change log) reads the whole state again', async () => {
    await redis.cli('FLUSHALL');
    const a = await node();
    const b = await node();
    // b stops following (as if cut off); a writes more than the log keeps.
    await b.close();
    for (let i = 0; i < 1100; i++) await a.mutate((d) => void appendAudit(d, now, 'test', 'a', { i }));
    await a.mutate((d) => addUser(d, 'late', 'h', now));
    const c = await node();
    assert.deepEqual(c.data.users.map((u) => u.name), ['late']);
    assert.equal(c.version(), a.version());
    await Promise.all([a.close(), c.close()]);
  });

  test('Redis killed (kill -9) and restarted: every acknowledged change is there (appendonly, fsync always)', async () => {
    await redis.cli('FLUSHALL');
    const a = await node();
    const acked: string[] = [];
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.mutate((d) => addUser(d, `u${i}`, 'h', new Date(now.getTime() + i))).then(() => acked.push(`u${i}`))));
    await redis.kill();
    await redis.restart();
    const b = await node();
    assert.deepEqual(b.data.users.map((u) => u.name).sort(), acked.sort());
    // The node that lived through it reconnects by itself and goes on writing.
    await until(async () => {
      try {
        await a.mutate((d) => addUser(d, 'after-restart', 'h', now));
        return true;
      } catch {
        return false;
      }
    }, 'the first node writes again', 10_000);
    await b.sync('test');
    assert.ok(b.data.users.some((u) => u.name === 'after-restart'));
    await Promise.all([a.close(), b.close()]);
  });

  test('Redis away: a change and a sync fail with a clear error and nothing changes; back: both work again', async () => {
    await redis.cli('FLUSHALL');
    const a = await node();
    await a.mutate((d) => addUser(d, 'before', 'h', now));
    await redis.stop();
    try {
      const err = await a.mutate((d) => addUser(d, 'during', 'h', now)).then(() => null, (e: unknown) => e);
      assert.ok(isConfdError(err) && err.code === 'cluster_unavailable', String(err));
      assert.match((err as Error).message, /Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable.*try again shortly/);
      await assert.rejects(a.sync('log in'), /cannot log in: the cluster's Redis/);
      assert.deepEqual(a.data.users.map((u) => u.name), ['before'], 'the copy in memory is what was acknowledged');
    } finally {
      await redis.restart();
    }
    await until(async () => (await a.sync('test').then(() => true, () => false)), 'sync works again', 10_000);
    await a.mutate((d) => addUser(d, 'after', 'h', now));
    assert.deepEqual(a.data.users.map((u) => u.name), ['before', 'after']);
    await a.close();
  });

  describe('data in Redis that no node wrote', () => {
    /** A node whose log lines are kept: the lines saying it skipped bad data. */
    const watched = async () => {
      const lines: any[] = [];
      const c = await connectRedis(redis.url, log);
      conns.push(c);
      const store = await openRedisStore(c, createLogger('warn', { write: (l: string) => void lines.push(JSON.parse(l)) }));
      return { store, skipped: () => lines.filter((l) => l.msg === BAD_DATA_MESSAGE) };
    };

    test('entries of the state that are not entries are skipped, each said once, and the rest is used', async () => {
      await redis.cli('FLUSHALL');
      const a = await node();
      await a.mutate((d) => addUser(d, 'alice', 'h', now));
      await redis.cli('HSET', KEY.users, 'mallory', '{oops');
      await redis.cli('HSET', KEY.users, 'bob', JSON.stringify({ name: 'mallory', hash: 'h', createdAt: 'x', updatedAt: 'x' }));
      await redis.cli('HSET', KEY.tokens, 't1', JSON.stringify({ id: 't1', room: 'r' }));
      await redis.cli('RPUSH', KEY.audit, '7');
      // A node starting now (and one reading the whole state again) takes what it can use.
      const b = await watched();
      assert.deepEqual(b.store.data.users.map((u) => u.name), ['alice']);
      assert.deepEqual(b.store.data.tokens, []);
      assert.deepEqual(b.skipped().map((l) => l.key).sort(), [`${KEY.audit}`, `${KEY.tokens} t1`, `${KEY.users} bob`, `${KEY.users} mallory`]);
      await b.store.mutate((d) => addUser(d, 'carol', 'h', now));
      await a.sync('test');
      assert.deepEqual(a.data.users.map((u) => u.name), ['alice', 'carol']);
      await Promise.all([a.close(), b.store.close()]);
    });

    test('a version that is not a count, and a log entry ahead of the version: changes go on, and the version is a count again', async () => {
      await redis.cli('FLUSHALL');
      const a = await watched();
      const b = await node();
      await a.store.mutate((d) => addUser(d, 'alice', 'h', now));
      await redis.cli('SET', KEY.version, 'not a number');
      await a.store.sync('test');
      await a.store.mutate((d) => addUser(d, 'bob', 'h', now));
      assert.equal(await redis.cli('GET', KEY.version), '2');
      await until(() => b.data.users.length === 2, 'b follows the change');
      await b.mutate((d) => addUser(d, 'carol', 'h', now));
      assert.equal(a.skipped().filter((l) => l.key === KEY.version).length, 1, 'said once');
      // An entry for the next version, written before it: the next commit starts the log again.
      await redis.cli('XADD', KEY.log, '4-1', 'd', '{oops');
      await b.mutate((d) => addUser(d, 'dave', 'h', now));
      await a.store.sync('test');
      assert.deepEqual(a.store.data.users.map((u) => u.name), ['alice', 'bob', 'carol', 'dave']);
      assert.equal(await redis.cli('GET', KEY.version), '4');
      await Promise.all([a.store.close(), b.close()]);
    });

    test('a malformed change-log entry: the node reads the whole state again, says so once, and follows the log on', async () => {
      await redis.cli('FLUSHALL');
      const a = await watched();
      const b = await node();
      await b.mutate((d) => addUser(d, 'alice', 'h', now));
      await until(() => a.store.data.users.length === 1, 'a follows');
      await redis.cli('EVAL', "local v = redis.call('INCR', KEYS[1]) redis.call('XADD', KEYS[2], v .. '-1', 'd', ARGV[1]) redis.call('PUBLISH', ARGV[2], v) return v", '2', KEY.version, KEY.log, '{"users":1}', CHANGED_CHANNEL);
      await a.store.sync('log in');
      assert.equal(a.store.version(), 2);
      await b.mutate((d) => addUser(d, 'bob', 'h', now));
      await until(() => a.store.data.users.length === 2, 'a follows the change after it');
      assert.equal(a.store.version(), 3);
      assert.deepEqual(a.skipped().map((l) => [l.key, l.problem]), [[`${KEY.log} 2-1`, 'users: Invalid input: expected object, received number']]);
      await Promise.all([a.store.close(), b.close()]);
    });
  });
});
