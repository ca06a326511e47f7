/**
 * Single-port media against a port per transport (issue 12): what mediasoup.port costs.
 *
 * With mediasoup.port set, each worker has one WebRtcServer (UDP + TCP on port + i) and every
 * WebRtcTransport of the worker uses it: the server demultiplexes each packet it receives (STUN by ICE
 * username fragment, the rest by remote tuple) and every transport sends from the one socket. With
 * mediasoup.port null, each transport binds a UDP and a TCP port of its own from portRange. Only
 * WebRtcTransports differ, so this section never uses the PlainTransport rig alone:
 *
 * 1. Forwarding: two forwarding rigs (bench/load/rtp-rig.ts) side by side in this process, one per
 *    mode, each with one worker, 5 PlainTransport publishers (same in both) and subscribers on
 *    WebRtcTransports made by the daemon's WorkerPool (listenOptions) whose ICE and DTLS a light client
 *    completes (bench/load/webrtc-client.ts). Only one rig sends at a time; windows alternate between
 *    the modes so that other load on the machine hits both alike. First worker CPU at a fixed number
 *    of consumers (several alternating windows), then a ramp of both to < 1% loss, interleaved step by
 *    step, steps sized from the CPU just measured.
 * 2. Joins: two daemons (test/helpers startConfd, one worker each), one per mode, and alternating
 *    bursts of protocol-only peers (signalling + createWebRtcTransport + consumers) and of werift
 *    peers (real ICE, DTLS, SRTP through the WebRtcServer or the transport's own port).
 */
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanup, freeMediaPort, startConfd, type RunningDaemon } from '../test/helpers/daemon.ts';
import { fmt, median, percentile, type Row, type Section, type SectionOptions, type SectionResult } from './lib.ts';
import { ForwardingRig, type WindowResult } from './load/rtp-rig.ts';
import { joinAtOnce, LightPeer, MediaPeer, peerAddress, type PeerTimes } from './load/peers.ts';
import { CpuWindow, loadText, sumDrops, udpDropsByPort } from './load/proc.ts';
import { since, workerPid } from './load/daemon-scenario.ts';
import { KEY_FRAME_REQUEST_DELAY_MS } from '../src/rooms/media.ts';

const LOSS_LIMIT = 0.01;
const PUBLISHERS = 5;
const RIG_PORTS = { min: 45000, max: 45999 };
const DAEMON_PORTS: [number, number] = [44000, 44999];

type ModeId = 'per-transport' | 'single-port';
const MODES: ModeId[] = ['per-transport', 'single-port'];
const label = (m: ModeId) => (m === 'single-port' ? 'single port (WebRtcServer)' : 'port per transport');

