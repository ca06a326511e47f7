/**
 * Which simulcast layer each of a receiver's video consumers may get on its link, as pure decisions
 * (media.ts feeds them mediasoup's transport-cc estimate and applies the result as a ceiling on the
 * consumers' preferred layers).
 *
 * Why not leave it to mediasoup alone: its consumers climb to a higher layer as soon as a probe says the
 * link might carry it. On a link that cannot, the switch brings a key frame and a burst the link drops,
 * the estimate collapses below even the lowest layer, and the receiver sees nothing for seconds (a
 * 300 kbit/s receiver on the network lab froze for up to 8 s at a time before this module; with it,
 * BENCHMARKS.md "Adaptive media on shaped links" measures gaps under 0.7 s). So a layer
 * is given only when the estimate has room for what that layer measurably costs, with headroom, and
 * has had it for a while; and taken away at once when it has not.
 */

/** One video consumer of the receiver, as the allocation sees it. */
export interface VideoDemand {
  id: string;
  /** The layer its tile wants (adaptive stream): never more than this. */
  wanted: number;
  /** What each spatial layer of its producer costs, bits/s, lowest first (measured; see layerCosts). */
  costs: readonly number[];
  /** consumer priority (the active speaker's video is raised): higher is served first. */
  priority: number;
}

/** Only this share of the estimate is spent to keep a layer: the estimate is an estimate, and RTX/RTCP/padding ride on top. */
export const HEADROOM = 0.85;
/**
 * And only this share to climb to a higher one: a probe overshoots the link for seconds (a 300 kbit/s
 * link was estimated at 476-544 kbit/s for 4 s), and a layer switch that fails costs a key frame and a
 * stall, so climbing asks for more room than staying.
 */
export const RAISE_HEADROOM = 0.7;
/** An Opus consumer with its RTP overhead (the page sends mono speech at ~32 kbit/s). */
export const AUDIO_BPS = 48_000;
/** A layer above the current one is given only once the estimate has had room for it this long. */
export const RAISE_HOLD_MS = 4000;
/**
 * A receiver held below the layer its tile wants gets one layer more on trial after this long, doubling
 * (up to TRIAL_MAX_MS) each time a trial is taken back within TRIAL_JUDGE_MS. Why: on a link that carries
 * only the lowest layer, mediasoup's estimate can stay near what is sent (~150-290 kbit/s) long after
 * the link has recovered (the bench saw 64 s), so waiting for the estimate alone may never climb.
 */
export const TRIAL_AFTER_MS = 20_000;
export const TRIAL_MAX_MS = 160_000;
export const TRIAL_JUDGE_MS = 10_000;

/**
 * The range a sender-declared maxBitrate is taken in: it feeds the probes of bandwidth trials
 * (setMinOutgoingBitrate), and a sender that declares 10^12 must not make the server pad a receiver's
 * link with it. 8 Mbit/s is above any one layer a camera, a screen or a broadcast encoder sends.
 */
export const DECLARED_LAYER_BPS = { min: 30_000, max: 8_000_000 };

const declared = (bps: number | undefined) => (typeof bps === 'number' && Number.isFinite(bps) ? Math.min(DECLARED_LAYER_BPS.max, Math.max(DECLARED_LAYER_BPS.min, bps)) : undefined);

/**
 * What each layer costs, from the bitrates measured at the producer (0 or missing: not being sent,
 * e.g. switched off by dynacast) and the encodings' maxBitrate: a layer never costs less than the one
 * below it, and an unmeasured one is taken at its maxBitrate (clamped to DECLARED_LAYER_BPS; or three
 * times the layer below).
 */
export function layerCosts(measured: readonly (number | undefined)[], maxBitrates: readonly (number | undefined)[], layers: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < layers; i++) {
    const m = measured[i];
    const nominal = declared(maxBitrates[i]) ?? (i === 0 ? 150_000 : Math.min(DECLARED_LAYER_BPS.max, out[i - 1]! * 3));
    const cost = m !== undefined && m > 0 ? m : nominal;
    out.push(Math.max(cost, i === 0 ? 1 : out[i - 1]!));
  }
  return out;
}

