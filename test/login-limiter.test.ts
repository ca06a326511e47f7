/**
 * The login limits, the same cases against both backends: in memory (one node) and in a real
 * redis-server (test/helpers/redis.ts), where two limiters on two connections play two cluster nodes
 * sharing the counts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import pino from 'pino';
import { connectRedis, type RedisConnection } from '../src/redis/connection.ts';
import type { Config } from '../src/config/load.ts';
import { isConfdError } from '../src/errors.ts';
import { createLoginRoutes } from '../src/http/login-routes.ts';
import { httpStatus } from '../src/protocol/errors.ts';
import type { Store } from '../src/store/db.ts';
import { startRedis, type RunningRedis } from './helpers/redis.ts';
import type { HostProtection } from '../src/auth/host-protection.ts';
import { createLoginGate } from '../src/auth/login-gate.ts';
import { createLoginLimiter, type Admission, type LoginAttempt, type LoginLimiter, type LoginLimiterOptions } from '../src/auth/login-limiter.ts';
import { createRedisLoginLimiter, IN_FLIGHT_TTL_MS, LOGIN_KEY_PREFIX, type RedisLoginLimiterOptions } from '../src/auth/login-limiter-redis.ts';

const WINDOW = 60_000;
const log = pino({ level: 'silent' });
const ok = (a: Admission): LoginAttempt => {
  assert.ok(a.ok, `refused: ${JSON.stringify(a)}`);
  return a.attempt;
};

/** A fresh, empty set of counts; `node(i)` is the limiter of cluster node i (one and the same in memory). */
interface Backend {
  name: string;
  fresh(maxAttempts: number, windowMs: number, opts?: RedisLoginLimiterOptions): Promise<{ node(i?: number): LoginLimiter }>;
}

let redis: RunningRedis;
/** Two connections: two nodes. */
const conns: RedisConnection[] = [];

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) conns.push(await connectRedis(redis.url, log));
});
after(async () => {
  await Promise.all(conns.map((c) => c.close()));
  await redis.stop();
});

const backends: Backend[] = [
  {
    name: 'memory',
    async fresh(max, windowMs, opts) {
      const l = createLoginLimiter(max, windowMs, opts);
      return { node: () => l };
    },
  },
  {
    name: 'redis',
    async fresh(max, windowMs, opts) {
      await conns[0]!.client.flushAll();
      const nodes = conns.map((c) => createRedisLoginLimiter(c, max, windowMs, opts));
      return { node: (i = 0) => nodes[i]! };
    },
  },
];