interface Win {
  mode: ModeId;
  phase: 'fixed' | 'ramp' | 'bisect';
  consumers: number;
  reached: boolean;
  growMs: number;
  w: WindowResult;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
/** Worker CPU per 100 consumers, in % of a core. */
const per100 = (w: WindowResult) => (w.workerCores / w.consumers) * 100 * 100;

// ---- forwarding ----------------------------------------------------------------------------------

interface Flood {
  mode: ModeId;
  transports: number;
  pps: number;
  idleCores: number;
  floodCores: number;
  others: number;
  drops: number;
}

/** Worker CPU per received packet (µs), idle subtracted. */
const usPerPacket = (x: Flood) => ((x.floodCores - x.idleCores) / x.pps) * 1e6;

interface Forwarding {
  fixedAt: number;
  floods: Flood[];
  windows: Win[];
  carried: Record<ModeId, number>;
  carriedWin: Record<ModeId, Win | null>;
  failed: Record<ModeId, Win | null>;
  capReached: Record<ModeId, boolean>;
  cap: number;
  step: number;
  /** Per WebRtcTransport made while the rig was lightly loaded (growing to the fixed load). */
  transportMs: Record<ModeId, number[]>;
  handshakeMs: Record<ModeId, number[]>;
  /** The same over the whole run, near saturation included. */
  transportMsAll: Record<ModeId, number[]>;
  handshakeMsAll: Record<ModeId, number[]>;
  mediaPort: number;
  loadStart: string;
}

async function forwarding(o: SectionOptions): Promise<Forwarding> {
  const loadStart = loadText();
  const mediaPort = await freeMediaPort(1, '127.0.0.1');
  o.log(`ports: two rigs, WebRTC subscribers; per-transport ports ${RIG_PORTS.min}-${RIG_PORTS.max}, single port ${mediaPort}`);
  const rigs = {} as Record<ModeId, ForwardingRig>;
  try {
    for (const m of MODES) {
      rigs[m] = await ForwardingRig.start({
        publishers: PUBLISHERS,
        srtp: true,
        portRange: RIG_PORTS,
        keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS,
        webrtcSubscribers: true,
        mediaPort: m === 'single-port' ? mediaPort : null,
      });
      rigs[m].pause();
    }
    const windows: Win[] = [];
    const windowS = o.quick ? 2 : 3;
    // Adding a step's consumers counts as stalled (the worker saturated) past this, or past 250 ms per
    // subscriber for larger jumps (~15 ms each when the worker has room: transport, 10 consumers, and
    // the client's ICE + DTLS in JS).
    const growLimitMs = o.quick ? 5000 : 7000;
    const limitFor = (rig: ForwardingRig, target: number) => Math.max(growLimitMs, ((target - rig.consumers) / rig.consumersPerSubscriber) * 250);
    /** One rig sending alone: grow to `target` (if above), settle, one window (two if the first loses >= 1%). */
    const step = async (m: ModeId, target: number, phase: Win['phase'], settleMs: number): Promise<Win[]> => {
      const rig = rigs[m];
      rig.resume();
      try {
        const t0 = performance.now();
        // A second chance when growth stalls (full mode): other work on the box slows growth too.
        const limit = limitFor(rig, target);
        const reached = (await rig.growTo(target, limit)) || (!o.quick && (await rig.growTo(target, limit)));
        const growMs = performance.now() - t0;
        await sleep(settleMs);
        const out: Win[] = [{ mode: m, phase, consumers: rig.consumers, reached, growMs, w: await rig.measure(windowS) }];
        // One lossy window does not fail a step: a second one must lose too, and a third when other
        // work used more than 0.3 cores in the last one (this box is shared).
        for (let k = 1; k < 3 && out.every((x) => x.w.lossFraction >= LOSS_LIMIT) && (k === 1 || out[k - 1]!.w.otherCores > 0.3); k++) {
          await sleep(1000);
          out.push({ mode: m, phase, consumers: rig.consumers, reached, growMs: 0, w: await rig.measure(windowS) });
        }
        for (const x of out) {
          o.log(`  ${m} ${x.consumers}${reached ? '' : ' (growth stalled)'}: loss ${pct(x.w.lossFraction)}, worker ${x.w.workerCores.toFixed(2)} cores, rig ${x.w.rigCores.toFixed(2)}, others ${x.w.otherCores.toFixed(2)}, grow ${fmt(growMs / 1000)} s`);
        }
        windows.push(...out);
        return out;
      } finally {
        rig.pause();
      }
    };
    const passes = (ws: Win[]) => ws[0]!.reached && ws.some((x) => x.w.lossFraction < LOSS_LIMIT);

    // 1. Fixed load, alternating windows (ABBAAB...).
    const fixedAt = o.quick ? 300 : 500;
    const rounds = o.quick ? 2 : 3;
    o.log(`ports: fixed load, ${fixedAt} consumers per rig, ${rounds} windows each, alternating`);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? MODES : [...MODES].reverse();
      for (const m of order) await step(m, fixedAt, 'fixed', r === 0 ? 2000 : 1000);
    }
    // 2. Ingress: the clients send junk the worker receives, demultiplexes and drops (no forwarding:
    // both rigs paused), alternating; worker CPU against an idle window just before.
    const floodPps = o.quick ? 50_000 : 80_000;
    const floods: Flood[] = [];
    o.log(`ports: ingress, ${fmt(floodPps)} packets/s from the ${fixedAt / rigs['per-transport'].consumersPerSubscriber} clients of each rig, alternating`);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? MODES : [...MODES].reverse();
      for (const m of order) {
        const rig = rigs[m];
        const idle = new CpuWindow([rig.workerPid]);
        await sleep((o.quick ? 1 : 2) * 1000);
        const i = idle.end();
        const t0 = performance.now();
        rig.startFlood(floodPps);
        await sleep(500);
        const ports = rig.clientTargetPorts;
        const d0 = udpDropsByPort();
        const cpu = new CpuWindow([rig.workerPid]);
        await sleep(windowS * 1000);
        const c = cpu.end();
        const d1 = udpDropsByPort();
        const sent = await rig.stopFlood();
        const pps = sent / ((performance.now() - t0) / 1000);
        const x: Flood = { mode: m, transports: fixedAt / rig.consumersPerSubscriber, pps, idleCores: i.cores[0]!, floodCores: c.cores[0]!, others: c.others, drops: sumDrops(d1, ports) - sumDrops(d0, ports) };
        floods.push(x);
        o.log(`  ${m} ingress ${fmt(pps)} pkt/s: worker ${x.floodCores.toFixed(3)} cores (idle ${x.idleCores.toFixed(3)}), ${usPerPacket(x).toFixed(2)} µs/packet, drops ${x.drops}, others ${x.others.toFixed(2)}`);
        await sleep(300);
      }
    }
    // 3. Ramp, sized from the fixed-load CPU: saturation expected near 0.95 cores ÷ cores per consumer
    // (a worker's cost per consumer rises near the top, so this is an upper estimate). Steps of ~8%
    // of it (15% quick) from ~75% of it (or just above the fixed load).
    const fixed = windows.filter((x) => x.phase === 'fixed');
    const perConsumer = median(fixed.map((x) => x.w.workerCores / x.consumers));
    const predicted = Math.max(fixedAt * 1.2, 0.95 / perConsumer);
    const per = rigs['per-transport'].consumersPerSubscriber;
    const round = (n: number) => Math.max(per, Math.round(n / per) * per);
    const stepSize = round(predicted * (o.quick ? 0.15 : 0.08));
    const start = Math.max(round(predicted * 0.75), fixedAt + stepSize);
    const maxSteps = o.quick ? 3 : 8;
    const cap = start + (maxSteps - 1) * stepSize;
    o.log(`ports: ramp from ${start} in steps of ${stepSize} up to ${cap} (expected saturation ~${fmt(predicted)} consumers)`);
    const alive = new Set<ModeId>(MODES);
    const failed: Record<ModeId, Win | null> = { 'per-transport': null, 'single-port': null };
    const lastPass: Record<ModeId, number> = { 'per-transport': fixedAt, 'single-port': fixedAt };
    for (let k = 0; k < maxSteps && alive.size > 0; k++) {
      const target = start + k * stepSize;
      const order = k % 2 === 0 ? MODES : [...MODES].reverse();
      for (const m of order) {
        if (!alive.has(m)) continue;
        const ws = await step(m, target, 'ramp', 1000);
        if (passes(ws)) lastPass[m] = ws[0]!.consumers;
        else {
          failed[m] = ws.reduce((a, b) => (b.w.lossFraction < a.w.lossFraction ? b : a));
          alive.delete(m);
        }
      }
    }
    // Full mode: one bisection per mode between its last pass and its failure.
    if (!o.quick) {
      for (const m of MODES) {
        const f = failed[m];
        if (!f || f.consumers - lastPass[m] < 2 * per) continue;
        const mid = round((f.consumers + lastPass[m]) / 2);
        rigs[m].shrinkTo(mid);
        const ws = await step(m, mid, 'bisect', 3000);
        if (passes(ws)) lastPass[m] = Math.max(lastPass[m], ws[0]!.consumers);
        else if (ws[0]!.consumers < f.consumers) failed[m] = ws.reduce((a, b) => (b.w.lossFraction < a.w.lossFraction ? b : a));
      }
    }
    const carriedWin = {} as Record<ModeId, Win | null>;
    const carried = {} as Record<ModeId, number>;
    for (const m of MODES) {
      const ok = windows.filter((x) => x.mode === m && x.reached && x.w.lossFraction < LOSS_LIMIT && (!failed[m] || x.consumers < failed[m]!.consumers));
      const top = ok.reduce<Win | null>((a, x) => (!a || x.consumers > a.consumers ? x : a), null);
      carriedWin[m] = top;
      carried[m] = top?.consumers ?? 0;
    }
    return {
      fixedAt,
      floods,
      windows,
      carried,
      carriedWin,
      failed,
      capReached: { 'per-transport': !failed['per-transport'], 'single-port': !failed['single-port'] },
      cap,
      step: stepSize,
      transportMs: { 'per-transport': rigs['per-transport'].transportMs.slice(0, fixedAt / per), 'single-port': rigs['single-port'].transportMs.slice(0, fixedAt / per) },
      handshakeMs: { 'per-transport': rigs['per-transport'].handshakeMs.slice(0, fixedAt / per), 'single-port': rigs['single-port'].handshakeMs.slice(0, fixedAt / per) },
      transportMsAll: { 'per-transport': [...rigs['per-transport'].transportMs], 'single-port': [...rigs['single-port'].transportMs] },
      handshakeMsAll: { 'per-transport': [...rigs['per-transport'].handshakeMs], 'single-port': [...rigs['single-port'].handshakeMs] },
      mediaPort,
      loadStart,
    };
  } finally {
    for (const m of MODES) rigs[m]?.close();
    await sleep(500);
  }
}

