import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RedisConnection } from '../redis/connection.ts';
import { badDataLog } from '../redis/bad-data.ts';
import { AUDIT_MAX_EVENTS, AUDIT_NOISE_MAX_EVENTS } from './audit.ts';
import { createStore, type Store, type StoreBackend, type StoreListener } from './db.ts';
import { applyDelta, diffStore, isEmptyDelta, type StoreDelta } from './delta.ts';
import { changesAfter, readEntries, readEvents, type Skip } from './redis-state.ts';
import { emptyStore, type StoreData } from './schema.ts';

/**
 * The store of a cluster, in Redis. Each collection is a hash of JSON entries (users by name, ips by
 * "ip user", tokens and sessions by id), each audit ring a list; `version` counts committed changes.
 * A change is committed by one Lua script that checks the version it was built on, applies the delta,
 * bumps the version, appends the delta to a short log and publishes the new version: atomic and, with
 * `appendfsync always`, on disk before it is acknowledged.
 *
 * Every node keeps the whole state in memory (reads are as fast as on a single node) and follows the
 * log: on each published version, on reconnect, before a login or join (sync), and every few seconds
 * in case a message was lost. A node whose copy is older than the log's oldest entry reads it all again,
 * and so does one that finds an entry in the log that no node wrote (redis-state.ts): its change is
 * unknown, and the whole state is what holds. Entries of the state that no node wrote are skipped.
 */
export const KEY = {
  version: 'confd:store:version',
  users: 'confd:store:users',
  ips: 'confd:store:ips',
  tokens: 'confd:store:tokens',
  sessions: 'confd:store:sessions',
  audit: 'confd:store:audit',
  auditNoise: 'confd:store:audit-noise',
  log: 'confd:store:log',
} as const;
export const CHANGED_CHANNEL = 'confd:store:changed';
/** Deltas kept for nodes catching up; one further behind reads the whole state. */
const LOG_LENGTH = 1000;
/** Builds of one change when other nodes keep writing in between: past this, it is refused. */
const MAX_ATTEMPTS = 50;
/** Safety net for a lost pub/sub message: a node is never more than this behind. */
const POLL_MS = 2000;

/**
 * The version counts commits. When its key holds anything else (no node wrote that), the version of
 * the newest entry in the log counts instead: every node and the commit script read it alike, and
 * the next commit writes a count again. Past 14 digits Lua would write a number as "1e+14": no node
 * gets there, so such a value is not a count either. Returns the version and whether it was a count.
 */
const VERSION_LUA = `
local function version(versionKey, logKey)
  local raw = redis.call('GET', versionKey)
  if not raw then return 0, true end
  if raw == '0' or (#raw <= 14 and string.match(raw, '^[1-9]%d*$')) then return tonumber(raw), true end
  local top = redis.call('XREVRANGE', logKey, '+', '-', 'COUNT', 1)[1]
  local n = top and string.match(top[1], '^([1-9]%d*)%-1$')
  if n and #n <= 14 then return tonumber(n), false end
  return 0, false
end
`;

/** {version, 1 when the key held a count} */
const READ_VERSION_SCRIPT = `${VERSION_LUA}
local v, counted = version(KEYS[1], KEYS[2])
return {v, counted and 1 or 0}
`;

const COMMIT_SCRIPT = `${VERSION_LUA}
local v = version(KEYS[1], KEYS[8])
if v ~= tonumber(ARGV[1]) then return -1 end
v = v + 1
-- Only an entry no node wrote can stand at this version or past it: the log then starts again from
-- this change (a node behind it reads the whole state, as one behind the log's start does).
local added = redis.pcall('XADD', KEYS[8], 'MAXLEN', ARGV[6], v .. '-1', 'd', ARGV[3])
if type(added) == 'table' and added.err then
  redis.call('DEL', KEYS[8])
  redis.call('XADD', KEYS[8], 'MAXLEN', ARGV[6], v .. '-1', 'd', ARGV[3])
end
local d = cjson.decode(ARGV[2])
local parts = {'users', 'ips', 'tokens', 'sessions'}
for i, name in ipairs(parts) do
  local part = d[name]
  for _, pair in ipairs(part.set) do redis.call('HSET', KEYS[i + 1], pair[1], pair[2]) end
  for _, k in ipairs(part.del) do redis.call('HDEL', KEYS[i + 1], k) end
end
for _, e in ipairs(d.audit) do redis.call('RPUSH', KEYS[6], e) end
if #d.audit > 0 then redis.call('LTRIM', KEYS[6], -tonumber(ARGV[4]), -1) end
for _, e in ipairs(d.auditNoise) do redis.call('RPUSH', KEYS[7], e) end
if #d.auditNoise > 0 then redis.call('LTRIM', KEYS[7], -tonumber(ARGV[5]), -1) end
redis.call('SET', KEYS[1], v)
redis.call('PUBLISH', ARGV[7], v)
return v
`;

/** The delta as the script takes it: entries and events already JSON text (stored as they are). */
function wireDelta(d: StoreDelta) {
  const part = (p: StoreDelta['users']) => ({ set: p.set.map(([k, v]) => [k, JSON.stringify(v)]), del: p.del });
  return {
    users: part(d.users),
    ips: part(d.ips),
    tokens: part(d.tokens),
    sessions: part(d.sessions),
    audit: d.audit.map((e) => JSON.stringify(e)),
    auditNoise: d.auditNoise.map((e) => JSON.stringify(e)),
  };
}

export interface RedisStore extends Store {
  /** The version of the shared state this node has. */
  version(): number;
}

