import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateLayers, AUDIO_BPS, ceilingStep, HEADROOM, layerCosts, NO_CEILING, RAISE_HOLD_MS, TRIAL_AFTER_MS, TRIAL_JUDGE_MS, TRIAL_MAX_MS, type Ceiling, type VideoDemand } from './bandwidth.ts';

// What Chromium's fake camera sends in the three webcam layers (BENCHMARKS.md): ~145/360/750 kbit/s.
const CAM = [145_000, 360_000, 750_000];
const d = (id: string, o: Partial<VideoDemand> = {}): VideoDemand => ({ id, wanted: 2, costs: CAM, priority: 1, ...o });

test('layerCosts: measured where sent, maxBitrate where not, never less than the layer below', () => {
  assert.deepEqual(layerCosts([145_000, 360_000, 750_000], [150_000, 500_000, 1_500_000], 3), CAM);
  assert.deepEqual(layerCosts([145_000, 0, undefined], [150_000, 500_000, 1_500_000], 3), [145_000, 500_000, 1_500_000], 'switched off by dynacast: nominal');
  assert.deepEqual(layerCosts([], [], 3), [150_000, 450_000, 1_350_000], 'nothing known: 150k, then x3');
  assert.deepEqual(layerCosts([], [1e12, Infinity, -5], 3), [8_000_000, 8_000_000, 8_000_000], 'declared by a liar: clamped (a probe must not pad a link with 10^12)');
  assert.deepEqual(layerCosts([], [1, NaN, 2e6], 3), [30_000, 90_000, 2_000_000], 'too small or not a number: clamped, or x3 the layer below');
  assert.deepEqual(layerCosts([200_000, 100_000], [undefined, undefined], 2), [200_000, 200_000], 'a layer measured low (just started) costs no less than the one below');
});

test('allocateLayers: a 300 kbit/s link gets layer 0; 2 Mbit/s gets the top; the tile caps it', () => {
  assert.deepEqual(allocateLayers(300_000, 0, [d('a')]), new Map([['a', 0]]));
  assert.deepEqual(allocateLayers(500_000, 0, [d('a')]), new Map([['a', 1]]), '425k of room: 360k fits');
  assert.deepEqual(allocateLayers(2_000_000, 0, [d('a')]), new Map([['a', 2]]));
  assert.deepEqual(allocateLayers(2_000_000, 0, [d('a', { wanted: 0 })]), new Map([['a', 0]]), 'a small tile never gets more');
  assert.deepEqual(allocateLayers(10_000, 0, [d('a')]), new Map([['a', 0]]), 'nothing fits: still layer 0 (mediasoup stops what does not fit)');
});

test('allocateLayers: audio is paid for first', () => {
  const room = 360_000 / HEADROOM;
  assert.equal(allocateLayers(room + 1000, 0, [d('a')]).get('a'), 1);
  assert.equal(allocateLayers(room + 1000, 2, [d('a')]).get('a'), 0, `two audio consumers take ${2 * AUDIO_BPS} bit/s`);
});

test('allocateLayers: the speaker (higher priority) is served first; equals share a layer at a time', () => {
  // 1.3 Mbit/s * 0.85 = 1105k: the speaker's 750k + the other's 145k fit, not both at 360k plus 750k.
  const got = allocateLayers(1_300_000, 0, [d('quiet'), d('speaker', { priority: 3 })]);
  assert.deepEqual(got, new Map([['quiet', 0], ['speaker', 2]]));
  const equals = allocateLayers(1_000_000, 0, [d('a'), d('b')]);
  assert.deepEqual(equals, new Map([['a', 1], ['b', 1]]), '850k: both at 360k rather than one at 750k');
});

const at = (c: Ceiling) => ({ layer: c.layer, raiseSince: c.raiseSince });

test('ceilingStep: down at once; up only after the room has held RAISE_HOLD_MS, straight to what is offered', () => {
  let s = ceilingStep(NO_CEILING, 1, 1, 2, 0);
  assert.deepEqual(at(s), { layer: 1, raiseSince: null }, 'the first estimate sets it');
  s = ceilingStep(s, 0, 0, 2, 100);
  assert.deepEqual(at(s), { layer: 0, raiseSince: null }, 'lowered at once');
  s = ceilingStep(s, 2, 2, 2, 1000);
  assert.deepEqual(at(s), { layer: 0, raiseSince: 1000 }, 'offered more: held');
  s = ceilingStep(s, 2, 2, 2, 1000 + RAISE_HOLD_MS - 1);
  assert.equal(s.layer, 0);
  s = ceilingStep(s, 2, 2, 2, 1000 + RAISE_HOLD_MS);
  assert.deepEqual(at(s), { layer: 2, raiseSince: null }, 'after the hold: straight to the offer');
});