/**
 * The highest layer each consumer fits in `availableBps` (mediasoup's estimate for the receiver's
 * transport). Every consumer gets layer 0 (mediasoup itself stops a stream that does not fit at all);
 * then higher priorities are raised first, and consumers of one priority a layer at a time in turn, so
 * equals share the link.
 */
export function allocateLayers(availableBps: number, audioConsumers: number, demands: readonly VideoDemand[], headroom = HEADROOM): Map<string, number> {
  let budget = availableBps * headroom - audioConsumers * AUDIO_BPS;
  const out = new Map<string, number>();
  for (const d of demands) {
    out.set(d.id, 0);
    budget -= d.costs[0] ?? 0;
  }
  const priorities = [...new Set(demands.map((d) => d.priority))].sort((a, b) => b - a);
  for (const p of priorities) {
    const group = demands.filter((d) => d.priority === p);
    for (let raised = true; raised; ) {
      raised = false;
      for (const d of group) {
        const l = out.get(d.id)!;
        const top = Math.min(d.wanted, d.costs.length - 1);
        if (l >= top) continue;
        const extra = d.costs[l + 1]! - d.costs[l]!;
        if (extra > budget) continue;
        budget -= extra;
        out.set(d.id, l + 1);
        raised = true;
      }
    }
  }
  return out;
}

/** A consumer's bandwidth ceiling over time: null until the first estimate. */
export interface Ceiling {
  layer: number | null;
  /** Since when the allocation has offered more than `layer` without a break. */
  raiseSince: number | null;
  /** When the last raise (by the estimate or on trial) happened, and when the next trial may come. */
  raisedAt?: number | null;
  trialAt?: number | null;
  /** The wait before the next trial: TRIAL_AFTER_MS, doubled by each trial taken back. */
  trialWaitMs?: number;
}

export const NO_CEILING: Ceiling = { layer: null, raiseSince: null, raisedAt: null, trialAt: null, trialWaitMs: TRIAL_AFTER_MS };

/**
 * `keep`: the layer the allocation gives with HEADROOM; `raise`: with RAISE_HEADROOM (never above keep);
 * `wanted`: what the tile wants. Lowered at once to `keep`; raised to `raise` only after it has stayed
 * above the current layer for RAISE_HOLD_MS without a break (a probe that overshoots for a moment is not
 * a link); and, held below `wanted`, raised by one layer on trial now and then (TRIAL_AFTER_MS): the
 * trial stands if the estimate then carries it, and is lowered at the next estimate if not.
 */
export function ceilingStep(s: Ceiling, keep: number, raise: number, wanted: number, now: number, holdMs = RAISE_HOLD_MS): Ceiling {
  const wait = s.trialWaitMs ?? TRIAL_AFTER_MS;
  if (s.layer === null) return { layer: keep, raiseSince: null, raisedAt: null, trialAt: keep < wanted ? now + wait : null, trialWaitMs: wait };
  if (keep < s.layer) {
    // Taken back soon after a raise: that raise (a trial, or an estimate that overshot) failed.
    const failed = s.raisedAt != null && now - s.raisedAt < TRIAL_JUDGE_MS;
    const nextWait = failed ? Math.min(wait * 2, TRIAL_MAX_MS) : TRIAL_AFTER_MS;
    return { layer: keep, raiseSince: null, raisedAt: null, trialAt: keep < wanted ? now + nextWait : null, trialWaitMs: nextWait };
  }
  const trialAt = s.layer < wanted ? (s.trialAt ?? now + wait) : null;
  if (raise > s.layer) {
    const since = s.raiseSince ?? now;
    if (now - since >= holdMs) return { layer: raise, raiseSince: null, raisedAt: now, trialAt: raise < wanted ? now + wait : null, trialWaitMs: wait };
    return { ...s, raiseSince: since, trialAt };
  }
  if (trialAt !== null && now >= trialAt) return { layer: s.layer + 1, raiseSince: null, raisedAt: now, trialAt: s.layer + 1 < wanted ? now + wait : null, trialWaitMs: wait };
  return { ...s, raiseSince: null, trialAt };
}
