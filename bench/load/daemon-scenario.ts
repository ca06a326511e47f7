/**
 * The real-daemon scenario shared by the SFU and signalling sections (run once per bench process):
 * a confd from test/helpers startConfd with one mediasoup worker, then, in order,
 *
 *  1. logins: POST /login with the right password of a host.users entry (an argon2id hash);
 *  2. a signalling-only wave: N LightPeers join a room with one LightPeer publisher at once;
 *  3. media waves: a werift publisher (Opus + VP8) in a room, then 50 and 100 werift subscribers
 *     joining at once, each from its own loopback address; per peer the time from opening the socket
 *     to the join response, the first newConsumer request, and the first RTP packet; after each wave
 *     a steady-state window of the daemon's CPU (Node and worker, /proc) and its RSS.
 *
 * Everything runs on this machine: the clients' CPU (werift is pure JS: ICE, DTLS, SRTP) competes with
 * the daemon's, and the figures say so.
 */
import { Agent, request } from 'node:http';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword } from '../../src/auth/passwords.ts';
import { cleanup, startConfd, type RunningDaemon } from '../../test/helpers/daemon.ts';
import { percentile } from '../lib.ts';
import { joinAtOnce, LightPeer, MediaPeer, peerAddress, type PeerTimes } from './peers.ts';
import { CpuWindow, processRss } from './proc.ts';

export const DAEMON_PORT_RANGE: [number, number] = [47000, 47999];

export interface LatencyStats {
  n: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

export interface WaveResult {
  peers: number;
  /** Consumers the wave's peers were offered in total. */
  consumers: number;
  /** From the first socket created to the last peer's first consumer. */
  wallMs: number;
  open: LatencyStats;
  joined: LatencyStats;
  firstConsumer: LatencyStats;
  allConsumers: LatencyStats;
  /** Media peers only. */
  firstRtp?: LatencyStats;
  /** Peers whose every consumer received RTP before the deadline (media waves). */
  withMedia?: number;
  /** CPU used during the wave (ms): daemon Node, worker, this process. */
  cpuMs: { node: number; worker: number; bench: number; others: number };
  /** Steady state after the wave, cores used over `steady.seconds` (media waves). */
  steady?: { seconds: number; node: number; worker: number; bench: number; others: number; loadavg1: number; settleMs?: number };
  /** RSS before the wave and in steady state with the peers in. */
  rss: { nodeBefore: number; nodeAfter: number; workerBefore: number; workerAfter: number };
  /** The steady state before the wave (publisher only), cores. */
  baseline?: { node: number; worker: number };
}

export interface LoginResult {
  n: number;
  concurrency: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
  /** Daemon RSS before and after the logins (argon2id allocates 19 MiB per hash). */
  rssBefore: number;
  rssAfter: number;
}

export interface ScenarioResult {
  login: LoginResult;
  light: WaveResult;
  media: WaveResult[];
  /** Subscribers joining one at a time (no contention): median of 3. */
  single: { joined: LatencyStats; firstConsumer: LatencyStats; firstRtp: LatencyStats };
  loadavgStart: string;
  publisher: { videoPps: number; audioPps: number };
}

function stats(xs: (number | undefined)[]): LatencyStats {
  const ok = xs.filter((x): x is number => x !== undefined);
  return { n: ok.length, failed: xs.length - ok.length, p50: percentile(ok, 50), p99: percentile(ok, 99), max: ok.length ? Math.max(...ok) : NaN };
}

/** Milliseconds from a peer's start to one of its milestones (undefined when it never got there). */
export const since = (t: PeerTimes, k: keyof PeerTimes) => (typeof t[k] === 'number' ? (t[k] as number) - t.start : undefined);

/** The pid of the daemon's first mediasoup worker. */
export async function workerPid(d: RunningDaemon): Promise<number> {
  const r = await d.admin('GET', '/v1/status');
  const pid = r.body?.workers?.[0]?.pid;
  if (typeof pid !== 'number') throw new Error(`no worker pid in /v1/status: ${JSON.stringify(r.body)}`);
  return pid;
}

// ---- logins ------------------------------------------------------------------------------------

async function logins(base: string, nodePid: number, password: string, total: number, concurrency: number): Promise<LoginResult> {
  const rssBefore = processRss(nodePid);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL('/login', base);
  // Client i is user bench<i> at its own address (X-Forwarded-For; the daemon trusts 127.0.0.1): confd
  // checks one login per user name and two per address at a time, so one user from one address
  // would measure that cap, not the hashing.
  const one = (client: number) =>
    new Promise<{ ms: number; status: number }>((resolve, reject) => {
      const body = JSON.stringify({ username: `bench${client}`, password });
      const t0 = performance.now();
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-forwarded-for': `198.51.100.${client + 1}` };
      const req = request(url, { method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0 }));
      });
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < concurrency; i++) await one(i); // warm-up: argon2, the store, JIT
  const lat: number[] = [];
  let failures = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      while (next < total) {
        next++;
        const r = await one(client);
        if (r.status === 200) lat.push(r.ms);
        else failures++;
      }
    }),
  );
  const ms = performance.now() - t0;
  agent.destroy();
  await sleep(1000);
  return { n: total, concurrency, perSecond: (lat.length / ms) * 1000, p50: percentile(lat, 50), p99: percentile(lat, 99), failures, rssBefore, rssAfter: processRss(nodePid) };
}