// ---- joins through a daemon ----------------------------------------------------------------------

interface Burst {
  mode: ModeId;
  kind: 'light' | 'werift';
  n: number;
  /** Per peer: socket created → last consumer offered (light) or first consumer offered (werift). */
  done: number[];
  firstRtp: number[];
  failed: number;
  withMedia: number;
  cpuMs: { node: number; worker: number; bench: number; others: number };
}

interface Joins {
  bursts: Burst[];
  lightN: number;
  mediaN: number;
  rounds: number;
  mediaPort: number;
  loadStart: string;
}

const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);

async function lightBurst(d: RunningDaemon, mode: ModeId, room: string, n: number, warm: boolean): Promise<Burst> {
  const pids = [d.proc.pid!, await workerPid(d)];
  const pub = new LightPeer(`l-pub-${room}`);
  await pub.join(d.http, { room, produce: ['audio', 'video'], localAddress: peerAddress(900) });
  if (warm) {
    const w = Array.from({ length: n }, () => new LightPeer());
    await Promise.allSettled(w.map((p, i) => p.join(d.http, { room, expectConsumers: 2, localAddress: peerAddress(i) })));
    await Promise.all(w.map((p) => p.close()));
    await sleep(500);
  }
  const peers = Array.from({ length: n }, () => new LightPeer());
  const cpu = new CpuWindow([...pids, process.pid]);
  const results = await Promise.allSettled(peers.map((p, i) => p.join(d.http, { room, expectConsumers: 2, localAddress: peerAddress(i) })));
  const c = cpu.end();
  await Promise.all([...peers, pub].map((p) => p.close()));
  await sleep(300);
  const ms = (x: number) => x * c.seconds * 1000;
  return {
    mode,
    kind: 'light',
    n,
    done: defined(peers.map((p) => since(p.times, 'allConsumers'))),
    firstRtp: [],
    failed: results.filter((r) => r.status === 'rejected').length,
    withMedia: 0,
    cpuMs: { node: ms(c.cores[0]!), worker: ms(c.cores[1]!), bench: ms(c.cores[2]!), others: ms(c.others) },
  };
}

