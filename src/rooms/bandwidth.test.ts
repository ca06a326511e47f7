import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocateLayers, AUDIO_BPS, ceilingStep, HEADROOM, layerCosts, RAISE_HOLD_MS, type VideoDemand } from './bandwidth.ts';

// What Chromium's fake camera sends in the three webcam layers (BENCHMARKS.md): ~145/360/750 kbit/s.
const CAM = [145_000, 360_000, 750_000];
const d = (id: string, o: Partial<VideoDemand> = {}): VideoDemand => ({ id, wanted: 2, costs: CAM, priority: 1, ...o });

test('layerCosts: measured where sent, maxBitrate where not, never less than the layer below', () => {
  assert.deepEqual(layerCosts([145_000, 360_000, 750_000], [150_000, 500_000, 1_500_000], 3), CAM);
  assert.deepEqual(layerCosts([145_000, 0, undefined], [150_000, 500_000, 1_500_000], 3), [145_000, 500_000, 1_500_000], 'switched off by dynacast: nominal');
  assert.deepEqual(layerCosts([], [], 3), [150_000, 450_000, 1_350_000], 'nothing known: 150k, then x3');
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

test('ceilingStep: down at once; up only after the room has held RAISE_HOLD_MS, straight to what is offered', () => {
  let s = ceilingStep({ layer: null, raiseSince: null }, 1, 1, 0);
  assert.deepEqual(s, { layer: 1, raiseSince: null }, 'the first estimate sets it');
  s = ceilingStep(s, 0, 0, 100);
  assert.deepEqual(s, { layer: 0, raiseSince: null }, 'lowered at once');
  s = ceilingStep(s, 2, 2, 1000);
  assert.deepEqual(s, { layer: 0, raiseSince: 1000 }, 'offered more: held');
  s = ceilingStep(s, 2, 2, 1000 + RAISE_HOLD_MS - 1);
  assert.equal(s.layer, 0);
  s = ceilingStep(s, 2, 2, 1000 + RAISE_HOLD_MS);
  assert.deepEqual(s, { layer: 2, raiseSince: null }, 'after the hold: straight to the offer');
});

test('ceilingStep: a probe that overshoots for less than the hold raises nothing; keep without raise room stays put', () => {
  let s = { layer: 0, raiseSince: null } as { layer: number | null; raiseSince: number | null };
  s = ceilingStep(s, 1, 1, 0);
  s = ceilingStep(s, 1, 1, RAISE_HOLD_MS - 500);
  s = ceilingStep(s, 0, 0, RAISE_HOLD_MS - 100); // the estimate falls back: the hold starts over
  s = ceilingStep(s, 1, 1, RAISE_HOLD_MS + 100);
  assert.deepEqual(s, { layer: 0, raiseSince: RAISE_HOLD_MS + 100 });
  // Room to keep layer 1 but not to climb to it (keep 1, raise 0): nothing moves.
  assert.deepEqual(ceilingStep({ layer: 0, raiseSince: null }, 1, 0, 0), { layer: 0, raiseSince: null });
  assert.deepEqual(ceilingStep({ layer: 1, raiseSince: null }, 1, 0, 0), { layer: 1, raiseSince: null });
});