// ---- waves ---------------------------------------------------------------------------------------

interface Pids {
  node: number;
  worker: number;
}

async function steadyWindow(pids: Pids, seconds: number) {
  const w = new CpuWindow([pids.node, pids.worker, process.pid]);
  await sleep(seconds * 1000);
  const c = w.end();
  return { seconds: c.seconds, node: c.cores[0]!, worker: c.cores[1]!, bench: c.cores[2]!, others: c.others, loadavg1: c.loadavg1 };
}

/**
 * Waits for the daemon's Node process to be done with the joins (consumers resumed, key frames, the
 * garbage of setting 200 consumers up): a slow machine finishes later, and a window that starts before
 * then measures the joins, not the rest. Settled: two 1 s windows in a row within 0.2% of a core of each
 * other, or 20 s. Returns how long it took.
 */
async function settle(pids: Pids): Promise<number> {
  const t0 = performance.now();
  let last = Number.POSITIVE_INFINITY;
  while (performance.now() - t0 < 20_000) {
    const w = new CpuWindow([pids.node]);
    await sleep(1000);
    const node = w.end().cores[0]!;
    if (Math.abs(node - last) < 0.002) break;
    last = node;
  }
  return performance.now() - t0;
}

async function lightWave(base: string, pids: Pids, n: number, log: (m: string) => void): Promise<WaveResult> {
  const room = 'bench-light';
  const pub = new LightPeer('l-publisher');
  await pub.join(base, { room, produce: ['audio', 'video'], localAddress: peerAddress(900) });
  // One unmeasured wave first: a daemon that has run for a while has its code paths compiled.
  const warm = Array.from({ length: n }, () => new LightPeer());
  await Promise.all(warm.map((p, i) => p.join(base, { room, expectConsumers: 2, localAddress: peerAddress(i) })));
  await Promise.all(warm.map((p) => p.close()));
  await sleep(500);
  const rssBefore = { node: processRss(pids.node), worker: processRss(pids.worker) };
  const peers = Array.from({ length: n }, () => new LightPeer());
  log(`signalling: ${n} light peers at once`);
  const cpu = new CpuWindow([pids.node, pids.worker, process.pid]);
  const t0 = performance.now();
  const results = await Promise.allSettled(peers.map((p, i) => p.join(base, { room, expectConsumers: 2, localAddress: peerAddress(i) })));
  const c = cpu.end();
  const wallMs = Math.max(...peers.map((p) => p.times.allConsumers ?? 0)) - t0;
  const rssAfter = { node: processRss(pids.node), worker: processRss(pids.worker) };
  const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  if (failed.length > 0) log(`signalling: ${failed.length} light peers failed: ${String(failed[0]!.reason)}`);
  await Promise.all([...peers, pub].map((p) => p.close()));
  const ms = (x: number) => x * c.seconds * 1000;
  return {
    peers: n,
    consumers: peers.reduce((a, p) => a + p.consumers, 0),
    wallMs,
    open: stats(peers.map((p) => since(p.times, 'open'))),
    joined: stats(peers.map((p) => since(p.times, 'joined'))),
    firstConsumer: stats(peers.map((p) => since(p.times, 'firstConsumer'))),
    allConsumers: stats(peers.map((p) => since(p.times, 'allConsumers'))),
    cpuMs: { node: ms(c.cores[0]!), worker: ms(c.cores[1]!), bench: ms(c.cores[2]!), others: ms(c.others) },
    rss: { nodeBefore: rssBefore.node, nodeAfter: rssAfter.node, workerBefore: rssBefore.worker, workerAfter: rssAfter.worker },
  };
}

