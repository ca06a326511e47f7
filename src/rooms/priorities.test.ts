import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PRIORITY, priorityChanges, priorityFor, SPEAKER_PRIORITY, type ConsumerRef } from './priorities.ts';

const c = (id: string, producerPeerId: string | null, kind: 'audio' | 'video', priority = DEFAULT_PRIORITY): ConsumerRef & { id: string } => ({ id, producerPeerId, kind, priority });

test('priorityFor: only video from the speaker is raised', () => {
  assert.equal(priorityFor(c('1', 'ann', 'video'), 'ann'), SPEAKER_PRIORITY);
  assert.equal(priorityFor(c('2', 'ann', 'audio'), 'ann'), DEFAULT_PRIORITY, 'audio takes no part in the bitrate game');
  assert.equal(priorityFor(c('3', 'bob', 'video'), 'ann'), DEFAULT_PRIORITY);
  assert.equal(priorityFor(c('4', 'ann', 'video'), null), DEFAULT_PRIORITY, 'no speaker: nobody is raised');
  assert.equal(priorityFor(c('5', null, 'video'), 'ann'), DEFAULT_PRIORITY);
  assert.ok(SPEAKER_PRIORITY > DEFAULT_PRIORITY && SPEAKER_PRIORITY <= 255);
});

test('priorityChanges: a new speaker raises theirs and resets the previous one; nothing else is touched', () => {
  const all = [
    c('ann-cam@bob', 'ann', 'video', SPEAKER_PRIORITY),
    c('ann-screen@bob', 'ann', 'video', SPEAKER_PRIORITY),
    c('ann-mic@bob', 'ann', 'audio'),
    c('bob-cam@ann', 'bob', 'video'),
    c('bob-cam@cy', 'bob', 'video'),
    c('cy-cam@ann', 'cy', 'video'),
  ];
  const changes = priorityChanges(all, 'bob').map((x) => [x.consumer.id, x.priority]);
  assert.deepEqual(changes, [
    ['ann-cam@bob', DEFAULT_PRIORITY],
    ['ann-screen@bob', DEFAULT_PRIORITY],
    ['bob-cam@ann', SPEAKER_PRIORITY],
    ['bob-cam@cy', SPEAKER_PRIORITY],
  ]);
  assert.deepEqual(priorityChanges(all, 'ann'), [], 'already right: no requests');
  assert.deepEqual(
    priorityChanges(all, null).map((x) => x.consumer.id),
    ['ann-cam@bob', 'ann-screen@bob'],
    'the speaker gone: everything back to the default',
  );
});
