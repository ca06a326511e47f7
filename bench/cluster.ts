/**
 * Cluster figures (issue 15): durable admin writes with the Redis store against lowdb, join-token
 * verify in cluster mode, joins through a node that does not hold the room, and the time from
 * `ip revoke` on one node to the host on another losing its rights. Real parts throughout: a real
 * redis-server (test/helpers/redis.ts: `appendonly yes`, `appendfsync always`), the real stores
 * in-process, and real confd nodes from test/helpers/cluster.ts.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createJoinTokens } from '../src/auth/tokens.ts';
import { loadJwtKey } from '../src/auth/secret.ts';
import { sharedJwtKey } from '../src/cluster/shared-jwt-key.ts';
import { connectRedis, type RedisConnection } from '../src/redis/connection.ts';
import { createLogger } from '../src/log.ts';
import { openStore, type Store } from '../src/store/db.ts';
import { openRedisStore, type RedisStore } from '../src/store/redis-backend.ts';
import { authoriseIp } from '../src/store/ips.ts';
import { appendAudit, AUDIT_MAX_EVENTS } from '../src/store/audit.ts';
import type { StoreData } from '../src/store/schema.ts';
import { cleanup, startConfd, tempDir, type RunningDaemon } from '../test/helpers/daemon.ts';
import { connectVia, ctl, startCluster } from '../test/helpers/cluster.ts';
import { login } from '../test/helpers/login.ts';
import { REDIS_CLI, startRedis, type RunningRedis } from '../test/helpers/redis.ts';
import type { SfuClient } from '../test/helpers/sfu-client.ts';
import { until } from '../test/helpers/wait.ts';
import { closedLoop, fmt, latencyText, median, opsPerSecond, percentile, timeSpawn, type Row, type Section, type SectionOptions, type SectionResult } from './lib.ts';

const log = createLogger('silent');
const PW = 'bench-cluster-password';
const REDIS_DURABLE = 'a redis-server 7 from test/helpers/redis.ts on loopback (appendonly yes, appendfsync always: each acknowledged write is fsynced)';

interface Sizes {
  seqWrites: number;
  parWrites: number;
  benchmarkSets: number;
  adminWrites: number;
  verifyBatch: number;
  verifyRounds: number;
  joins: number;
  revokes: number;
}

const sizes = (quick: boolean): Sizes =>
  quick
    ? { seqWrites: 60, parWrites: 240, benchmarkSets: 1_000, adminWrites: 100, verifyBatch: 5_000, verifyRounds: 3, joins: 10, revokes: 3 }
    : { seqWrites: 1_000, parWrites: 4_000, benchmarkSets: 20_000, adminWrites: 2_000, verifyBatch: 20_000, verifyRounds: 7, joins: 200, revokes: 30 };

const PARALLEL = 8;
const ipFor = (i: number) => `10.77.${(i >> 8) & 255}.${i & 255}`;

/** The change POST /v1/ips makes: an authorised IP refreshed and an audit event. */
const ipAdd = (i: number) => (d: StoreData) => {
  const now = new Date();
  authoriseIp(d, ipFor(i % 256), 'bench', 43200, now);
  appendAudit(d, now, 'ip.add', 'admin', { ip: ipFor(i % 256), user: 'bench' });
};

interface WriteRun {
  perSecond: number;
  latencies: number[];
}

async function writes(store: Store, total: number, concurrency: number): Promise<WriteRun> {
  await closedLoop(Math.min(20, total), concurrency, (i) => store.mutate(ipAdd(i)));
  const r = await closedLoop(total, concurrency, (i) => store.mutate(ipAdd(i)));
  return { perSecond: (total / r.ms) * 1000, latencies: r.latencies };
}

/** A used daemon's steady state: 256 IPs and the audit trail at its cap. */
function fill(d: StoreData): void {
  for (let i = 0; i < 256; i++) ipAdd(i)(d);
  for (let i = d.audit.length; i < AUDIT_MAX_EVENTS; i++) ipAdd(i)(d);
}

const cmdCalls = async (redis: RunningRedis, cmd: string) => Number(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);

// ---------------------------------------------------------------------------------------------
// 1. Durable store writes, and 2. token verify, in-process