async function mediaWave(base: string, pids: Pids, room: string, n: number, offset: number, o: { steadySeconds: number; mediaTimeoutMs: number }, log: (m: string) => void): Promise<WaveResult> {
  const baseline = await steadyWindow(pids, o.steadySeconds);
  const rssBefore = { node: processRss(pids.node), worker: processRss(pids.worker) };
  const peers = Array.from({ length: n }, () => new MediaPeer());
  log(`media: ${n} werift peers at once`);
  const cpu = new CpuWindow([pids.node, pids.worker, process.pid]);
  const t0 = performance.now();
  const { failed, withMedia } = await joinAtOnce(peers, (p, i) => p.join(base, { room, consume: true, expectConsumers: 2, localAddress: peerAddress(offset + i) }), o.mediaTimeoutMs);
  const c = cpu.end();
  if (failed.length > 0) log(`media: ${failed.length} peers failed to join: ${String(failed[0]!.reason)}`);
  const wallMs = Math.max(...peers.map((p) => p.times.allConsumers ?? 0)) - t0;
  if (withMedia < n) log(`media: ${withMedia}/${n} peers have media on every consumer`);
  log(`media: steady state with ${n} subscribers`);
  const settleMs = await settle(pids);
  const steady = { ...(await steadyWindow(pids, o.steadySeconds)), settleMs };
  const rssAfter = { node: processRss(pids.node), worker: processRss(pids.worker) };
  const consumers = peers.reduce((a, p) => a + (p.client?.consumers.size ?? 0), 0);
  await Promise.all(peers.map((p) => p.close().catch(() => {})));
  await sleep(1500);
  const ms = (x: number) => x * c.seconds * 1000;
  return {
    peers: n,
    consumers,
    wallMs,
    open: stats(peers.map((p) => since(p.times, 'open'))),
    joined: stats(peers.map((p) => since(p.times, 'joined'))),
    firstConsumer: stats(peers.map((p) => since(p.times, 'firstConsumer'))),
    allConsumers: stats(peers.map((p) => since(p.times, 'allConsumers'))),
    firstRtp: stats(peers.map((p) => since(p.times, 'firstRtp'))),
    withMedia,
    cpuMs: { node: ms(c.cores[0]!), worker: ms(c.cores[1]!), bench: ms(c.cores[2]!), others: ms(c.others) },
    steady,
    baseline: { node: baseline.node, worker: baseline.worker },
    rss: { nodeBefore: rssBefore.node, nodeAfter: rssAfter.node, workerBefore: rssBefore.worker, workerAfter: rssAfter.worker },
  };
}

// ---- the scenario --------------------------------------------------------------------------------

