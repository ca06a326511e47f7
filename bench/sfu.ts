/**
 * SFU figures (issue 3, and the SFU part of issue 5):
 *
 * - consumers one worker carries at < 1% loss, packets/s forwarded per worker core, worker CPU per
 *   consumer: a pure-forwarding rig (bench/load/rtp-rig.ts) ramps consumers on one mediasoup worker
 *   fed over PlainTransport by Node dgram sockets, loss from RTP sequence numbers at the receivers,
 *   CPU from /proc. Run twice: consumers sending plain RTP, and consumers encrypting with SRTP as
 *   they do for WebRTC peers.
 * - daemon (Node) CPU per 100 consumers, worker CPU per 100 consumers with real WebRTC, memory per
 *   peer, join latency with 50 peers at once: a real daemon with werift peers
 *   (bench/load/daemon-scenario.ts, shared with the signalling section).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { version as mediasoupVersion } from 'mediasoup';
import { fmt, type Row, type Section, type SectionOptions, type SectionResult } from './lib.ts';
import { ForwardingRig, MEDIA_PROFILE, VIDEO_PPS, type WindowResult } from './load/rtp-rig.ts';
import { daemonScenario, type ScenarioResult, type WaveResult } from './load/daemon-scenario.ts';
import { loadText } from './load/proc.ts';
import { KEY_FRAME_REQUEST_DELAY_MS } from '../src/rooms/media.ts';

const LOSS_LIMIT = 0.01;
const PUBLISHERS = 5;
const RIG_PORTS = { min: 48000, max: 48999 };
/** mediasoup's documented capacity, and LiveKit's default per-CPU track cap: the anchors. */
const MEDIASOUP_CONSUMERS_PER_WORKER = 500;
const LIVEKIT_TRACKS_PER_CPU = 400;

export interface Step {
  consumers: number;
  reached: boolean;
  growMs: number;
  windows: WindowResult[];
  pass: boolean;
  bisect?: boolean;
}

interface Ramp {
  srtp: boolean;
  steps: Step[];
  /** The most consumers measured with < 1% loss, and the window that showed it. */
  carried: number;
  carriedWindow: WindowResult | null;
  /** The first failing step, if any (else the cap was reached). */
  failed: Step | null;
  cap: number;
  /** Least-squares worker cores per consumer over the passing steps. */
  coresPerConsumer: number;
  loadStart: string;
}

export const best = (s: Step) => s.windows.reduce((a, b) => (b.lossFraction < a.lossFraction ? b : a));

export async function measureStep(rig: ForwardingRig, target: number, o: { windowS: number; settleMs: number; growLimitMs: number }, log: (m: string) => void): Promise<Step> {
  const t0 = performance.now();
  const reached = await rig.growTo(target, o.growLimitMs);
  const growMs = performance.now() - t0;
  await sleep(o.settleMs);
  const w = await rig.measure(o.windowS);
  const windows = [w];
  // One disturbed window (other work on the box) does not end the ramp: a second one must fail too.
  if (w.lossFraction >= LOSS_LIMIT) windows.push(await rig.measure(o.windowS));
  const step: Step = { consumers: rig.consumers, reached, growMs, windows, pass: reached && windows.some((x) => x.lossFraction < LOSS_LIMIT) };
  const b = best(step);
  log(
    `  ${rig.opts.srtp ? 'srtp' : 'rtp'} ${rig.consumers} consumers${reached ? '' : ' (growth stalled)'}: loss ${(b.lossFraction * 100).toFixed(2)}%, ` +
      `${fmt(b.receivedPps)} pkt/s out, worker ${b.workerCores.toFixed(2)} cores${b.workerCoresEach.length > 1 ? ` (${b.workerCoresEach.map((x) => x.toFixed(2)).join(' + ')})` : ''}, rig ${b.rigCores.toFixed(2)}, others ${b.otherCores.toFixed(2)}, grow ${fmt(growMs / 1000)} s`,
  );
  return step;
}