for (const backend of backends) {
  describe(`login limiter (${backend.name})`, () => {
    const limiter = async (max: number, windowMs = WINDOW, opts?: LoginLimiterOptions) => (await backend.fresh(max, windowMs, opts)).node();

    test('an attempt is counted when it begins: parallel attempts cannot all pass the check', async () => {
      const l = await limiter(3);
      const keys = ['u:alice', 'ip:198.51.100.1'];
      const started = [ok(await l.begin(keys, 0)), ok(await l.begin(keys, 0)), ok(await l.begin(keys, 0))];
      // Three are being checked: a fourth would exceed the limit if they all fail.
      const fourth = await l.begin(keys, 0);
      assert.equal(fourth.ok, false);
      assert.equal(!fourth.ok && fourth.reason, 'busy');
      assert.deepEqual(await started[0]!.failed(1), []);
      assert.deepEqual(await started[1]!.failed(1), []);
      assert.deepEqual((await started[2]!.failed(2)).sort(), ['ip:198.51.100.1', 'u:alice'], 'the third failure blocks both keys');
      const after = await l.begin(keys, 3);
      assert.ok(!after.ok && after.reason === 'blocked' && after.retryAfterMs === WINDOW - 1, JSON.stringify(after));
      assert.equal((await l.begin(keys, WINDOW + 2)).ok, true, 'the block ends a window after the failure that set it');
    });

    test('in-flight caps per key; a success forgives the user, not the address; a cancelled attempt costs nothing', async () => {
      const l = await limiter(3, WINDOW, { inFlightLimit: (k) => (k.startsWith('u:') ? 1 : 2) });
      const a = ok(await l.begin(['u:alice', 'ip:A'], 0));
      const busy = await l.begin(['u:alice', 'ip:B'], 0);
      assert.ok(!busy.ok && busy.reason === 'busy' && busy.key === 'u:alice' && busy.retryAfterMs > 0);
      const b = ok(await l.begin(['u:bob', 'ip:A'], 0));
      const third = await l.begin(['u:carol', 'ip:A'], 0);
      assert.ok(!third.ok && third.key === 'ip:A', 'two per address');
      await a.failed(1);
      await b.cancelled();
      // alice: 1 failure; ip:A: 1 failure (bob's attempt was cancelled).
      const c = ok(await l.begin(['u:alice', 'ip:A'], 2));
      await c.succeeded(['u:alice']);
      await ok(await l.begin(['u:x', 'ip:A'], 3)).failed(3);
      // ip:A holds alice's first failure and x's: one more blocks it. alice herself was forgiven.
      assert.deepEqual(await ok(await l.begin(['u:y', 'ip:A'], 4)).failed(4), ['ip:A']);
      assert.equal((await l.begin(['u:alice', 'ip:C'], 5)).ok, true);
    });

    test('finishing an attempt twice changes nothing', async () => {
      const l = await limiter(2);
      const a = ok(await l.begin(['k'], 0));
      await a.failed(0);
      await a.failed(0);
      await a.cancelled();
      assert.equal((await l.begin(['k'], 1)).ok, true, 'one failure counted, not two');
    });

    test('blockedFor / recordFailure (the API key limit) block after maxAttempts and say which keys; a blocked key counts nothing more', async () => {
      const l = await limiter(2);
      assert.deepEqual(await l.recordFailure(['ip:A'], 0), { counted: true, blocked: [] });
      assert.deepEqual(await l.recordFailure(['ip:A'], 1), { counted: true, blocked: ['ip:A'] });
      assert.equal(await l.blockedFor(['ip:A'], 2), WINDOW - 1);
      assert.equal(await l.blockedFor(['ip:B', 'ip:A'], 2), WINDOW - 1);
      assert.equal(await l.blockedFor(['ip:B'], 2), 0);
      assert.deepEqual(await l.recordFailure(['ip:A'], 3), { counted: false, key: 'ip:A', retryAfterMs: WINDOW - 2 });
      // After the block, the failures before it are out of the window: two more are needed again.
      assert.equal(await l.blockedFor(['ip:A'], WINDOW + 1), 0);
      assert.deepEqual(await l.recordFailure(['ip:A'], WINDOW + 1), { counted: true, blocked: [] }, 'the refused failure at 3 was not counted');
      await l.recordSuccess(['ip:A']);
      assert.deepEqual(await l.recordFailure(['ip:A'], WINDOW + 2), { counted: true, blocked: [] }, 'recordSuccess forgot the failures');
    });

    test('a parallel burst of 20 on one key, spread over two nodes: at most the in-flight limit get through, and the quota holds', async () => {
      const keys = ['u:alice', 'ip:198.51.100.7'];
      const counts = await backend.fresh(3, WINDOW, { inFlightLimit: (k) => (k.startsWith('u:') ? 1 : 2) });
      const burst = (now: number) => Promise.all(Array.from({ length: 20 }, (_, i) => counts.node(i % 2).begin(keys, now)));
      let through = (await burst(0)).filter((a) => a.ok);
      assert.equal(through.length, 1, 'one check per user name at a time');
      await through[0]!.attempt.failed(1);

      // Without in-flight caps the failure quota is the limit: reservations fill it.
      const open = await backend.fresh(5, WINDOW);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => open.node(i % 2).begin(keys, 0)));
      through = answers.filter((a) => a.ok);
      assert.equal(through.length, 5, 'exactly maxAttempts reservations');
      assert.ok(answers.every((a) => a.ok || a.reason === 'busy'));
      const blocked = (await Promise.all(through.map((a) => a.attempt.failed(1)))).flat().sort();
      assert.deepEqual(blocked, ['ip:198.51.100.7', 'u:alice'], 'each key blocked once, by the last failure decided');
      for (const i of [0, 1]) {
        const next = await open.node(i).begin(keys, 2);
        assert.ok(!next.ok && next.reason === 'blocked', `node ${i} sees the block`);
      }
      // recordFailure bursts are exact too: of 20 parallel wrong API keys, the 5th blocks and the rest are refused.
      const api = await backend.fresh(5, WINDOW);
      const records = await Promise.all(Array.from({ length: 20 }, (_, i) => api.node(i % 2).recordFailure(['ip:A'], 0)));
      assert.equal(records.filter((r) => r.counted).length, 5);
      assert.equal(records.filter((r) => r.counted && r.blocked.length === 1).length, 1);
    });
  });
}