export async function openRedisStore(redis: RedisConnection, log: Logger): Promise<RedisStore> {
  let data: StoreData = emptyStore();
  let version = 0;
  /** Commits and catch-ups one at a time, so the copy moves through versions in order. */
  let turn: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn, fn);
    turn = run.catch(() => {});
    return run;
  };

  const bad = badDataLog(log, 'the cluster state');
  const skip: Skip = (key, problem, value) => bad.skipped(key, problem, value);
  const VERSION_KEYS = { keys: [KEY.version, KEY.log] };
  /** The version as the commit script reads it; one that is not a count is said (once). */
  const counted = ([v, isCount]: [number, number]) => {
    if (!isCount) skip(KEY.version, 'not a count of changes; the newest change in the log counts instead', '');
    return Number(v);
  };
  const readVersion = async (what: string) => counted((await redis.run(what, (c) => c.eval(READ_VERSION_SCRIPT, VERSION_KEYS))) as [number, number]);

  async function loadAll(): Promise<void> {
    const [raw, users, ips, tokens, sessions, audit, auditNoise] = (await redis.run('read the cluster state', (c) =>
      c
        .multi()
        .eval(READ_VERSION_SCRIPT, VERSION_KEYS)
        .hGetAll(KEY.users)
        .hGetAll(KEY.ips)
        .hGetAll(KEY.tokens)
        .hGetAll(KEY.sessions)
        .lRange(KEY.audit, 0, -1)
        .lRange(KEY.auditNoise, 0, -1)
        .exec(),
    )) as unknown as [[number, number], Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, string[], string[]];
    data = {
      version: 1,
      users: readEntries('users', KEY.users, users, skip),
      ips: readEntries('ips', KEY.ips, ips, skip),
      tokens: readEntries('tokens', KEY.tokens, tokens, skip),
      sessions: readEntries('sessions', KEY.sessions, sessions, skip),
      audit: readEvents(KEY.audit, audit, skip),
      auditNoise: readEvents(KEY.auditNoise, auditNoise, skip),
    };
    version = counted(raw);
  }

  let changed: StoreListener = () => {};

  /** Follows the shared state, then reports what other nodes changed. */
  async function catchUp(what: string): Promise<void> {
    const before = data;
    await follow(what);
    if (data !== before) changed(before, data);
  }

  async function follow(what: string): Promise<void> {
    const remote = await readVersion(what);
    if (remote === version) return;
    if (remote < version) {
      // Redis lost what it had acknowledged (restarted without its append-only file?): take what it has now.
      log.warn({ redis: redis.where, had: version, now: remote }, 'the cluster state in Redis is older than this node\'s copy; reloading it (is appendonly on?)');
      await loadAll();
      return;
    }
    const entries = (await redis.run(what, (c) => c.xRange(KEY.log, `${version + 1}-0`, '+'))) ?? [];
    const changes = changesAfter(version, entries, KEY.log);
    if (!changes.ok && !changes.gap) skip(changes.key, changes.problem, changes.value);
    // Past the log's end, a gap, or an entry no node wrote: the whole state tells where things are.
    if (!changes.ok || changes.to < remote) {
      await loadAll();
      return;
    }
    data = changes.deltas.reduce(applyDelta, data);
    version = changes.to;
  }

  const backend: StoreBackend = {
    path: redis.where,
    current: () => data,
    commit: (buildNext) =>
      serial(async () => {
        // Decided on the newest state: catch up first (one GET when nothing is new), then build; when
        // another node still got in between, catch up and build again, all in this one turn.
        await catchUp('save a change');
        for (let attempt = 1; ; attempt++) {
          const base = data;
          const next = buildNext(base);
          if (next === null) return false;
          const delta = diffStore(base, next);
          if (isEmptyDelta(delta)) return false;
          const result = await redis.run('save a change', (c) =>
            c.eval(COMMIT_SCRIPT, {
              keys: [KEY.version, KEY.users, KEY.ips, KEY.tokens, KEY.sessions, KEY.audit, KEY.auditNoise, KEY.log],
              arguments: [String(version), JSON.stringify(wireDelta(delta)), JSON.stringify(delta), String(AUDIT_MAX_EVENTS), String(AUDIT_NOISE_MAX_EVENTS), String(LOG_LENGTH), CHANGED_CHANNEL],
            }),
          );
          if (Number(result) >= 0) {
            data = next;
            version = Number(result);
            changed(base, next);
            return true;
          }
          if (attempt >= MAX_ATTEMPTS) throw new ConfdError('busy', `the cluster state changed under this change ${MAX_ATTEMPTS} times in a row; try again`);
          await catchUp('save a change');
        }
      }),
    sync: (what) => serial(() => catchUp(what)),
    listen: (l) => void (changed = l),
    async close() {
      clearInterval(poll);
      await redis.subscriber.unsubscribe(CHANGED_CHANNEL).catch(() => {});
    },
  };

  try {
    await loadAll();
  } catch (e) {
    throw Object.assign(e as Error, { message: `cannot open the cluster store: ${(e as Error).message}` });
  }

  // One follow-up waiting at a time: a burst of publications from busy nodes costs one catch-up, not one each.
  let followWaiting = false;
  const followUp = (why: string) => {
    if (followWaiting) return;
    followWaiting = true;
    serial(() => {
      followWaiting = false;
      return catchUp(why);
    }).catch((e: unknown) => log.debug({ err: e }, 'could not catch up with the cluster state'));
  };
  await redis.subscriber.subscribe(CHANGED_CHANNEL, (message) => {
    if (Number(message) > version) followUp('follow the cluster state');
  });
  redis.onReconnect(() => followUp('catch up after reconnecting'));
  const poll = setInterval(() => followUp('follow the cluster state'), POLL_MS);
  poll.unref();

  return Object.assign(createStore(backend, log), { version: () => version });
}