async function mediaBurst(d: RunningDaemon, mode: ModeId, room: string, n: number): Promise<Burst> {
  const pids = [d.proc.pid!, await workerPid(d)];
  // A fresh room and publisher per burst: werift sends no consent checks, so a transport older than 30 s stops.
  const pub = new MediaPeer();
  await pub.join(d.http, { room, peerId: 'publisher', produce: ['audio', 'video'], localAddress: peerAddress(999) });
  await sleep(300);
  const peers = Array.from({ length: n }, () => new MediaPeer());
  const cpu = new CpuWindow([...pids, process.pid]);
  const joined = await joinAtOnce(peers, (p, i) => p.join(d.http, { room, consume: true, expectConsumers: 2, localAddress: peerAddress(i) }), 15_000);
  const c = cpu.end();
  await Promise.all([...peers, pub].map((p) => p.close().catch(() => {})));
  await sleep(1000);
  const ms = (x: number) => x * c.seconds * 1000;
  return {
    mode,
    kind: 'werift',
    n,
    done: defined(peers.map((p) => since(p.times, 'firstConsumer'))),
    firstRtp: defined(peers.map((p) => since(p.times, 'firstRtp'))),
    failed: joined.failed.length,
    withMedia: joined.withMedia,
    cpuMs: { node: ms(c.cores[0]!), worker: ms(c.cores[1]!), bench: ms(c.cores[2]!), others: ms(c.others) },
  };
}

async function joins(o: SectionOptions): Promise<Joins> {
  const loadStart = loadText();
  const mediaPort = await freeMediaPort(1);
  const daemons = {} as Record<ModeId, RunningDaemon>;
  try {
    for (const m of MODES) {
      daemons[m] = await startConfd({
        config: { mediasoup: { workers: 1, port: m === 'single-port' ? mediaPort : null, portRange: DAEMON_PORTS }, rooms: { maxPeers: 300 } },
        env: process.env.CONFD_BENCH_DAEMON_NODE_OPTIONS ? { NODE_OPTIONS: process.env.CONFD_BENCH_DAEMON_NODE_OPTIONS } : {},
      });
    }
    const lightN = o.quick ? 50 : 100;
    const mediaN = o.quick ? 20 : 40;
    const rounds = o.quick ? 1 : 2;
    const bursts: Burst[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? MODES : [...MODES].reverse();
      for (const m of order) {
        o.log(`ports: ${m} daemon, ${lightN} protocol-only peers at once`);
        bursts.push(await lightBurst(daemons[m], m, `ports-light-${r}`, lightN, r === 0));
      }
      for (const m of order) {
        o.log(`ports: ${m} daemon, ${mediaN} werift peers at once`);
        bursts.push(await mediaBurst(daemons[m], m, `ports-media-${r}`, mediaN));
      }
    }
    return { bursts, lightN, mediaN, rounds, mediaPort, loadStart };
  } finally {
    for (const m of MODES) {
      const d = daemons[m];
      if (!d) continue;
      const code = await d.stop();
      if (code !== 0) o.log(`${m} daemon exited with code ${code}: ${d.stderr().slice(-500)}`);
      cleanup(dirname(d.dataDir));
    }
  }
}

// ---- the section ---------------------------------------------------------------------------------

const diffText = (a: number, b: number) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;