describe('login limiter in Redis', () => {
  test('a block key no node wrote neither fails the checks nor locks out for good: not a time is no block, too far ahead is one window', async () => {
    await conns[0]!.client.flushAll();
    const l = createRedisLoginLimiter(conns[0]!, 3, WINDOW);
    const blockKey = (k: string) => `${LOGIN_KEY_PREFIX}block:${k}`;
    await conns[0]!.client.set(blockKey('u:eve'), 'not a time');
    assert.equal((await l.begin(['u:eve', 'ip:A'], 0)).ok, true);
    assert.equal(await l.blockedFor(['u:eve'], 0), 0);
    assert.deepEqual(await l.recordFailure(['u:eve'], 0), { counted: true, blocked: [] });
    // Blocked until long after the end of the window, and with no expiry: blocked for one window.
    for (const k of ['u:mallory', 'ip:B']) await conns[0]!.client.set(blockKey(k), String(1e15));
    const refused = await l.begin(['u:mallory', 'ip:C'], 0);
    assert.ok(!refused.ok && refused.reason === 'blocked' && refused.retryAfterMs === WINDOW, JSON.stringify(refused));
    assert.equal(await l.blockedFor(['ip:B'], 0), WINDOW);
    for (const k of ['u:mallory', 'ip:B']) assert.ok((await conns[0]!.client.pTTL(blockKey(k))) > 0, `${k}'s block expires`);
    assert.equal((await l.begin(['u:mallory', 'ip:C'], WINDOW + 1)).ok, true, 'and ends a window later');
  });

  test('every key it writes expires: failures after the window, blocks when they end, in-flight marks after their ttl', async () => {
    const counts = await backends[1]!.fresh(2, WINDOW, { inFlightLimit: () => 1 });
    const l = counts.node();
    const a = ok(await l.begin(['u:alice', 'ip:A'], 0));
    await a.failed(0);
    ok(await l.begin(['u:alice', 'ip:A'], 1)); // left in flight
    await l.recordFailure(['ip:B'], 0);
    await l.recordFailure(['ip:B'], 0);
    const keys = (await conns[0]!.client.keys(`${LOGIN_KEY_PREFIX}*`)).sort();
    assert.deepEqual(keys, [
      'block:ip:B',
      'fail:ip:A',
      'fail:ip:B',
      'fail:u:alice',
      'inflight:ip:A',
      'inflight:u:alice',
    ].map((k) => LOGIN_KEY_PREFIX + k));
    for (const k of keys) {
      const ttl = await conns[0]!.client.pTTL(k);
      const max = k.includes(':inflight:') ? IN_FLIGHT_TTL_MS : WINDOW;
      assert.ok(ttl > 0 && ttl <= max, `${k} expires (PTTL ${ttl}, at most ${max})`);
    }
  });

  test("a crashed node's attempt stops holding its key busy after the in-flight ttl; its reservation stays a failure", async () => {
    const counts = await backends[1]!.fresh(3, WINDOW, { inFlightLimit: () => 1, inFlightTtlMs: 5_000 });
    ok(await counts.node(0).begin(['u:alice'], 0)); // node 0 dies with this attempt in flight
    const busy = await counts.node(1).begin(['u:alice'], 4_999);
    assert.ok(!busy.ok && busy.reason === 'busy');
    const next = ok(await counts.node(1).begin(['u:alice'], 5_000));
    // The lost attempt counts as a failure: two decided failures (it and this), not yet three.
    assert.deepEqual(await next.failed(5_001), []);
    assert.deepEqual(await ok(await counts.node(1).begin(['u:alice'], 5_002)).failed(5_002), ['u:alice']);
  });

  test('Redis unreachable: every call is a cluster_unavailable ConfdError; the login gate refuses, and /login answers 503 JSON', async () => {
    const lost = await startRedis();
    const conn = await connectRedis(lost.url, log);
    try {
      const l = createRedisLoginLimiter(conn, 3, WINDOW);
      ok(await l.begin(['u:alice'], 0));
      await lost.stop();
      const unavailable = (e: unknown) => isConfdError(e) && e.code === 'cluster_unavailable' && /Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/.test(e.message);
      for (const call of [() => l.begin(['u:alice'], 1), () => l.blockedFor(['ip:A'], 1), () => l.recordFailure(['ip:A'], 1), () => l.recordSuccess(['u:alice'])]) {
        await assert.rejects(call(), unavailable);
      }

      const config = { host: { maxLoginAttempts: 3, loginBlockMinutes: 1 } } as Config;
      const gate = createLoginGate({ config, store: {} as Store, log, now: Date.now, limiter: l });
      await assert.rejects(gate.check('alice', 'password', '198.51.100.1'), unavailable);
      assert.equal(httpStatus('cluster_unavailable'), 503);

      const hosts = { login: (u: string, p: string, ip: string) => gate.check(u, p, ip) } as unknown as HostProtection;
      const routes = createLoginRoutes(hosts, () => '198.51.100.1');
      const server = createServer((req, res) => void routes(req, res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const { port } = server.address() as { port: number };
        const r = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'password' }) });
        assert.equal(r.status, 503);
        assert.ok(Number(r.headers.get('retry-after')) >= 1, 'says when to retry');
        const body = (await r.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'cluster_unavailable');
        assert.match(body.error.message, /unreachable.*try again/);
      } finally {
        await new Promise((r) => server.close(r));
      }
    } finally {
      await conn.close();
      await lost.stop();
    }
  });
});