async function ramp(o: SectionOptions, srtp: boolean): Promise<Ramp> {
  const perStep = o.quick ? [500, 1000] : [250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 2750, 3000, 3500, 4000];
  const cap = perStep[perStep.length - 1]!;
  const timing = { windowS: o.quick ? 2 : 5, settleMs: o.quick ? 1000 : 1500, growLimitMs: o.quick ? 15_000 : 30_000 };
  const loadStart = loadText();
  o.log(`sfu: forwarding rig, ${srtp ? 'SRTP' : 'plain RTP'} consumers, ramp to ${cap}`);
  const rig = await ForwardingRig.start({ publishers: PUBLISHERS, srtp, portRange: RIG_PORTS, keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS });
  const steps: Step[] = [];
  try {
    for (const target of perStep) {
      const step = await measureStep(rig, target, timing, o.log);
      steps.push(step);
      if (!step.pass) break;
    }
    const failed = steps.find((s) => !s.pass) ?? null;
    const lastPass = [...steps].reverse().find((s) => s.pass);
    // Full mode: one bisection between the last pass and the first failure (subscribers are closed to get there).
    if (!o.quick && failed && lastPass && failed.consumers - lastPass.consumers > 2 * rig.consumersPerSubscriber) {
      const per = rig.consumersPerSubscriber;
      const mid = Math.round((failed.consumers + lastPass.consumers) / 2 / per) * per;
      rig.shrinkTo(mid);
      const step = await measureStep(rig, mid, { ...timing, settleMs: 4000 }, o.log);
      step.bisect = true;
      steps.push(step);
    }
    const passing = steps.filter((s) => s.pass);
    const top = passing.reduce<Step | null>((a, s) => (!a || s.consumers > a.consumers ? s : a), null);
    // Worker cores against consumers over the passing steps: the slope is the CPU one consumer costs.
    const pts = passing.map((s) => [s.consumers, best(s).workerCores] as const);
    const n = pts.length;
    const mx = pts.reduce((a, p) => a + p[0], 0) / n;
    const my = pts.reduce((a, p) => a + p[1], 0) / n;
    const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    const slope = n >= 2 && sxx > 0 ? pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx : top ? best(top).workerCores / top.consumers : NaN;
    return {
      srtp,
      steps,
      carried: top?.consumers ?? 0,
      carriedWindow: top ? best(top) : null,
      failed: steps.filter((s) => !s.pass).sort((a, b) => a.consumers - b.consumers)[0] ?? null,
      cap,
      coresPerConsumer: slope,
      loadStart,
    };
  } finally {
    rig.close();
    await sleep(500);
  }
}

interface KeyFrameCost {
  delay: number;
  from: number;
  added: number;
  growMs: number;
  requests: number;
  window: WindowResult;
}

/**
 * Where the key-frame step starts: 70% of where the plain-RTP ramp saturated (its first failing step,
 * or the most it carried when it reached its cap), in 250s, so that the 250 added consumers stay below
 * saturation on any machine. A fixed 2,000 put a slower machine that saturates at ~1,300 past its
 * limit: 65 s per run of the step and 25-50% loss, measuring the overload instead of the key frames.
 */
export function keyFrameStart(plain: { carried: number; failed: { consumers: number } | null }): number {
  const saturation = plain.failed ? plain.failed.consumers : plain.carried;
  return Math.max(250, Math.floor((0.7 * saturation) / 250) * 250);
}

/**
 * What a burst of new video consumers costs: each one makes the worker ask the publisher for a key
 * frame (PLI), and the key frame goes to every consumer of that producer. Adds 250 consumers to a rig
 * at `from` consumers, without coalescing (keyFrameRequestDelay 0, mediasoup's default) and with the
 * daemon's setting (KEY_FRAME_REQUEST_DELAY_MS).
 */