async function run(o: SectionOptions): Promise<SectionResult> {
  const f = await forwarding(o);
  const j = await joins(o);
  const rigHow = `two forwarding rigs (bench/load/rtp-rig.ts) in the bench process, one per mode, each one mediasoup worker from the daemon's WorkerPool with ${PUBLISHERS} PlainTransport publishers × (Opus + VP8) and one WebRtcTransport per subscriber consuming all ${PUBLISHERS * 2} producers, made with the pool's listenOptions (single port: the worker's WebRtcServer on UDP+TCP ${f.mediaPort}; per transport: a UDP and a TCP port each from ${RIG_PORTS.min}-${RIG_PORTS.max}); a light client per transport in the rig's receiver thread does ICE (controlling, USE-CANDIDATE, consent every 5 s) and DTLS (werift), then counts SRTP per consumer SSRC without decrypting; no RTCP back. Only one rig sends at a time; windows alternate between the modes`;

  // Fixed load.
  const fixed = (m: ModeId) => f.windows.filter((x) => x.mode === m && x.phase === 'fixed');
  const fx = Object.fromEntries(MODES.map((m) => [m, fixed(m).map((x) => per100(x.w))])) as Record<ModeId, number[]>;
  const med = (m: ModeId) => median(fx[m]);
  const spread = (m: ModeId) => (Math.max(...fx[m]) - Math.min(...fx[m])) / med(m);
  const noise = Math.max(spread('per-transport'), spread('single-port'));
  const cpuDiff = med('single-port') / med('per-transport') - 1;
  const fixedRow = (m: ModeId): Row => ({
    name: `worker CPU per 100 consumers at ${fmt(f.fixedAt)} consumers, ${label(m)}`,
    value: med(m),
    unit: '% of a core',
    detail: `median of ${fx[m].length} windows: ${fx[m].map(fmt).join(', ')}; loss ${fixed(m).map((x) => pct(x.w.lossFraction)).join(', ')}; others ${fixed(m).map((x) => x.w.otherCores.toFixed(2)).join(', ')} cores`,
    note: `${rigHow}; the fixed-load windows (${o.quick ? 2 : 3} s each, after the rig's sender resumed and 1-2 s settled) alternate per-transport, single-port, single-port, per-transport, ... Whole-worker CPU (/proc) ÷ consumers × 100.`,
  });
  // Saturation.
  const satText = (m: ModeId) => {
    const w = f.carriedWin[m]?.w;
    const fl = f.failed[m];
    const failText = fl ? `fails at ${fmt(fl.consumers)}: ${fl.reached ? '' : 'adding its consumers stalled, '}loss ${pct(fl.w.lossFraction)}, worker ${fl.w.workerCores.toFixed(2)} cores, others ${fl.w.otherCores.toFixed(2)}` : `cap ${fmt(f.cap)} reached without loss`;
    return w ? `loss ${pct(w.lossFraction)}, ${fmt(w.receivedPps)} pkt/s out, worker ${w.workerCores.toFixed(2)} cores, others ${w.otherCores.toFixed(2)}; ${failText}` : failText;
  };
  const satRow = (m: ModeId): Row => ({
    name: `consumers per worker at < 1% loss, ${label(m)}`,
    value: f.carried[m],
    unit: f.failed[m] ? 'consumers' : 'consumers (cap)',
    detail: satText(m),
    note: `${rigHow}. Both rigs ramp together from ${fmt(f.cap - (o.quick ? 2 : 7) * f.step)} in steps of ${fmt(f.step)} (sized from the fixed-load CPU: ~75% and ~8% of 0.95 cores ÷ CPU per consumer; quick: 15%, 3 steps), mode order alternating per step, until a step loses >= 1% in two windows (three when other work used > 0.3 cores in the second) or adding its consumers takes over ${o.quick ? '5 s' : '2 × 7 s'} (or 250 ms per subscriber added, for the first, larger jump)${o.quick ? '' : ', then one bisection each (subscribers closed)'}.`,
  });
  const ratio = f.carried['single-port'] / f.carried['per-transport'];
  const setup = (xs: number[]) => `p50 ${fmt(percentile(xs, 50))} / p99 ${fmt(percentile(xs, 99))} ms (n ${xs.length})`;

  // Joins.
  const of = (m: ModeId, k: Burst['kind']) => j.bursts.filter((b) => b.mode === m && b.kind === k);
  const all = (bs: Burst[], key: 'done' | 'firstRtp') => bs.flatMap((b) => b[key]);
  const joinRow = (m: ModeId, k: Burst['kind']): Row => {
    const bs = of(m, k);
    const xs = all(bs, 'done');
    const n = k === 'light' ? j.lightN : j.mediaN;
    const failed = bs.reduce((a, b) => a + b.failed, 0);
    const cpu = (key: 'node' | 'worker') => bs.reduce((a, b) => a + b.cpuMs[key], 0) / bs.reduce((a, b) => a + b.n, 0);
    const perBurst = bs.map((b) => `${fmt(percentile(b.done, 50))} / ${fmt(percentile(b.done, 99))}`).join(', ');
    return {
      name: `join latency, ${n} ${k === 'light' ? 'protocol-only' : 'werift'} peers at once, ${label(m)}`,
      value: percentile(xs, 50),
      unit: 'ms p50',
      detail:
        `p99 ${fmt(percentile(xs, 99))} ms over ${bs.length} burst${bs.length > 1 ? 's' : ''} (p50 / p99 each: ${perBurst})` +
        (k === 'werift' ? `; first RTP p50 ${fmt(percentile(all(bs, 'firstRtp'), 50))} / p99 ${fmt(percentile(all(bs, 'firstRtp'), 99))} ms; ${bs.map((b) => `${b.withMedia}/${b.n}`).join(', ')} with media` : '') +
        `; CPU per join: daemon Node ${fmt(cpu('node'))} ms, worker ${fmt(cpu('worker'))} ms${failed ? `; ${failed} failed` : ''}`,
      note:
        k === 'light'
          ? `two confd daemons from test/helpers startConfd (mediasoup.workers 1; mediasoup.port ${j.mediaPort} vs null with portRange ${DAEMON_PORTS.join('-')}), bursts alternating between them; a protocol-only publisher (audio + video producers, no media), then ${n} protocol-only peers (bench/load/peers.ts LightPeer) at once from their own loopback addresses: WebSocket, getRouterRtpCapabilities, createWebRtcTransport, join, answer both newConsumer requests; no ICE/DTLS; per peer from creating its WebSocket to its second newConsumer request. One unmeasured burst first on each daemon.`
          : `the same two daemons; a werift publisher (Opus + VP8) in a fresh room, then ${n} werift subscribers (msc-node, this process) at once from their own loopback addresses; per peer from creating its WebSocket to its first newConsumer request; first RTP after the client's ICE + DTLS through the WebRtcServer or the transport's own port.`,
    };
  };
  const j50 = (m: ModeId, k: Burst['kind']) => percentile(all(of(m, k), 'done'), 50);
  const jBurstSpread = (k: Burst['kind']) => {
    const p50s = MODES.flatMap((m) => of(m, k).map((b) => percentile(b.done, 50)));
    return p50s;
  };

  const rows: Row[] = [
    fixedRow('per-transport'),
    fixedRow('single-port'),
    {
      name: 'single port vs a port per transport: worker CPU at fixed load',
      value: cpuDiff * 100,
      unit: '%',
      detail: `${fmt(med('single-port'))} vs ${fmt(med('per-transport'))}% of a core per 100 consumers at ${fmt(f.fixedAt)}; window-to-window spread within one mode up to ${(noise * 100).toFixed(1)}%`,
      target: 'within noise (LiveKit, Jitsi: one UDP port, no cost documented)',
      met: cpuDiff <= Math.max(noise, 0.05),
      note: 'ratio of the two medians above minus 1 (positive: single port costs more). "met" when the difference is no larger than the spread between windows of one mode (or 5%).',
    },
    ...MODES.map((m): Row => {
      const xs = f.floods.filter((x) => x.mode === m);
      return {
        name: `worker CPU per received packet (receive, demultiplex, drop), ${label(m)}`,
        value: median(xs.map(usPerPacket)),
        unit: 'µs',
        detail: `median of ${xs.length} windows: ${xs.map((x) => usPerPacket(x).toFixed(2)).join(', ')} µs; ${fmt(median(xs.map((x) => x.pps)))} pkt/s over ${xs[0]?.transports ?? 0} transports; worker ${xs.map((x) => x.floodCores.toFixed(3)).join(', ')} cores (idle ${xs.map((x) => x.idleCores.toFixed(3)).join(', ')}); socket drops ${xs.reduce((a, x) => a + x.drops, 0)}; others ${xs.map((x) => x.others.toFixed(2)).join(', ')}`,
        note: `the rigs above at ${fmt(f.fixedAt)} consumers with their senders paused; every connected client sends 100-byte packets whose first byte (0xff) is neither STUN, DTLS, RTP nor RTCP, round-robin, at a fixed total rate: the worker reads each one, finds its transport (single port: the WebRtcServer's lookup of the remote tuple; per transport: the socket is the transport's own) and drops it as of unknown type. That isolates the path that differs between the modes. (worker CPU in the window − in an idle window just before) ÷ packets/s; windows alternate between the modes.`,
      };
    }),
    {
      name: 'single port vs a port per transport: worker CPU per received packet',
      value: (median(f.floods.filter((x) => x.mode === 'single-port').map(usPerPacket)) - median(f.floods.filter((x) => x.mode === 'per-transport').map(usPerPacket))) * 1000,
      unit: 'ns',
      detail: `single port minus per transport (positive: single port costs more); at the ${fmt(f.fixedAt)}-consumer fixed load the rig's ${fmt(f.windows.find((w) => w.phase === 'fixed')?.w.receivedPps ?? NaN)} pkt/s out cost the worker ${fmt(median(fx['per-transport']) * f.fixedAt / 100 / ((f.windows.find((w) => w.phase === 'fixed')?.w.receivedPps ?? NaN) / 1e6) / 100)} µs per forwarded packet, for scale`,
      note: 'difference of the two medians above.',
    },
    satRow('per-transport'),
    satRow('single-port'),
    {
      name: 'single port vs a port per transport: consumers at < 1% loss',
      value: ratio,
      unit: '×',
      detail: `${fmt(f.carried['single-port'])} ÷ ${fmt(f.carried['per-transport'])} consumers; one ramp step is ${fmt(f.step)} consumers (${((f.step / Math.max(1, f.carried['per-transport'])) * 100).toFixed(0)}%)`,
      target: 'within a step (LiveKit, Jitsi: one UDP port)',
      met: Math.abs(f.carried['single-port'] - f.carried['per-transport']) <= f.step,
      note: 'ratio of the two rows above, measured interleaved in the same run.',
    },
    ...MODES.map(
      (m): Row => ({
        name: `WebRtcTransport set-up in the worker, ${label(m)}`,
        value: percentile(f.transportMs[m], 50),
        unit: 'ms p50',
        detail: `createWebRtcTransport + setMaxIncomingBitrate + connect: ${setup(f.transportMs[m])}; the client's ICE + DTLS after it: ${setup(f.handshakeMs[m])}; over the whole ramp (near saturation too): ${setup(f.transportMsAll[m])} and ${setup(f.handshakeMsAll[m])}`,
        note: `the rigs above, one subscriber at a time, while growing to the fixed load (the worker forwarding to fewer than ${fmt(f.fixedAt)} consumers); per transport the worker binds a UDP and a TCP port from portRange, in single-port mode it registers the transport with its WebRtcServer. ICE + DTLS is bound by the client (werift's DTLS in JS, in the rig's receiver thread).`,
      }),
    ),
    joinRow('per-transport', 'light'),
    joinRow('single-port', 'light'),
    joinRow('per-transport', 'werift'),
    joinRow('single-port', 'werift'),
  ];

  const notes = [stepTable(f), analysis(o, f, j, { cpuDiff, noise, ratio, j50, jBurstSpread }), floodDrops(f), ACROSS_RUNS, METHOD];
  return { rows, notes };
}

