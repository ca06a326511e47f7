import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpeakerTracker } from './speaker.ts';

test('a dominant speaker nobody has heard is not announced; once heard, it is', () => {
  const s = new SpeakerTracker();
  assert.deepEqual(s.dominant('ann'), {}, 'the observer names its first producer before anyone spoke');
  assert.equal(s.announced, null);
  assert.deepEqual(s.levels([]), {}, 'silence, as before: nothing to say');
  assert.deepEqual(s.levels(['ann']), { speaking: ['ann'], speaker: 'ann' });
  assert.equal(s.announced, 'ann');
  assert.deepEqual(s.levels(['ann']), {}, 'no change, no message');
});

test('speaking is reported as a sorted set, only when it changes', () => {
  const s = new SpeakerTracker();
  assert.deepEqual(s.levels(['cy', 'bob', 'cy']), { speaking: ['bob', 'cy'] });
  assert.deepEqual(s.levels(['bob', 'cy']), {});
  assert.deepEqual(s.levels([]), { speaking: [] });
});

test('the dominant speaker changes to someone heard; a not-yet-heard one waits until heard', () => {
  const s = new SpeakerTracker();
  s.levels(['ann', 'bob']);
  assert.deepEqual(s.dominant('ann'), { speaker: 'ann' });
  assert.deepEqual(s.dominant('bob'), { speaker: 'bob' });
  assert.deepEqual(s.dominant('cy'), {}, 'cy never spoke');
  assert.equal(s.announced, 'bob');
  assert.deepEqual(s.levels(['cy']), { speaking: ['cy'], speaker: 'cy' });
});

test('the announced speaker leaving clears it; others leaving change only who speaks', () => {
  const s = new SpeakerTracker();
  s.levels(['ann', 'bob']);
  s.dominant('ann');
  assert.deepEqual(s.left('bob'), { speaking: ['ann'] });
  assert.equal(s.announced, 'ann');
  assert.deepEqual(s.left('ann'), { speaking: [], speaker: null });
  assert.equal(s.announced, null);
  assert.deepEqual(s.dominant('ann'), {}, 'a peer id that comes back must be heard again');
});

test('the speaker leaving frees the floor: the next dominant must be heard again, unless speaking now', () => {
  const s = new SpeakerTracker();
  s.levels(['ann', 'bob']);
  s.dominant('bob');
  s.dominant('ann');
  s.levels([]);
  assert.deepEqual(s.left('ann'), { speaker: null });
  assert.deepEqual(s.dominant('bob'), {}, 'bob spoke before, but not since the floor was freed');
  assert.deepEqual(s.levels(['bob']), { speaking: ['bob'], speaker: 'bob' }, 'heard again: announced');

  const t = new SpeakerTracker();
  t.levels(['ann', 'bob']);
  t.dominant('ann');
  assert.deepEqual(t.left('ann'), { speaking: ['bob'], speaker: null });
  assert.deepEqual(t.dominant('bob'), { speaker: 'bob' }, 'bob is speaking right now');
});