export interface ScenarioOptions {
  quick: boolean;
  log: (msg: string) => void;
}

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const { log } = o;
  const loadavgStart = (await import('./proc.ts')).loadText();
  const password = 'bench-password-0123456789';
  log('daemon scenario: starting confd (1 worker)');
  const d = await startConfd({
    config: {
      server: { trustProxy: ['127.0.0.1'] },
      host: { users: await Promise.all([0, 1, 2, 3].map(async (i) => ({ username: `bench${i}`, password: await hashPassword(password) }))), maxLoginAttempts: 1000 },
      mediasoup: { workers: 1, portRange: DAEMON_PORT_RANGE },
      rooms: { maxPeers: 300 },
    },
    env: process.env.CONFD_BENCH_DAEMON_NODE_OPTIONS ? { NODE_OPTIONS: process.env.CONFD_BENCH_DAEMON_NODE_OPTIONS } : {},
  });
  try {
    const pids = { node: d.proc.pid!, worker: await workerPid(d) };
    log('logins: POST /login');
    const login = await logins(d.http, pids.node, password, o.quick ? 40 : 200, 4);

    const light = await lightWave(d.http, pids, 100, log);

    // A werift publisher (audio + video), then warm-up subscribers, then the waves.
    // Each media phase gets a fresh room and publisher: werift sends no ICE consent checks, and mediasoup
    // (iceConsentTimeout, 30 s by default) stops forwarding from a transport older than that.
    const startPublisher = async (room: string) => {
      const pub = new MediaPeer();
      await pub.join(d.http, { room, peerId: 'publisher', produce: ['audio', 'video'], localAddress: peerAddress(999) });
      return pub;
    };
    const rates: { videoPps: number; audioPps: number }[] = [];
    const stopPublisher = async (pub: MediaPeer) => {
      const gens = [...(pub.client?.generators.values() ?? [])];
      const elapsed = (performance.now() - pub.times.start) / 1000;
      if (elapsed > 28) log(`media: a publisher lived ${fmtS(elapsed)} s; past 30 s mediasoup stops forwarding werift media (no ICE consent)`);
      const pps = (k: string) => (gens.find((g) => g.kind === k)?.packets ?? 0) / elapsed;
      rates.push({ videoPps: pps('video'), audioPps: pps('audio') });
      await pub.close();
      await sleep(500);
    };

    // Warm-up, and the uncontended case: subscribers joining one at a time (the first is not counted).
    let pub = await startPublisher('bench-media-single');
    const single: PeerTimes[] = [];
    for (let i = 0; i < 4; i++) {
      const p = new MediaPeer();
      await p.join(d.http, { room: 'bench-media-single', consume: true, expectConsumers: 2, localAddress: peerAddress(990 + i) });
      const end = performance.now() + 10_000;
      while (!p.pollMedia() && performance.now() < end) await sleep(2);
      if (i > 0) single.push(p.times);
      await p.close();
      await sleep(200);
    }
    await stopPublisher(pub);
    const steadySeconds = o.quick ? 3 : 6;
    const media: WaveResult[] = [];
    for (const [i, n] of [50, 100].entries()) {
      const room = `bench-media-${n}`;
      pub = await startPublisher(room);
      media.push(await mediaWave(d.http, pids, room, n, i * 100, { steadySeconds, mediaTimeoutMs: 15_000 }, log));
      await stopPublisher(pub);
    }
    const one = { joined: stats(single.map((t) => since(t, 'joined'))), firstConsumer: stats(single.map((t) => since(t, 'firstConsumer'))), firstRtp: stats(single.map((t) => since(t, 'firstRtp'))) };
    const publisher = { videoPps: Math.min(...rates.map((r) => r.videoPps)), audioPps: Math.min(...rates.map((r) => r.audioPps)) };
    return { login, light, media, single: one, loadavgStart, publisher };
  } finally {
    const code = await d.stop();
    if (code !== 0) log(`daemon exited with code ${code}: ${d.stderr().slice(-500)}`);
    cleanup(dirname(d.dataDir));
  }
}

const fmtS = (x: number) => x.toFixed(1);

let cached: Promise<ScenarioResult> | null = null;

/** Runs the scenario once per process; later callers get the same result. */
export function daemonScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  cached ??= run(o);
  return cached;
}
