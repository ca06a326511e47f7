import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOLD_MS, QUIET_MS, SpeakerFocus, type FocusClock } from './speaker-focus.ts';

/** A hand-driven clock: `advance` runs the timers that come due. */
function fakeClock(): FocusClock & { advance(ms: number): void; pending(): number } {
  let t = 1000;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => t,
    later(fn, ms) {
      const timer = { at: t + ms, fn };
      timers.push(timer);
      return () => (timers = timers.filter((x) => x !== timer));
    },
    advance(ms) {
      const end = t + ms;
      for (;;) {
        const due = timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((x) => x !== due);
        t = due.at;
        due.fn();
      }
      t = end;
    },
    pending: () => timers.length,
  };
}

function setup(self = 'me') {
  const clock = fakeClock();
  const changes: (string | null)[] = [];
  const f = new SpeakerFocus({ self: () => self, onChange: (x) => changes.push(x), clock });
  return { f, clock, changes };
}

test('a grid until someone else is the dominant speaker; then they are featured at once', () => {
  const { f, changes } = setup();
  assert.equal(f.featured, null);
  f.speaking(['ann']);
  assert.equal(f.featured, null, 'audible is not dominant');
  f.dominant('ann');
  assert.equal(f.featured, 'ann');
  assert.deepEqual(changes, ['ann']);
  f.dominant('ann');
  assert.deepEqual(changes, ['ann'], 'no change, no call');
});

test('our own tile is never featured: we speaking keeps whoever is shown (or the grid)', () => {
  const { f, clock, changes } = setup('me');
  f.dominant('me');
  assert.equal(f.featured, null);
  f.dominant('ann');
  clock.advance(5000);
  f.dominant('me');
  assert.equal(f.featured, 'ann');
  assert.deepEqual(changes, ['ann']);
});

test('hold: a new dominant speaker within HOLD_MS waits for the hold to end, then the latest one is featured', () => {
  const { f, clock, changes } = setup();
  f.speaking(['ann', 'bob']);
  f.dominant('ann');
  clock.advance(500);
  f.dominant('bob');
  assert.equal(f.featured, 'ann', 'both audible: no clear speaker change, held');
  clock.advance(500);
  f.dominant('cy');
  clock.advance(HOLD_MS - 1000 - 1);
  assert.equal(f.featured, 'ann');
  clock.advance(1);
  assert.equal(f.featured, 'cy', 'the latest dominant speaker when the hold ends');
  assert.deepEqual(changes, ['ann', 'cy']);
});

test('hold: flapping back to the featured speaker within the hold cancels the change', () => {
  const { f, clock, changes } = setup();
  f.dominant('ann');
  clock.advance(300);
  f.dominant('bob');
  clock.advance(300);
  f.dominant('ann');
  clock.advance(HOLD_MS * 2);
  assert.deepEqual(changes, ['ann']);
  assert.equal(clock.pending(), 0);
});

test('after the hold a change is immediate', () => {
  const { f, clock } = setup();
  f.dominant('ann');
  clock.advance(HOLD_MS);
  f.dominant('bob');
  assert.equal(f.featured, 'bob');
});

test('another speaking clearly (audible, the featured one quiet for QUIET_MS) takes over within the hold', () => {
  const { f, clock } = setup();
  f.speaking(['ann']);
  f.dominant('ann');
  clock.advance(200);
  f.speaking([]);
  clock.advance(QUIET_MS - 100);
  f.speaking(['bob']);
  f.dominant('bob');
  assert.equal(f.featured, 'ann', 'ann quiet for less than QUIET_MS');
  clock.advance(100);
  f.speaking(['bob']);
  assert.equal(f.featured, 'bob', 'ann quiet long enough, bob audible: no need to wait for the hold');
});

test('the featured one leaving, or a reset, goes back to the grid; a pending one leaving is dropped', () => {
  const { f, clock, changes } = setup();
  f.dominant('ann');
  clock.advance(100);
  f.dominant('bob');
  f.removed('bob');
  clock.advance(HOLD_MS);
  assert.equal(f.featured, 'ann');
  f.removed('ann');
  assert.equal(f.featured, null);
  f.dominant('cy');
  f.dominant(null);
  assert.equal(f.featured, null);
  assert.deepEqual(changes, ['ann', null, 'cy', null]);
});