test('ceilingStep: a probe that overshoots for less than the hold raises nothing; keep without raise room stays put', () => {
  let s: Ceiling = { ...NO_CEILING, layer: 0 };
  s = ceilingStep(s, 1, 1, 2, 0);
  s = ceilingStep(s, 1, 1, 2, RAISE_HOLD_MS - 500);
  s = ceilingStep(s, 0, 0, 2, RAISE_HOLD_MS - 100); // the estimate falls back: the hold starts over
  s = ceilingStep(s, 1, 1, 2, RAISE_HOLD_MS + 100);
  assert.deepEqual(at(s), { layer: 0, raiseSince: RAISE_HOLD_MS + 100 });
  // Room to keep layer 1 but not to climb to it (keep 1, raise 0): nothing moves.
  assert.equal(ceilingStep({ ...NO_CEILING, layer: 0 }, 1, 0, 2, 0).layer, 0);
  assert.equal(ceilingStep({ ...NO_CEILING, layer: 1 }, 1, 0, 2, 0).layer, 1);
});

test('ceilingStep: held below the tile, one layer more on trial after TRIAL_AFTER_MS; a trial taken back doubles the wait', () => {
  // The cap came at t=0: layer 0, the tile wants 2, the estimate stays low (keep 0, raise 0).
  let s = ceilingStep({ ...NO_CEILING, layer: 2 }, 0, 0, 2, 0);
  assert.equal(s.layer, 0);
  for (let t = 1000; t < TRIAL_AFTER_MS; t += 1000) s = ceilingStep(s, 0, 0, 2, t);
  assert.equal(s.layer, 0, 'no trial before TRIAL_AFTER_MS');
  s = ceilingStep(s, 0, 0, 2, TRIAL_AFTER_MS);
  assert.equal(s.layer, 1, 'a trial: one layer more, although the estimate says no');
  // The next estimate cannot carry it: taken back at once, next trial after twice the wait.
  s = ceilingStep(s, 0, 0, 2, TRIAL_AFTER_MS + 2000);
  assert.equal(s.layer, 0);
  assert.equal(s.trialAt, TRIAL_AFTER_MS + 2000 + 2 * TRIAL_AFTER_MS);
  // Failures double up to TRIAL_MAX_MS.
  let t = s.trialAt!;
  for (let i = 0; i < 6; i++) {
    s = ceilingStep(s, 0, 0, 2, t);
    assert.equal(s.layer, 1, `trial ${i + 2}`);
    s = ceilingStep(s, 0, 0, 2, t + 1000);
    t = s.trialAt!;
  }
  assert.equal(s.trialWaitMs, TRIAL_MAX_MS);
  // A trial that holds (the estimate then carries layer 1) stands, and the next one is at the base wait.
  s = ceilingStep(s, 0, 0, 2, t);
  assert.equal(s.layer, 1);
  s = ceilingStep(s, 1, 1, 2, t + TRIAL_JUDGE_MS + 1);
  assert.equal(s.layer, 1);
  // At the layer the tile wants, no trials.
  assert.equal(ceilingStep({ ...NO_CEILING, layer: 2 }, 2, 2, 2, 10 * TRIAL_MAX_MS).trialAt, null);
  assert.equal(ceilingStep({ ...NO_CEILING, layer: 0, trialAt: 0 }, 0, 0, 0, 10 * TRIAL_MAX_MS).layer, 0, 'a small tile: never a trial');
});

test('ceilingStep: lowered long after a raise (the link got worse, not a failed trial): the wait is back to the base', () => {
  let s = ceilingStep({ ...NO_CEILING, layer: 0, trialWaitMs: TRIAL_MAX_MS }, 2, 2, 2, 0);
  s = ceilingStep(s, 2, 2, 2, RAISE_HOLD_MS);
  assert.equal(s.layer, 2);
  s = ceilingStep(s, 0, 0, 2, RAISE_HOLD_MS + TRIAL_JUDGE_MS + 1);
  assert.equal(s.trialWaitMs, TRIAL_AFTER_MS);
});
