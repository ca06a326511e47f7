/**
 * The login limits of login-limiter.ts kept in the cluster's Redis, so that every node counts the
 * same failures: a guesser spreading a burst over several nodes gets no more guesses than against one.
 * Same semantics, same tests (login-limiter.test.ts runs every case against both backends).
 *
 * Each operation is one Lua script (EVALSHA, EVAL when Redis does not have it cached yet), so a check
 * and the count that follows it are atomic across nodes: of a parallel burst on one key, however it is
 * spread over nodes, at most the in-flight limit get through. Per limited key K (`u:NAME`, `ip:ADDR`):
 *   PREFIX fail:K      sorted set: attempt id -> when it began (or failed); entries older than the
 *                      window are trimmed; the key expires a window after its newest entry.
 *   PREFIX block:K     "blocked until" (ms), expiring when the block ends.
 *   PREFIX inflight:K  sorted set: attempt id -> its deadline (now + inFlightTtlMs). A node that
 *                      crashes (or a call that timed out after Redis ran it) cannot leave K busy:
 *                      its entry stops counting at the deadline; the key expires inFlightTtlMs
 *                      after its newest entry.
 * Every key expires, so Redis holds at most what the last window's attempts wrote. The counts compare
 * the callers' `now` (passed to the scripts, so tests can set them); the expiries, which only bound
 * memory, run the same durations on Redis's clock.
 *
 * The keys of one call hash to different Redis Cluster slots: this needs one Redis (replicas are fine),
 * as cluster.redis names, not a sharded Redis Cluster.
 *
 * Every call goes through `redis.run`: an unreachable Redis is a ConfdError('cluster_unavailable'),
 * which refuses the login (HTTP 503) rather than letting it through unlimited.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrorReply } from 'redis';
import type { RedisClient, RedisConnection } from '../redis/connection.ts';
import { BUSY_RETRY_MS, type FailureRecord, type LoginAttempt, type LoginLimiter, type LoginLimiterOptions } from './login-limiter.ts';

export const LOGIN_KEY_PREFIX = 'confd:login:';
/** How long an attempt counts as in flight at most: a password check takes well under a second. */
export const IN_FLIGHT_TTL_MS = 30_000;

export interface RedisLoginLimiterOptions extends LoginLimiterOptions {
  /** Key prefix (default LOGIN_KEY_PREFIX): limiters that count separately need separate prefixes. */
  prefix?: string;
  /** In-flight entries stop counting this long after their attempt began (default IN_FLIGHT_TTL_MS). */
  inFlightTtlMs?: number;
}

// Lua numbers are doubles; '%.0f' writes a millisecond time as an integer (tostring would use %.14g).
// A block key holds "blocked until" (ms), at most a window ahead, as the scripts below write it. Any
// other value was not written by a node: one that is not a time counts as no block, and one further
// ahead as a block of one window from now (written so, with its expiry), so that no value in Redis
// can fail every check of a key or lock a user or address out for good.
const LUA_HEAD = `local function int(x) return string.format('%.0f', x) end
local function blockedUntil(k, now, window)
  local untilMs = tonumber(redis.call('GET', k) or '0')
  if not untilMs then return 0 end
  if untilMs > now + window then
    untilMs = now + window
    redis.call('SET', k, int(untilMs), 'PX', int(window))
  end
  return untilMs
end
`;