async function keyFrameCost(o: SectionOptions, from: number): Promise<KeyFrameCost[]> {
  const out: KeyFrameCost[] = [];
  for (const delay of [0, KEY_FRAME_REQUEST_DELAY_MS]) {
    o.log(`sfu: key frame cost, +250 consumers at ${from}, keyFrameRequestDelay ${delay}`);
    const rig = await ForwardingRig.start({ publishers: PUBLISHERS, srtp: false, portRange: RIG_PORTS, keyFrameRequestDelay: delay });
    try {
      await rig.growTo(from, 30_000);
      await sleep(1500);
      const k0 = rig.keyFrameRequests;
      const t0 = performance.now();
      await rig.growTo(from + 250, 30_000);
      const growMs = performance.now() - t0;
      const requests = rig.keyFrameRequests - k0;
      const window = await rig.measure(2);
      out.push({ delay, from, added: rig.consumers - from, growMs, requests, window });
    } finally {
      rig.close();
      await sleep(500);
    }
  }
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const kib = (b: number) => b / 1024;

function rampRows(r: Ramp): Row[] {
  const label = r.srtp ? 'SRTP consumers (as WebRTC)' : 'plain RTP consumers';
  const w = r.carriedWindow;
  const fail = r.failed ? best(r.failed) : null;
  const failText = r.failed
    ? `at ${fmt(r.failed.consumers)}: ${r.failed.reached ? '' : 'adding its consumers took > 30 s, '}loss ${pct(fail!.lossFraction)}, worker ${fail!.workerCores.toFixed(2)} cores`
    : `cap ${fmt(r.cap)} reached without loss`;
  const how = `pure-forwarding rig in the bench process: one mediasoup ${mediasoupVersion} worker (daemon's settings: src/sfu/codecs.ts router, keyFrameRequestDelay ${KEY_FRAME_REQUEST_DELAY_MS} ms), ${PUBLISHERS} PlainTransport publishers × (Opus + VP8) fed by dgram sockets, one PlainTransport per subscriber consuming all ${PUBLISHERS * 2} producers${r.srtp ? ' with SRTP (AES_CM_128_HMAC_SHA1_80)' : ''}; loss from RTP sequence gaps per consumer SSRC at the receivers, CPU from /proc; load at start ${r.loadStart}`;
  const perCore = w ? w.receivedPps / w.workerCores : NaN;
  const tracksPerCore = 1 / r.coresPerConsumer;
  return [
    {
      name: `consumers per worker at < 1% loss, ${label}`,
      value: r.carried,
      unit: r.failed ? 'consumers' : 'consumers (cap)',
      detail: w ? `loss ${pct(w.lossFraction)}, ${fmt(w.receivedPps)} pkt/s out, worker ${w.workerCores.toFixed(2)} cores; ${failText}` : failText,
      target: `>= ${MEDIASOUP_CONSUMERS_PER_WORKER} (mediasoup)`,
      met: r.carried >= MEDIASOUP_CONSUMERS_PER_WORKER,
      note: `${how}. Ramp steps of 250 (full) until a step loses >= 1% in two windows in a row or adding its consumers takes over 30 s (the worker is saturated), then one bisection (subscribers closed).`,
    },
    {
      name: `packets/s forwarded per worker core, ${label}`,
      value: perCore,
      unit: 'pkt/s/core',
      detail: w ? `${fmt(w.receivedPps)} pkt/s received ÷ ${w.workerCores.toFixed(2)} worker cores at ${fmt(r.carried)} consumers; ingress ${fmt(w.ingressPps)} pkt/s` : '',
      note: `${how}. Egress packets counted at the receivers divided by the worker's CPU (/proc/PID/task/*/sched) over the same window.`,
    },
    {
      name: `consumers per worker core (CPU slope), ${label}`,
      value: tracksPerCore,
      unit: 'consumers/core',
      detail: `${pct(r.coresPerConsumer * 100)} of a core per 100 consumers; ${fmt(VIDEO_PPS)} pkt/s per video and ${MEDIA_PROFILE.audio.packetsPerSecond} per audio consumer`,
      target: `>= ${LIVEKIT_TRACKS_PER_CPU} (LiveKit cap)`,
      met: tracksPerCore >= LIVEKIT_TRACKS_PER_CPU,
      note: `least-squares slope of worker cores over consumers across the passing ramp steps (the fixed cost of ingress and idle drops out), inverted. ${how}.`,
    },
  ];
}

function rampTable(r: Ramp): string {
  const lines = [
    `Ramp, ${r.srtp ? 'SRTP' : 'plain RTP'} consumers (one row per window; "others" = CPU used by everything else on the machine in that window):`,
    '',
    '| consumers | loss | pkt/s out | worker cores | rig (bench) cores | others | worker RSS | drops: rig sockets / worker ingress | grow |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of r.steps) {
    for (const w of s.windows) {
      lines.push(
        `| ${fmt(s.consumers)}${s.bisect ? ' (bisect)' : ''}${s.reached ? '' : ' (stalled)'} | ${pct(w.lossFraction)} | ${fmt(w.receivedPps)} | ${w.workerCores.toFixed(2)} | ${w.rigCores.toFixed(2)} | ${w.otherCores.toFixed(2)} | ${fmt(w.workerRss / 2 ** 20)} MiB | ${w.receiverDrops} / ${w.workerIngressDrops} | ${fmt(s.growMs / 1000)} s |`,
      );
    }
  }
  return lines.join('\n');
}

function waveLatencyRow(w: WaveResult, name: string, note: string): Row {
  return {
    name,
    value: w.firstConsumer.p50,
    unit: 'ms p50',
    detail: `p99 ${fmt(w.firstConsumer.p99)} ms; join response p50 ${fmt(w.joined.p50)} / p99 ${fmt(w.joined.p99)} ms; first RTP p50 ${fmt(w.firstRtp?.p50 ?? NaN)} / p99 ${fmt(w.firstRtp?.p99 ?? NaN)} ms; ${w.withMedia}/${w.peers} with media${w.firstConsumer.failed ? `; ${w.firstConsumer.failed} failed` : ''}`,
    note,
  };
}

export async function sfu(o: SectionOptions): Promise<SectionResult> {
  const plain = await ramp(o, false);
  const srtp = await ramp(o, true);
  const kf = await keyFrameCost(o, keyFrameStart(plain));
  const sc = await daemonScenario(o);
  const [w50, w100] = sc.media as [WaveResult, WaveResult];
  const pubPps = sc.publisher.videoPps + sc.publisher.audioPps;

  // Baseline-subtracted like the worker's: what the consumers add. The daemon's idle cost (timers,
  // pings, the publisher's own transport) is shown beside it; on a slow machine it was most of the figure.
  const nodePer100 = (w: WaveResult) => (Math.max(0, w.steady!.node - w.baseline!.node) / w.consumers) * 100;
  const workerPer100 = (w: WaveResult) => ((w.steady!.worker - w.baseline!.worker) / w.consumers) * 100;
  const nodeDelta = (w: WaveResult) => w.rss.nodeAfter - w.rss.nodeBefore;
  const workerDelta = (w: WaveResult) => w.rss.workerAfter - w.rss.workerBefore;
  const daemonHow = `a confd from test/helpers startConfd (mediasoup.workers 1); a werift publisher (Opus ${fmt(sc.publisher.audioPps)} + VP8 ${fmt(sc.publisher.videoPps)} pkt/s) and N werift subscribers (msc-node: ICE, DTLS, SRTP in Node, this process), each from its own 127.0.x.y`;
  const steadyText = (w: WaveResult) =>
    `after ${fmt((w.steady!.settleMs ?? 0) / 1000)} s for the joins' work to settle, ${w.peers} subscribers (${w.withMedia} with media on every consumer), ${w.consumers} consumers: Node ${pct(w.steady!.node)} of a core, worker ${pct(w.steady!.worker)} (publisher alone: ${pct(w.baseline!.node)} / ${pct(w.baseline!.worker)}); bench ${w.steady!.bench.toFixed(2)} cores, others ${w.steady!.others.toFixed(2)}`;

  const rows: Row[] = [
    ...rampRows(plain),
    ...rampRows(srtp),
    {
      name: 'daemon Node CPU per 100 consumers (steady state)',
      value: nodePer100(w100) * 100,
      unit: '% of a core',
      target: '< 0.1% (nothing per packet or consumer at rest)',
      met: nodePer100(w100) * 100 < 0.1,
      detail: `${steadyText(w100)}; with 50 subscribers: ${pct(nodePer100(w50))} per 100. Setting consumers up costs more: ${fmt(w100.cpuMs.node / w100.consumers)} ms Node CPU per consumer during the joins`,
      note: `${daemonHow}; CPU of the daemon's Node process (all threads, /proc/PID/task/*/sched) over ${fmt(w100.steady!.seconds)} s with everyone in and media flowing, less the same window with the publisher alone before the wave, ÷ consumers × 100. Goal (issue 21): < 0.1%, nothing per packet or per consumer at rest.`,
    },
    {
      name: 'daemon worker CPU per 100 consumers (WebRTC, steady state)',
      value: workerPer100(w100) * 100,
      unit: '% of a core',
      detail: `= ${fmt(100 / workerPer100(w100))} consumers per core at ~${fmt(pubPps / 2)} pkt/s per consumer; ${w100.withMedia}/${w100.peers} subscribers had media; 50 subscribers: ${pct(workerPer100(w50))} per 100`,
      target: `>= ${LIVEKIT_TRACKS_PER_CPU} consumers/core (LiveKit cap)`,
      met: 100 / workerPer100(w100) >= LIVEKIT_TRACKS_PER_CPU,
      note: `as above, the mediasoup worker's CPU: WebRtcTransport with ICE, DTLS, SRTP (werift negotiates abs-send-time and REMB, not transport-cc); the publisher's streams are lighter than the rig's (${fmt(pubPps)} vs ${fmt(VIDEO_PPS + MEDIA_PROFILE.audio.packetsPerSecond)} pkt/s per publisher).`,
    },
    {
      name: 'memory per peer, daemon Node RSS',
      value: kib((nodeDelta(w50) + nodeDelta(w100)) / (w50.peers + w100.peers)),
      unit: 'KiB',
      detail: `both waves together; 50-peer wave ${fmt(kib(nodeDelta(w50) / w50.peers))} KiB/peer, 100-peer wave ${fmt(kib(nodeDelta(w100) / w100.peers))} KiB/peer (RSS ${fmt(w100.rss.nodeBefore / 2 ** 20)} → ${fmt(w100.rss.nodeAfter / 2 ** 20)} MiB)`,
      note: `${daemonHow}; VmRSS of the daemon's Node process before each wave and in steady state after it, differences summed ÷ peers. RSS moves with V8's heap and GC timing, hence the spread between waves: an estimate, not an exact per-peer size.`,
    },
    {
      name: 'memory per peer, mediasoup worker RSS',
      value: kib((workerDelta(w50) + workerDelta(w100)) / (w50.peers + w100.peers)),
      unit: 'KiB',
      detail: `each peer: 1 WebRtcTransport (UDP + TCP), 2 consumers with RTX; 50-peer wave ${fmt(kib(workerDelta(w50) / w50.peers))}, 100-peer wave ${fmt(kib(workerDelta(w100) / w100.peers))} KiB/peer (RSS ${fmt(w100.rss.workerBefore / 2 ** 20)} → ${fmt(w100.rss.workerAfter / 2 ** 20)} MiB)`,
      note: 'as above, VmRSS of the worker process.',
    },
    ...kf.map(
      (k): Row => ({
        name: `adding ${k.added} consumers at ${fmt(k.from)}, keyFrameRequestDelay ${k.delay}${k.delay === 0 ? " (mediasoup's default)" : ' ms (as confd)'}`,
        value: k.growMs / 1000,
        unit: 's',
        detail: `${k.requests} key frame requests reached the publisher; afterwards loss ${pct(k.window.lossFraction)}, worker ${k.window.workerCores.toFixed(2)} cores`,
        note: `rig as above (plain RTP), grown to ${fmt(k.from)} consumers, then ${k.added} more timed (transport, connect, consume each). Every new video consumer asks for a key frame; the publisher (the rig answers every PLI/FIR at once, as an encoder does) sends one, and the worker forwards it to every consumer of that producer. mediasoup's producer option keyFrameRequestDelay coalesces the requests; src/rooms/media.ts sets it to ${KEY_FRAME_REQUEST_DELAY_MS} ms on every producer.`,
      }),
    ),
    waveLatencyRow(
      w50,
      'join latency, 50 peers at once (WebSocket connect → first consumer)',
      `${daemonHow}: 50 subscribers start at once; per peer, from creating its WebSocket to the first newConsumer request (the consumer exists, offered); also to the join response and to the first RTP packet (after the client's ICE + DTLS). Clients and daemon share the 2 cores.`,
    ),
  ];

  const notes = [
    rampTable(plain),
    rampTable(srtp),
    growParagraph(plain, srtp, kf),
    analysis(plain, srtp, sc),
  ];
  return { rows, notes };
}

function analysis(plain: Ramp, srtp: Ramp, sc: ScenarioResult): string {
  const [w50, w100] = sc.media as [WaveResult, WaveResult];
  const lim = (r: Ramp) => {
    if (!r.failed) return `reached the cap of ${fmt(r.cap)} consumers without 1% loss, so its limit is above that`;
    const f = best(r.failed);
    const where =
      !r.failed.reached
        ? 'creating the consumers stalled'
        : f.receiverDrops > 0 && f.receiverDrops >= f.workerIngressDrops
          ? `the rig's own receive sockets dropped ${fmt(f.receiverDrops)} packets, so there the rig, not the worker, was the bottleneck and the figure is a lower bound`
          : f.workerIngressDrops > 0
            ? `the worker's ingress sockets dropped ${fmt(f.workerIngressDrops)} packets (each is then lost for every consumer of its stream): the worker's single thread could not keep up`
            : 'with no socket drops, so packets were lost inside the worker';
    return `fails at ${fmt(r.failed.consumers)} consumers with the worker at ${f.workerCores.toFixed(2)} cores; ${where}`;
  };
  const daemonKiB = sc.media.reduce((a, w) => a + w.rss.workerAfter - w.rss.workerBefore, 0) / sc.media.reduce((a, w) => a + w.consumers, 0) / 1024;
  const webrtcPer = (w: WaveResult) => (w.steady!.worker - w.baseline!.worker) / w.consumers;
  const pubPps = (sc.publisher.videoPps + sc.publisher.audioPps) / 2;
  const rigPps = (VIDEO_PPS + MEDIA_PROFILE.audio.packetsPerSecond) / 2;
  // Worker CPU per forwarded packet: rig (SRTP) against the daemon with werift peers (WebRTC).
  const usRig = (srtp.coresPerConsumer / rigPps) * 1e6;
  const usWebrtc = (webrtcPer(w100) / pubPps) * 1e6;
  const tracksSrtp = 1 / srtp.coresPerConsumer;
  const tracksWebrtc = 1 / webrtcPer(w100);
  const vsLiveKit = (x: number) => (x >= LIVEKIT_TRACKS_PER_CPU ? `${fmt(x / LIVEKIT_TRACKS_PER_CPU)}× LiveKit's cap` : `below LiveKit's cap`);
  return [
    `**Where confd stands (SFU).** Forwarding is mediasoup's C++ worker; confd adds no per-packet work (the Node process never sees RTP). At the rig's per-consumer rate (video ${fmt(VIDEO_PPS)} pkt/s ≈ ${fmt((MEDIA_PROFILE.video.fps * MEDIA_PROFILE.video.deltaPackets * MEDIA_PROFILE.video.deltaBytes * 8) / 1000)} kbit/s, audio ${MEDIA_PROFILE.audio.packetsPerSecond} pkt/s) one worker carries ${fmt(plain.carried)} plain-RTP and ${fmt(srtp.carried)} SRTP consumers at < 1% loss, against mediasoup's documented ~${MEDIASOUP_CONSUMERS_PER_WORKER} per worker. Plain RTP ${lim(plain)}. SRTP ${lim(srtp)}. Encrypting every outgoing packet is the largest per-consumer cost: ${fmt(1 / plain.coresPerConsumer)} plain vs ${fmt(tracksSrtp)} SRTP consumers per core. mediasoup's ~${MEDIASOUP_CONSUMERS_PER_WORKER} is a planning figure for typical WebRTC streams (higher video bitrates, simulcast, bandwidth estimation per transport); the cost is per packet, so at twice the rig's packet rate per consumer expect about half the consumers. Memory: ${rssText(plain, daemonKiB)}.`,
    `**WebRTC against the rig.** With real WebRTC transports (ICE, DTLS, SRTP, RTCP feedback; werift does not negotiate transport-cc) the daemon's worker spent ${fmt(usWebrtc)} µs of CPU per forwarded packet in steady state with ${fmt(w100.consumers)} consumers, the SRTP rig ${fmt(usRig)} µs${Math.abs(usWebrtc / usRig - 1) < 0.3 ? ': close enough that the rig\'s SRTP figures stand in for WebRTC egress at the same packet rate' : ': they differ by more than 30%, so treat the rig\'s SRTP figures as a rough guide for WebRTC'}. In consumers per core: ${fmt(tracksSrtp)} (SRTP rig, ${vsLiveKit(tracksSrtp)}) and ${fmt(tracksWebrtc)} (WebRTC at ~${fmt(pubPps)} pkt/s per consumer, ${vsLiveKit(tracksWebrtc)}). LiveKit's ~${LIVEKIT_TRACKS_PER_CPU} tracks per CPU is a configured default cap, not a measured capacity.`,
    `**Daemon (Node) side.** In steady state the Node process used ${pct(w100.steady!.node)} of a core with ${fmt(w100.consumers)} consumers (${pct(w50.steady!.node)} with ${fmt(w50.consumers)}; publisher alone ${pct(w100.baseline!.node)}): pings and the odd score event, nothing per packet. Its cost is per join: ${fmt(w100.cpuMs.node / w100.peers)} ms of Node CPU and ${fmt(w100.cpuMs.worker / w100.peers)} ms of worker CPU per werift peer during the 100-peer wave, while each werift client in the bench process used ${fmt(w100.cpuMs.bench / w100.peers)} ms. So on this box join latency with werift clients is bound by the clients (pure-JS ICE/DTLS/SRTP); one peer joining alone gets its join response and first consumer offer in ${fmt(sc.single.firstConsumer.p50)} ms and its first RTP in ${fmt(sc.single.firstRtp.p50)} ms (median of ${sc.single.firstRtp.n}), against ${fmt(w50.firstConsumer.p50)} / ${fmt(w50.firstRtp?.p50 ?? NaN)} ms when 50 start at once. The signalling section's protocol-only wave shows the daemon's own join capacity. Memory: ~${fmt(kib(sc.media.reduce((a, w) => a + w.rss.nodeAfter - w.rss.nodeBefore, 0) / sc.media.reduce((a, w) => a + w.peers, 0)))} KiB of Node RSS (noisy: V8 heap and GC timing) and ~${fmt(kib(sc.media.reduce((a, w) => a + w.rss.workerAfter - w.rss.workerBefore, 0) / sc.media.reduce((a, w) => a + w.peers, 0)))} KiB of worker RSS per peer, small next to the daemon's base RSS (${fmt(w100.rss.nodeBefore / 2 ** 20)} MiB here, of which ~${fmt((sc.login.rssAfter - sc.login.rssBefore) / 2 ** 20)} MiB appeared during the logins: see the signalling section). Load average at the start of the daemon scenario: ${sc.loadavgStart}.`,
  ].join('\n\n');
}

/** Worker RSS in the rig: it grows with time, not only with consumers (see the note). */
function rssText(r: Ramp, daemonKiBPerConsumer: number): string {
  const pass = r.steps.filter((s) => s.pass && !s.bisect);
  const hi = pass[pass.length - 1];
  if (!hi) return '';
  return `the rig's worker reached ${fmt(best(hi).workerRss / 2 ** 20)} MiB at ${fmt(hi.consumers)} plain-RTP consumers, but that is not memory per consumer: its RSS keeps growing (~4 MiB/s at 1,000 consumers, measured when this section was written) while the consumers have NACK on, as the daemon's do, and the rig's receivers send no RTCP back; with NACK off it stayed flat at 21 MiB, and the daemon's worker with werift peers, which send receiver reports, stayed flat too (19 MiB with 40 consumers over 25 s). The daemon's figure, ~${fmt(daemonKiBPerConsumer)} KiB per consumer with its transport, is the one to use`;
}

/** How long adding consumers took, lightly loaded vs at the top of the ramp, and why. */
function growParagraph(plain: Ramp, srtp: Ramp, kf: KeyFrameCost[]): string {
  const text = (r: Ramp) => {
    const grown = r.steps.filter((s) => !s.bisect && s.consumers > 0);
    if (grown.length < 2) return null;
    const first = grown[0]!;
    const last = grown[grown.length - 1]!;
    const prev = grown[grown.length - 2]!;
    return `${r.srtp ? 'SRTP' : 'plain RTP'}: the first ${fmt(first.consumers)} consumers took ${fmt(first.growMs / 1000)} s to create; the last ${fmt(last.consumers - prev.consumers)} (${fmt(prev.consumers)} → ${fmt(last.consumers)}, worker at ${best(prev).workerCores.toFixed(2)} cores before) took ${fmt(last.growMs / 1000)} s${last.reached ? '' : ' and did not finish in time (counted as a failed step)'}`;
  };
  const parts = [text(plain), text(srtp)].filter(Boolean);
  const [k0, k1] = kf;
  const kfText =
    k0 && k1
      ? ` Most of the slowdown is key frames (the worker still answers a trivial channel request in ~0.1 ms at 2,500 consumers): adding ${k0.added} consumers at ${fmt(k0.from)} took ${fmt(k0.growMs / 1000)} s with ${k0.requests} key frame requests reaching the publisher without coalescing (mediasoup's default), and ${fmt(k1.growMs / 1000)} s with ${k1.requests} when the producers coalesce requests (keyFrameRequestDelay ${k1.delay} ms, confd's setting). Each new video consumer of a producer that already has N consumers makes the worker forward a whole key frame N times, so filling a room costs O(N²) key-frame packets, and a real encoder's key frames are far bigger than the rig's ${MEDIA_PROFILE.video.keyPackets} packets. confd therefore sets keyFrameRequestDelay ${k1.delay} ms on its producers (src/rooms/media.ts): the first request still goes out at once, and a joiner in a burst waits at most that long for first video.`
      : '';
  return `**Consumer creation near saturation.** Creating consumers runs on the worker thread that forwards: ${parts.join('; ')}.${kfText} The daemon places each new room on the worker with the fewest peers (src/sfu/worker-pool.ts leastLoaded()), so one large room does not count as one small one, and a room that outgrows its router spreads onto another worker (src/sfu/router-set.ts; see the next section for one room over both workers). On this 2-core box the rig's receivers (a worker thread of the bench process) share the second core with the sender and everything else; the "rig" and "others" columns show how close they came to limiting the figure.`;
}

export const sfuSection: Section = { id: 'sfu', title: 'SFU (mediasoup worker, daemon CPU and memory)', run: sfu };