async function storeAndTokenRows(o: SectionOptions, s: Sizes): Promise<Row[]> {
  const redis = await startRedis();
  const dir = tempDir('confd-bench-cluster-');
  const conns: RedisConnection[] = [];
  const stores: Store[] = [];
  const open = async () => {
    const c = await connectRedis(redis.url, log);
    conns.push(c);
    const st = await openRedisStore(c, log);
    stores.push(st);
    return { conn: c, store: st };
  };
  try {
    const lowdb = await openStore(dir);
    stores.push(lowdb);
    const node1 = await open();
    const node2 = await open();
    const backends = [
      { name: 'lowdb (single node)', store: lowdb },
      { name: 'Redis store (cluster)', store: node1.store },
    ];
    const rows: Row[] = [];
    const writeRow = (name: string, state: string, c: number, n: number, r: WriteRun, how: string): Row => ({
      name: `${name}: mutate(), ${state}, ${c === 1 ? 'one at a time' : `${c} in flight`}`,
      value: r.perSecond,
      unit: 'writes/s',
      detail: latencyText(r.latencies),
      note: `${n.toLocaleString('en-US')} store.mutate() calls (authoriseIp + appendAudit, the change POST /v1/ips makes) from ${c} closed-loop caller${c > 1 ? 's' : ''} in the bench process, after 20 untimed; ${how}`,
    });
    const lowdbHow = 'lowdb: the JSON file rewritten whole (temp file, fsync, rename, dir fsync) per batch of queued changes.';
    const redisHow = `Redis: one Lua script per batch (version check, delta, log entry, publish) against ${REDIS_DURABLE}.`;
    // Small: from empty, a few hundred changes (each adds an audit event). Full: the audit trail at its cap.
    const SMALL = 300;
    for (const state of [`small store (< ${2 * SMALL + 60} audit events)`, 'full store (256 IPs, 5,000 audit events)']) {
      const small = state.startsWith('small');
      if (!small) {
        o.log('cluster: filling both stores to the audit cap');
        for (const b of backends) await b.store.mutate(fill);
      }
      for (const c of [1, PARALLEL]) {
        for (const b of backends) {
          o.log(`cluster: ${b.name} writes, ${state}, c=${c}`);
          const n = Math.min(c === 1 ? s.seqWrites : s.parWrites, small ? SMALL : Infinity);
          rows.push(writeRow(b.name, state, c, n, await writes(b.store, n, c), b.store === lowdb ? lowdbHow : redisHow));
        }
      }
    }

    rows.push(...(await twoNodeRows(o, s, redis, node1.store, node2.store)));

    rows.push(...(await redisBenchmarkRows(o, redis, s)));

    // 2. Token verify: the same call against each store's in-memory state.
    const verify: { name: string; r: ReturnType<typeof opsPerSecond> }[] = [];
    for (const b of backends) {
      const { key } = b.store === lowdb ? loadJwtKey(null, dir) : await sharedJwtKey(node1.conn, null);
      const tokens = createJoinTokens({ key, store: b.store, defaultTtlSeconds: 3600, maxTtlSeconds: 86400 });
      const issued = await tokens.issue({ room: 'bench-room', sub: 'guest', presenter: false, ttlSeconds: 3600, actor: 'bench' });
      const check = tokens.verifyJoinToken(issued.token, 'bench-room');
      if (!check.ok) throw new Error(`a token issued on the ${b.name} does not verify: ${check.reason}`);
      o.log(`cluster: token verify, ${b.name}`);
      verify.push({ name: b.name, r: opsPerSecond(() => tokens.verifyJoinToken(issued.token, 'bench-room').ok, s.verifyBatch, s.verifyRounds) });
    }
    const [single, cluster] = verify as [(typeof verify)[number], (typeof verify)[number]];
    const how = `median of ${s.verifyRounds} rounds × ${s.verifyBatch.toLocaleString('en-US')} calls after a warm-up round, one process`;
    rows.push(
      {
        name: 'join-token verify, lowdb store (single-node anchor)',
        value: single.r.median,
        unit: 'ops/s',
        detail: `rounds ${fmt(single.r.min)}–${fmt(single.r.max)}/s`,
        note: `verifyJoinToken (createJoinTokens over openStore, key from loadJwtKey) on a token from issue(); ${how}. The control-plane section's row, measured again in this run.`,
      },
      {
        name: 'join-token verify, Redis store (cluster)',
        value: cluster.r.median,
        unit: 'ops/s',
        detail: `rounds ${fmt(cluster.r.min)}–${fmt(cluster.r.max)}/s; ${fmt(cluster.r.median / single.r.median)}× the lowdb figure`,
        target: '>= 30,000/s',
        met: cluster.r.median >= 30_000,
        note: `the same over openRedisStore (the node's in-memory copy; no Redis round trip per verify) with the cluster's shared key (sharedJwtKey); ${how}.`,
      },
    );
    return rows;
  } finally {
    for (const st of stores) await st.close().catch(() => {});
    for (const c of conns) await c.close();
    await redis.stop();
    cleanup(dir, redis.dir);
  }
}