/** KEYS: fail, block, inflight per key. ARGV: now, window, max, attempt id, in-flight ttl, limit per key (-1: none). */
const BEGIN = `${LUA_HEAD}
local now, window, max, id, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local n = #KEYS / 3
for i = 1, n do
  local untilMs = blockedUntil(KEYS[3 * i - 1], now, window)
  if untilMs > now then return {'blocked', i, untilMs - now} end
end
for i = 1, n do
  local fail, inflight, limit = KEYS[3 * i - 2], KEYS[3 * i], tonumber(ARGV[5 + i])
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', int(now))
  if limit >= 0 and redis.call('ZCARD', inflight) >= limit then return {'busy', i} end
  -- Reservations of attempts still being checked fill the quota too: refuse until they are decided.
  redis.call('ZREMRANGEBYSCORE', fail, '-inf', int(now - window))
  if redis.call('ZCARD', fail) >= max then return {'busy', i} end
end
for i = 1, n do
  redis.call('ZADD', KEYS[3 * i - 2], int(now), id)
  redis.call('PEXPIRE', KEYS[3 * i - 2], int(window))
  redis.call('ZADD', KEYS[3 * i], int(now + ttl), id)
  redis.call('PEXPIRE', KEYS[3 * i], int(ttl))
end
return {'ok'}
`;

/** KEYS: fail, block, inflight per key. ARGV: now, window, max, attempt id. Returns the indexes of the keys it blocked. */
const FAILED = `${LUA_HEAD}
local now, window, max, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n = #KEYS / 3
for i = 1, n do redis.call('ZREM', KEYS[3 * i], id) end
local blocked = {}
for i = 1, n do
  local fail, block, inflight = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', int(now))
  redis.call('ZREMRANGEBYSCORE', fail, '-inf', int(now - window))
  -- Decided failures only: the reservations of attempts still being checked are not yet failures.
  local decided = redis.call('ZCARD', fail) - redis.call('ZCARD', inflight)
  local untilMs = blockedUntil(block, now, window)
  if decided >= max and untilMs <= now then
    redis.call('SET', block, int(now + window), 'PX', int(window))
    blocked[#blocked + 1] = i
  end
end
return blocked
`;

/** KEYS: fail, inflight per key of the attempt, then the fail keys to forgive. ARGV: number of attempt keys, attempt id. */
const FINISHED = `
local n, id = tonumber(ARGV[1]), ARGV[2]
for i = 1, n do
  redis.call('ZREM', KEYS[2 * i - 1], id)
  redis.call('ZREM', KEYS[2 * i], id)
end
for j = 2 * n + 1, #KEYS do redis.call('DEL', KEYS[j]) end
return 0
`;

/** KEYS: fail, block per key. ARGV: now, window, max, failure id. {0, i, wait}: key i was blocked; {1, blocked indexes...}. */
const RECORD_FAILURE = `${LUA_HEAD}
local now, window, max, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n = #KEYS / 2
for i = 1, n do
  local untilMs = blockedUntil(KEYS[2 * i], now, window)
  if untilMs > now then return {0, i, untilMs - now} end
end
local result = {1}
for i = 1, n do
  local fail = KEYS[2 * i - 1]
  redis.call('ZREMRANGEBYSCORE', fail, '-inf', int(now - window))
  redis.call('ZADD', fail, int(now), id)
  redis.call('PEXPIRE', fail, int(window))
  if redis.call('ZCARD', fail) >= max then
    redis.call('SET', KEYS[2 * i], int(now + window), 'PX', int(window))
    result[#result + 1] = i
  end
end
return result
`;

/** KEYS: block per key. ARGV: now, window. How long the longest block of these keys still runs (ms, 0: none). */
const BLOCKED_FOR = `${LUA_HEAD}
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = 0
for i = 1, #KEYS do wait = math.max(wait, blockedUntil(KEYS[i], now, window) - now) end
return int(wait)
`;

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const SCRIPTS = { begin: script(BEGIN), failed: script(FAILED), finished: script(FINISHED), recordFailure: script(RECORD_FAILURE), blockedFor: script(BLOCKED_FOR) };

/** EVALSHA, and EVAL once when Redis does not know the script (a restart or SCRIPT FLUSH empties its cache). */
async function evalScript(c: RedisClient, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  const options = { keys, arguments: args.map(String) };
  try {
    return await c.evalSha(s.sha, options);
  } catch (e) {
    if (e instanceof ErrorReply && e.message.startsWith('NOSCRIPT')) return c.eval(s.source, options);
    throw e;
  }
}