function stepTable(f: Forwarding): string {
  const lines = [
    `Windows, both modes (one row per window, in the order measured; load at start ${f.loadStart}; "others" = CPU used by everything else on the machine in that window):`,
    '',
    '| mode | phase | consumers | loss | pkt/s out | worker cores | % of a core per 100 | rig (bench) cores | others | drops: rig / worker ingress | grow |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const x of f.windows) {
    lines.push(
      `| ${x.mode} | ${x.phase}${x.reached ? '' : ' (stalled)'} | ${fmt(x.consumers)} | ${pct(x.w.lossFraction)} | ${fmt(x.w.receivedPps)} | ${x.w.workerCores.toFixed(2)} | ${per100(x.w).toFixed(2)} | ${x.w.rigCores.toFixed(2)} | ${x.w.otherCores.toFixed(2)} | ${x.w.receiverDrops} / ${x.w.workerIngressDrops} | ${x.growMs ? `${fmt(x.growMs / 1000)} s` : ''} |`,
    );
  }
  return lines.join('\n');
}

/** Socket drops in the ingress windows: one socket's buffer against one per transport. */
function floodDrops(f: Forwarding): string {
  const d = (m: ModeId) => f.floods.filter((x) => x.mode === m);
  const text = (m: ModeId) => d(m).map((x) => `${x.drops.toLocaleString('en-US')} (others ${x.others.toFixed(2)} cores)`).join(', ');
  return `**Socket drops under the ingress flood** (kernel receive-buffer drops, /proc/net/udp, on the ports the clients send to; ${fmt(median(f.floods.map((x) => x.pps)))} packets/s for ${f.floods.length / 2} windows per mode): single port ${text('single-port')}; a port per transport ${text('per-transport')}. With a single port every packet a worker receives queues in one socket buffer (the kernel default, net.core.rmem_default, here ~208 KiB: a few hundred small packets), where a port per transport gives each transport its own; when the worker is not scheduled for a few milliseconds (other work on the cores) the single buffer overflows first. The flood's sender also comes in bursts (its timer fires every 2 ms, ~160 packets at 80,000/s), spread over 50 sockets in one mode and all into one in the other. The flood is far above what the worker receives in a call (publishers' media and the subscribers' RTCP, a few thousand packets/s per worker), but the same holds for a stall at any rate: mediasoup's listen infos take recvBufferSize/sendBufferSize, which src/sfu/worker-pool.ts does not set for the WebRtcServer. A one-off check when this section was written (one worker, a WebRtcServer, 50 clients, 80,000 packets/s for 4 s, while other work used 1.4-1.9 cores): 50,888 and 30,929 drops with the default buffer, 0 and 25,058 with recvBufferSize 4 MiB (net.core.rmem_max here is 4 MiB): a larger buffer rides out short stalls, not a starved worker.`;
}