/**
 * Two nodes writing to one Redis: each commit carries the version its batch was built on; when the
 * script finds another node got in between, the node catches up from the log and builds the batch
 * again. A change function runs once per attempt at its batch, so calls beyond one per write count
 * the rebuilds.
 */
async function twoNodeRows(o: SectionOptions, s: Sizes, redis: RunningRedis, node1: RedisStore, node2: RedisStore): Promise<Row[]> {
  let applied = 0;
  const counted = (st: Store, i: number) =>
    st.mutate((d) => {
      applied++;
      ipAdd(i)(d);
    });
  const maxText = (ms: number[]) => `${latencyText(ms)}, max ${fmt(Math.max(...ms))} ms`;

  o.log('cluster: two nodes writing at once');
  const evalsBefore = await cmdCalls(redis, 'eval');
  const versionBefore = node1.version();
  const t0 = performance.now();
  const [one, two] = await Promise.all([node1, node2].map((st) => closedLoop(s.parWrites / 2, PARALLEL / 2, (i) => counted(st, i))));
  const ms = performance.now() - t0;
  await node1.sync('bench');
  const commits = node1.version() - versionBefore;
  const refused = (await cmdCalls(redis, 'eval')) - evalsBefore - commits;
  const rebuilt = applied - s.parWrites;

  o.log('cluster: one write on node 2 during a stream of writes on node 1');
  applied = 0;
  const s0 = performance.now();
  const stream = closedLoop(s.seqWrites, 1, (i) => node1.mutate(ipAdd(i))).then(() => performance.now() - s0);
  await counted(node2, 0);
  const lone = performance.now() - s0;
  const streamMs = await stream;
  return [
    {
      name: `Redis store: two nodes writing at once, ${PARALLEL / 2} in flight each`,
      value: (s.parWrites / ms) * 1000,
      unit: 'writes/s',
      detail: `node 1 ${maxText(one!.latencies)}; node 2 ${maxText(two!.latencies)}; ${commits} commits, ${refused} refused by the script as stale, ${rebuilt} change${rebuilt === 1 ? '' : 's'} applied again on a newer copy`,
      note: `two Redis stores on their own connections (two nodes' stores, in the bench process), ${(s.parWrites / 2).toLocaleString('en-US')} mutate() calls each from ${PARALLEL / 2} closed-loop callers, at once, on the full store. Refused = EVAL calls (INFO commandstats) - versions committed: each refusal is followed by a catch-up and a new build.`,
    },
    {
      name: 'Redis store: one write on node 2 during a stream of writes on node 1',
      value: lone,
      unit: 'ms',
      detail: `node 1's ${s.seqWrites.toLocaleString('en-US')} writes took ${fmt(streamMs)} ms; node 2's change was built ${applied} times`,
      note: `node 1 writes ${s.seqWrites.toLocaleString('en-US')} changes one after another; node 2 starts one write at the same moment; the time until node 2's write resolves.`,
    },
  ];
}