/** A unique attempt id (sorted-set member): attempts of every node share the keys. */
const attemptId = () => randomBytes(12).toString('base64url');

export function createRedisLoginLimiter(redis: RedisConnection, maxAttempts: number, windowMs: number, opts: RedisLoginLimiterOptions = {}): LoginLimiter {
  const prefix = opts.prefix ?? LOGIN_KEY_PREFIX;
  // PX and PEXPIRE take positive integers.
  const window = Math.max(1, Math.ceil(windowMs));
  const ttl = Math.max(1, Math.ceil(opts.inFlightTtlMs ?? IN_FLIGHT_TTL_MS));
  const limitOf = opts.inFlightLimit ?? (() => Infinity);
  const fail = (k: string) => `${prefix}fail:${k}`;
  const block = (k: string) => `${prefix}block:${k}`;
  const inflight = (k: string) => `${prefix}inflight:${k}`;
  const allKeys = (keys: readonly string[]) => keys.flatMap((k) => [fail(k), block(k), inflight(k)]);
  const run = (what: string, s: Script, keys: string[], args: (string | number)[]) => redis.run(what, (c) => evalScript(c, s, keys, args));

  function attempt(keys: readonly string[], id: string): LoginAttempt {
    let done = false;
    const finish = () => {
      if (done) return false;
      done = true;
      return true;
    };
    const forget = async (forgive: readonly string[]) => {
      const attemptKeys = keys.flatMap((k) => [fail(k), inflight(k)]);
      await run('record the end of a login attempt', SCRIPTS.finished, [...attemptKeys, ...forgive.map(fail)], [keys.length, id]);
    };
    return {
      async failed(later = Date.now()) {
        if (!finish()) return [];
        const blocked = (await run('record a failed login', SCRIPTS.failed, allKeys(keys), [later, window, maxAttempts, id])) as number[];
        return blocked.map((i) => keys[i - 1]!);
      },
      async succeeded(forgive) {
        if (finish()) await forget(forgive);
      },
      async cancelled() {
        if (finish()) await forget([]);
      },
    };
  }

  return {
    async begin(keys, now = Date.now()) {
      const id = attemptId();
      const limits = keys.map((k) => {
        const l = limitOf(k);
        return Number.isFinite(l) ? Math.max(0, Math.floor(l)) : -1;
      });
      const r = (await run('check the login limits', SCRIPTS.begin, allKeys(keys), [now, window, maxAttempts, id, ttl, ...limits])) as [string, number?, number?];
      if (r[0] === 'ok') return { ok: true, attempt: attempt(keys, id) };
      const key = keys[r[1]! - 1]!;
      return r[0] === 'blocked' ? { ok: false, reason: 'blocked', key, retryAfterMs: r[2]! } : { ok: false, reason: 'busy', key, retryAfterMs: BUSY_RETRY_MS };
    },

    async blockedFor(keys, now = Date.now()) {
      if (keys.length === 0) return 0;
      return Number(await run('check the login limits', SCRIPTS.blockedFor, keys.map(block), [now, window]));
    },

    async recordFailure(keys, now = Date.now()): Promise<FailureRecord> {
      const keyPairs = keys.flatMap((k) => [fail(k), block(k)]);
      const r = (await run('record a failed attempt', SCRIPTS.recordFailure, keyPairs, [now, window, maxAttempts, attemptId()])) as number[];
      if (r[0] === 0) return { counted: false, key: keys[r[1]! - 1]!, retryAfterMs: r[2]! };
      return { counted: true, blocked: r.slice(1).map((i) => keys[i - 1]!) };
    },

    async recordSuccess(keys) {
      if (keys.length === 0) return;
      await redis.run('forget failed logins', (c) => c.del(keys.map(fail)));
    },
  };
}