const ACROSS_RUNS = `**Across runs** (the 8 runs of this section on 2026-11-29 while it was written, before the run in the table: 3 full, 5 quick, on this box, some with other work on it; single port against a port per transport): worker CPU at the fixed load -17% to +5% (median -1%; the -17% in a quiet quick run, the +5% with other work at 1.2-1.5 cores: each run starts two new workers, and where they land against the rig's threads on the 2 vCPUs moves a run by more than its windows vary); in ramp steps both modes passed at the same size, in windows with others <= 0.15 cores, -7.4% to +1.1% (10 pairs, 9 of them negative). Consumers at < 1% loss: 1,290 vs 1,240 in one run, equal in five (1,200, 1,180, 1,170, 1,140, 1,120), two runs spoilt (heavy other work; a growth limit since fixed). Worker CPU per received packet (runs flooding >= 50,000 packets/s): 1.14-1.56 µs single port against 1.17-1.68 µs per transport, the single port's median lower in 4 of 5 runs. Worker CPU per protocol-only join: 0.081-0.089 ms single port against 0.094-0.097 ms per transport (binding a UDP and a TCP port per transport; ~10 µs, nothing next to the ~2 ms of Node CPU per join). Join latency p50, single port minus per transport: -29 to +28 ms for the protocol-only bursts and -14 to +50 ms for werift, no consistent sign; two bursts of one mode differ as much (129 and 178 ms in one run). No run showed a cost of the single port in forwarding or joins; if anything, sending every transport's packets from one socket is slightly cheaper. The one difference that repeats is socket drops under a dense ingress flood (above; single port in 4 of 5 runs, per transport never).`;

const METHOD = `**Method and caveats.** Both modes run in the same bench process, one after the other window by window (never at once), on one mediasoup worker each, so other load on the box and drift hit both alike; the "others" column shows what the rest of the machine used in each window, and on this shared 2-core box (browser tests of other work ran alongside) windows with others above ~0.3 cores are disturbed: loss and stalls there are the machine's, not the mode's. The rig's receivers and the WebRTC clients share the cores with the worker, so near saturation the rig itself limits the figure (the "rig" column). What is compared is only what differs between the modes: where a transport's packets are received and demultiplexed and sent from. The rig's subscribers send no RTCP (no receiver reports, NACK or transport-cc feedback) and its publishers use PlainTransports in both modes, so in the forwarding windows the WebRtcServer sees only consent checks and DTLS: the ingress flood measures its per-packet path on its own. Join latency with werift clients is bound by the clients (JS ICE/DTLS/SRTP in the bench process), so only large differences there would mean anything. The daemon-based figures in the SFU and signalling sections come from test daemons, which since the single-port change run with mediasoup.port set (test/helpers startConfd picks a free one); earlier runs of those sections were per-transport.`;