/** Redis's own figure for a durable write on the same server: `redis-benchmark -t set`. */
async function redisBenchmarkRows(o: SectionOptions, redis: RunningRedis, s: Sizes): Promise<Row[]> {
  const bin = join(dirname(REDIS_CLI), 'redis-benchmark');
  if (!existsSync(bin)) {
    o.log(`cluster: ${bin} not found (Debian package redis-tools); no redis-benchmark anchor`);
    return [{ name: 'redis-benchmark -t set', value: NaN, unit: 'req/s', note: `not measured: ${bin} is not installed (Debian package redis-tools).` }];
  }
  const rows: Row[] = [];
  for (const c of [1, PARALLEL]) {
    o.log(`cluster: redis-benchmark -t set -c ${c}`);
    const r = await timeSpawn(bin, ['-h', '127.0.0.1', '-p', String(redis.port), '-t', 'set', '-n', String(s.benchmarkSets), '-c', String(c), '--csv']);
    if (r.code !== 0) throw new Error(`redis-benchmark failed (exit ${r.code}): ${r.stderr}`);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    const [head, line] = r.stdout.trim().split('\n').map((l) => l.split(',').map((f) => f.replace(/"/g, '')));
    const col = (name: string) => Number(line?.[head?.indexOf(name) ?? -1]);
    rows.push({
      name: `redis-benchmark -t set, ${c} connection${c > 1 ? 's' : ''} (anchor)`,
      value: col('rps'),
      unit: 'req/s',
      detail: `p50 ${fmt(col('p50_latency_ms'))} / p99 ${fmt(col('p99_latency_ms'))} ms`,
      note: `redis-benchmark (Debian redis-tools 7.0) -n ${s.benchmarkSets.toLocaleString('en-US')} -c ${c} against the same redis-server: Redis's own ceiling for one fsynced write per request (it fsyncs once per event-loop turn, so concurrent writes share an fsync).`,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// 3. The admin socket, 4. joins and 5. revocations, against real nodes

async function adminWriteRows(o: SectionOptions, s: Sizes, nodes: { name: string; d: RunningDaemon }[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of [1, PARALLEL]) {
    for (const { name, d } of nodes) {
      o.log(`cluster: POST /v1/tokens on ${name}, c=${c}`);
      const issue = async () => {
        const r = await d.admin('POST', '/v1/tokens', { room: 'bench-tokens' });
        if (r.status !== 201) throw new Error(`POST /v1/tokens on ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      };
      await closedLoop(20, c, issue);
      const r = await closedLoop(s.adminWrites, c, issue);
      const registry = ((await d.admin('GET', '/v1/tokens')).body.tokens as unknown[]).length;
      rows.push({
        name: `POST /v1/tokens (token issue) on ${name}, ${c} conn`,
        value: (s.adminWrites / r.ms) * 1000,
        unit: 'req/s',
        detail: `${latencyText(r.latencies)}; ${registry.toLocaleString('en-US')} tokens in the registry after`,
        note: `${s.adminWrites.toLocaleString('en-US')} requests (after 20 untimed) from ${c} closed-loop client${c > 1 ? 's' : ''} over the admin socket (test/helpers RunningDaemon.admin); each answer follows the durable write of the token's registry entry and audit event.`,
      });
    }
  }
  return rows;
}

interface JoinTiming {
  hello: number;
  joined: number;
  hops: number;
  at: string;
}

/** Connects through `entry` (following `moved`) and joins with the router's own capabilities: no media stack. */
async function joinOnce(entry: string, room: string, peerId: string, query?: Record<string, string>, localAddress?: string): Promise<JoinTiming & { client: SfuClient; role: string }> {
  const t0 = performance.now();
  const { client, at, hops } = await connectVia(entry, { room, peerId, ...(query ? { query } : {}), ...(localAddress ? { localAddress } : {}) });
  const hello = await client.hello;
  if (hello instanceof Error || hello.waiting) throw new Error(`join of ${peerId} to ${room} through ${entry}: ${hello instanceof Error ? hello.message : 'waiting'} ${JSON.stringify(client.closeInfo)}`);
  const tHello = performance.now();
  const rtpCapabilities = await client.request('getRouterRtpCapabilities');
  const joined = await client.request('join', { displayName: peerId, device: { name: 'bench-cluster' }, rtpCapabilities });
  return { hello: tHello - t0, joined: performance.now() - t0, hops, at, client, role: joined.role };
}

async function joinRows(o: SectionOptions, s: Sizes, a: RunningDaemon, b: RunningDaemon): Promise<Row[]> {
  const hostToken = await login(a, 'bench', PW);
  const anchor = await joinOnce(a.http, 'bench-join', 'bench-host', { host: hostToken });
  try {
    const owner = anchor.at === a.http ? a : b;
    const other = owner === a ? b : a;
    const direct: JoinTiming[] = [];
    const via: JoinTiming[] = [];
    o.log(`cluster: ${s.joins} joins each, straight to the owner and through the other node`);
    for (let i = 0; i < s.joins * 2; i++) {
      const through = i % 2 === 0 ? owner : other;
      // Each guest from its own loopback address, as guests are: one address gets 20 placements a
      // second (signalling/server.ts), which this loop would exceed from a single one.
      const j = await joinOnce(through.http, 'bench-join', `bench-guest-${i}`, undefined, `127.0.${1 + (Math.floor(i / 250) % 250)}.${1 + (i % 250)}`);
      await j.client.close();
      if (j.at !== owner.http || j.hops !== (through === owner ? 0 : 1)) throw new Error(`a join through ${through.http} ended on ${j.at} after ${j.hops} hops; the room is held by ${owner.http}`);
      (through === owner ? direct : via).push(j);
    }
    const how = `two confd nodes (test/helpers/cluster.ts startCluster: mediasoup.workers 1, host.protected, ${REDIS_DURABLE}) on this box; room "bench-join" held by one of them, a host in it; ${s.joins} guests (each from its own 127.0.x.y address) joined and left one after another along each path, the two paths alternating. Per join, from creating the WebSocket (test/helpers connectVia, which follows "moved") to the answer of join (after getRouterRtpCapabilities; no transport, no media)`;
    const row = (name: string, t: JoinTiming[], extra: string): Row => ({
      name,
      value: median(t.map((x) => x.joined)),
      unit: 'ms p50',
      detail: `p99 ${fmt(percentile(t.map((x) => x.joined), 99))} ms; hello answered p50 ${fmt(median(t.map((x) => x.hello)))} / p99 ${fmt(percentile(t.map((x) => x.hello), 99))} ms${extra}`,
      note: how,
    });
    const added = median(via.map((x) => x.joined)) - median(direct.map((x) => x.joined));
    return [
      row('join straight to the room\'s node (2 nodes)', direct, ''),
      row('join through the other node (moved, reconnect)', via, `; the redirect adds ${fmt(added)} ms at p50`),
    ];
  } finally {
    await anchor.client.close();
  }
}

interface RevokeTiming {
  role: number;
  answered: number;
}

/** Host logs in and joins through `entry`; `ip revoke 127.0.0.1` is sent to `revoker(holder)`; times the host's `role` notification. */
async function revokeOnce(entry: RunningDaemon, room: string, revoker: (holder: string) => RunningDaemon): Promise<RevokeTiming> {
  const token = await login(entry, 'bench', PW);
  const host = await joinOnce(entry.http, room, `${room}-host`, { host: token });
  try {
    if (host.role !== 'host') throw new Error(`the host joined ${room} as ${host.role}`);
    const demoted = host.client.waitForNotification('role', (d) => d.role === 'guest', 5000).then(() => performance.now());
    const t0 = performance.now();
    const r = await revoker(host.at).admin('DELETE', '/v1/ips/127.0.0.1');
    const answered = performance.now() - t0;
    if (r.status !== 200) throw new Error(`ip revoke: ${r.status} ${JSON.stringify(r.body)}`);
    return { role: (await demoted) - t0, answered };
  } finally {
    await host.client.close();
  }
}

async function revokeRows(o: SectionOptions, s: Sizes, a: RunningDaemon, b: RunningDaemon, single: RunningDaemon): Promise<Row[]> {
  const cross: RevokeTiming[] = [];
  const local: RevokeTiming[] = [];
  for (let i = 0; i < s.revokes; i++) {
    // Rooms alternate between the nodes (an empty room goes to the node the join reached); the revoke goes to the other one.
    cross.push(await revokeOnce(i % 2 === 0 ? a : b, `bench-revoke-${i}`, (holder) => (holder === a.http ? b : a)));
    local.push(await revokeOnce(single, `bench-revoke-${i}`, () => single));
    o.log(`cluster: ip revoke round ${i + 1}/${s.revokes}: demoted after ${fmt(cross.at(-1)!.role)} ms (one node: ${fmt(local.at(-1)!.role)} ms)`);
  }
  const roles = cross.map((x) => x.role);
  const detail = (t: RevokeTiming[]) => `max ${fmt(Math.max(...t.map((x) => x.role)))} ms; the revoking request answered p50 ${fmt(median(t.map((x) => x.answered)))} ms`;
  return [
    {
      name: 'ip revoke on node B → host on node A demoted (role: guest)',
      value: median(roles),
      unit: 'ms p50',
      detail: detail(cross),
      target: 'max < 1,000 ms (issue 15: "within a second")',
      met: Math.max(...roles) < 1000,
      note: `two nodes as above; per round a host logs in (POST /login), joins a fresh room through one node (alternately A and B; the room is held there), then DELETE /v1/ips/127.0.0.1 goes to the other node's admin socket; from sending that request to the host's "role" notification. ${s.revokes} rounds.`,
    },
    {
      name: 'ip revoke → host demoted, single node (anchor)',
      value: median(local.map((x) => x.role)),
      unit: 'ms p50',
      detail: detail(local),
      note: `the same rounds against one confd with the lowdb store (startConfd, host.protected), revoked on its own admin socket: the cost without Redis and pub/sub. Interleaved with the rounds above.`,
    },
  ];
}

async function nodeRows(o: SectionOptions, s: Sizes): Promise<Row[]> {
  o.log('cluster: starting redis-server and two nodes');
  const c = await startCluster({ nodes: ['bench-a', 'bench-b'], config: { host: { protected: true } } });
  let single: RunningDaemon | null = null;
  try {
    const [a, b] = c.nodes as [RunningDaemon, RunningDaemon];
    // A node routes joins to the nodes it has seen alive: wait until each sees both.
    for (const n of [a, b]) await until(async () => (await n.admin('GET', '/v1/cluster')).body.nodes.filter((x: { alive: boolean }) => x.alive).length === 2, 'both nodes alive');
    single = await startConfd({ config: { mediasoup: { workers: 1 }, host: { protected: true } } });
    for (const d of [a, single]) await ctl(d, ['user', 'add', 'bench', '--password-stdin'], PW);
    // Token issue last: it leaves thousands of tokens in the state, which every later write carries.
    return [
      ...(await joinRows(o, s, a, b)),
      ...(await revokeRows(o, s, a, b, single)),
      ...(await adminWriteRows(o, s, [
        { name: 'a clustered node', d: a },
        { name: 'a single node (anchor)', d: single },
      ])),
    ];
  } finally {
    await single?.stop();
    if (single) cleanup(join(single.dataDir, '..'));
    await c.stop();
  }
}

export async function clusterBench(o: SectionOptions): Promise<SectionResult> {
  const s = sizes(o.quick);
  const rows = [...(await storeAndTokenRows(o, s)), ...(await nodeRows(o, s))];
  const row = (prefix: string) => rows.find((r) => r.name.startsWith(prefix))!;
  const v = (prefix: string) => row(prefix).value;
  const p50 = (prefix: string) => Number(/p50 ([\d.,]+)/.exec(row(prefix).detail ?? '')?.[1]?.replace(/,/g, '') ?? NaN);
  const full = 'full store (256 IPs, 5,000 audit events)';
  const lowFull = `lowdb (single node): mutate(), ${full}`;
  const redisFull = `Redis store (cluster): mutate(), ${full}`;
  const bench1 = row('redis-benchmark -t set, 1 connection');
  const lone = row('Redis store: one write on node 2');
  const adminRegistry = Number(/([\d,]+) tokens in the registry/.exec(row('POST /v1/tokens (token issue) on a clustered node, 1 conn').detail ?? '')?.[1]?.replace(/,/g, '') ?? NaN);
  const notes = [
    `**Durable writes.** On a full store (the steady state of a daemon in use) the Redis store commits one change in ${fmt(p50(`${redisFull}, one at a time`))} ms at p50 against lowdb's ${fmt(p50(`${lowFull}, one at a time`))} ms: ${fmt(v(`${redisFull}, one at a time`) / v(`${lowFull}, one at a time`))}× the writes/s one at a time and ${fmt(v(`${redisFull}, 8 in flight`) / v(`${lowFull}, 8 in flight`))}× with 8 in flight (${fmt(v('Redis store (cluster): mutate(), small') / v('lowdb (single node): mutate(), small'))}× one at a time on the small store). The Redis store sends only the delta (one Lua script: version check, HSET/RPUSH, XADD to the log, PUBLISH) where lowdb rewrites the whole file, and both pay one fsync per batch. Redis's own fsynced SET on the same server (redis-benchmark, ${fmt(bench1.value)}/s on one connection) is the floor: the rest of a store write is the copy and diff of the state in Node, the script and the round trip. Through the admin socket, token issue ran at ${fmt(v('POST /v1/tokens (token issue) on a clustered node, 1 conn'))} req/s on a clustered node against ${fmt(v('POST /v1/tokens (token issue) on a single node (anchor), 1 conn'))} on a single node (one connection; ${fmt(adminRegistry)} tokens in the registry after those requests): each issue adds a registry entry and an audit event, so lowdb's file grows with every one while Redis receives only the new entry.`,
    `**Token verify** reads the node's in-memory copy of the state in both modes: ${fmt(v('join-token verify, Redis store'))}/s in cluster mode against ${fmt(v('join-token verify, lowdb store'))}/s on a single node in this run.`,
    `**Joins through another node** cost one more WebSocket and hello: the non-owner answers \`moved\` after one Redis GET for the room's holder, then the client connects to the holder. The redirect added ${fmt(v('join through the other node') - v('join straight to the room'))} ms at p50 here. test/helpers connectVia waits for the first socket's close before reconnecting (0.39 ms at the median in a separate run of 30 joins when this section was written); the page (src/web/client/room.ts) does not.`,
    `**ip revoke on another node**: the revoking node commits the change to Redis (the IP, the sessions that used it and the audit event, in one change) and answers; the holder catches up with the change log when Redis publishes the new version, sees the session gone, and demotes the host. The host had its \`role\` notification ${fmt(v('ip revoke on node B'))} ms after the request was sent at p50 (${row('ip revoke on node B').detail}), against ${fmt(v('ip revoke → host demoted, single node'))} ms on a single node: the issue asks for within a second.`,
    `**One node's write while another node writes without a pause**: node 2's one write took ${fmt(lone.value)} ms while node 1 wrote ${s.seqWrites.toLocaleString('en-US')} changes one after another (${lone.detail}). When this section was first written it took the whole of node 1's stream (1.1-1.5 s for 1,000 writes, 7-10 builds): each PUBLISH from node 1 queued a catch-up on node 2 ahead of its waiting commit, which then found its copy moved on and queued again behind the next ones. Since then the Redis backend catches up, builds and commits a batch in one turn, retrying at once when the script finds another node got in between (src/store/redis-backend.ts; test/store-backends.test.ts has the case).`,
    "**Across runs** (four full runs of this section on 2026-11-29 while it was written, before the one in the table; the last of them overlapped another session's test suite from its joins on): writes/s one at a time on the full store 169-200 for lowdb and 429-966 for Redis (the 429 run had a p99 of 21 ms: disk or scheduling stalls hit the one-at-a-time figures hardest), on the small store 263-717 and 374-945 (lowest in the same run for both: the first figures of the section); with 8 in flight on the full store 1,223-1,585 and 4,661-6,554; redis-benchmark SET 3,003-4,701/s on one connection. Verify in cluster mode 0.90-1.03× the single-node figure. Joins: straight 2.05-2.45 ms p50, through the other node 3.88-4.89 ms, the redirect adding 1.8-2.4 ms. ip revoke on another node: 3.4-4.0 ms p50 and max 17-35 ms on a quiet box (2.5-2.7 ms p50 on one node); 8.0 ms p50 and max 104 ms in the disturbed run (one node: 3.6 and 58 ms). Before the fix above, the write on node 2 took the whole of node 1's 1,000-write stream every time (1.1-1.5 s, 7-10 builds).",
  ];
  return { rows, notes };
}

export const clusterSection: Section = { id: 'cluster', title: 'Cluster (Redis store, joins through another node, revocations)', run: clusterBench };