function analysis(
  o: SectionOptions,
  f: Forwarding,
  j: Joins,
  x: { cpuDiff: number; noise: number; ratio: number; j50: (m: ModeId, k: Burst['kind']) => number; jBurstSpread: (k: Burst['kind']) => number[] },
): string {
  const within = Math.abs(x.cpuDiff) <= x.noise;
  const cpuText = `Worker CPU at ${fmt(f.fixedAt)} consumers, single port against a port per transport: ${diffText(1, 1 + x.cpuDiff)} (single port within ${(Math.abs(x.cpuDiff) * 100).toFixed(1)}%${x.cpuDiff < 0 ? ', cheaper' : ''}); windows of one mode differ by up to ${(x.noise * 100).toFixed(1)}% between themselves, so ${within ? 'the difference is within noise' : `the difference is outside this run's window-to-window spread, though not outside the spread between runs (a new pair of rigs moved it by up to 17%, see "Across runs")`}.`;
  // Ramp steps both modes measured at the same size and passed: worker cores side by side.
  const pairs: string[] = [];
  const firstWin = (m: ModeId, n: number) => f.windows.find((w) => w.mode === m && w.phase === 'ramp' && w.consumers === n && w.reached && w.w.lossFraction < LOSS_LIMIT);
  for (const w of f.windows) {
    if (w.mode !== 'per-transport' || w.phase !== 'ramp' || firstWin('per-transport', w.consumers) !== w) continue;
    const s = firstWin('single-port', w.consumers);
    if (s) pairs.push(`${fmt(w.consumers)}: ${s.w.workerCores.toFixed(2)} vs ${w.w.workerCores.toFixed(2)} cores (${diffText(w.w.workerCores, s.w.workerCores)})`);
  }
  const disturbed = f.windows.filter((w) => w.phase === 'fixed' && w.w.otherCores > 0.3).length;
  const pairText = pairs.length ? `Ramp steps both modes passed at the same size, single port vs per transport: ${pairs.join('; ')}.` : '';
  const disturbedText = disturbed ? `${disturbed} of the fixed-load windows ran while other work used more than 0.3 cores (see "others" below).` : '';
  const satText = `${[pairText, disturbedText].filter(Boolean).join(' ')} At < 1% loss the single-port worker carried ${fmt(f.carried['single-port'])} consumers and the per-transport one ${fmt(f.carried['per-transport'])} (${x.ratio.toFixed(2)}×; one step is ${fmt(f.step)}${o.quick ? ', quick mode: coarse steps, no bisection' : ''}).`;
  const lj = (m: ModeId) => fmt(x.j50(m, 'light'));
  const wj = (m: ModeId) => fmt(x.j50(m, 'werift'));
  const fixedWins = f.windows.filter((w) => w.phase === 'fixed');
  const fwdUs = median(fixedWins.map((w) => (w.w.workerCores / w.w.receivedPps) * 1e6));
  const us = (m: ModeId) => median(f.floods.filter((y) => y.mode === m).map(usPerPacket));
  const range = (m: ModeId) => {
    const xs = f.floods.filter((y) => y.mode === m).map(usPerPacket);
    return [Math.min(...xs), Math.max(...xs)] as const;
  };
  const [sLo, sHi] = range('single-port');
  const [pLo, pHi] = range('per-transport');
  const overlap = sLo <= pHi && pLo <= sHi;
  const flood = `Per received packet (the ingress flood) the worker spent ${us('single-port').toFixed(2)} µs with a single port (windows ${sLo.toFixed(2)}-${sHi.toFixed(2)}) and ${us('per-transport').toFixed(2)} µs with a port per transport (${pLo.toFixed(2)}-${pHi.toFixed(2)}): ${overlap ? "the windows overlap, so the WebRtcServer's demultiplexing does not show against the rest of the receive path" : `the windows do not overlap: ${us('single-port') > us('per-transport') ? 'single port cost more' : 'single port cost less'} by ${fmt(Math.abs(us('single-port') - us('per-transport')) * 1000)} ns per packet`}; receiving a packet costs the worker ~${(fwdUs / us('per-transport')).toFixed(0)}× less than forwarding one to a consumer (${fmt(fwdUs)} µs at the fixed load, encryption included).`;
  const joinText = `Joins: ${j.lightN} protocol-only peers at once took p50 ${lj('single-port')} ms with a single port and ${lj('per-transport')} ms with a port per transport (burst p50s ${x.jBurstSpread('light').map(fmt).join(', ')} ms, per-transport first); ${j.mediaN} werift peers ${wj('single-port')} vs ${wj('per-transport')} ms to the first consumer, bound by the werift clients on the same cores.`;
  return `**Reading (this run).** ${cpuText} ${satText} ${flood} ${joinText} Anchor: LiveKit (its UDP mux: all UDP media on rtc.udp_port, 7882, instead of the 50000-60000 range) and Jitsi Videobridge (all media on UDP 10000) offer one port as an ordinary deployment choice and document no capacity cost for it (no published measurement to compare with, so the anchor is "no material difference"); mediasoup's WebRtcServer does the same job (per received packet one lookup of the ICE username fragment or of the remote tuple, then the transport's own handling), and sends every transport's packets from the one socket.`;
}

export const portsSection: Section = { id: 'ports', title: 'Single-port media vs a port per transport', run };
