import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLobbyGuard } from './lobby-guard.ts';

const limits = { perAddress: 3, knockNoticeMs: 1000, deniesBeforePause: 3, denyWindowMs: 60_000, pauseMs: 30_000 };

test('lobby guard: a share of the queue per address', () => {
  const g = createLobbyGuard(limits);
  assert.equal(g.hasRoom(0), true);
  assert.equal(g.hasRoom(2), true);
  assert.equal(g.hasRoom(3), false);
});

test('lobby guard: one knock told per address per second, the others counted into the next', () => {
  const g = createLobbyGuard(limits);
  assert.deepEqual(g.knock('a', 0), { tell: true, coalesced: 0 });
  for (let t = 1; t < 1000; t += 100) assert.deepEqual(g.knock('a', t), { tell: false });
  assert.deepEqual(g.knock('b', 500), { tell: true, coalesced: 0 }, 'another address is told at once');
  assert.deepEqual(g.knock('a', 1000), { tell: true, coalesced: 10 });
});

test('lobby guard: an address paused once deniesBeforePause of its guests were denied within the window', () => {
  const g = createLobbyGuard(limits);
  assert.equal(g.denied('a', 0), false, 'one denied guest does not shut out its address');
  assert.equal(g.pausedFor('a', 0), 0);
  assert.equal(g.denied('a', 1), false);
  assert.equal(g.denied('a', 2), true, 'the third starts a pause, once');
  assert.equal(g.denied('a', 3), false);
  assert.equal(g.pausedFor('a', 1002), 29_000);
  assert.equal(g.pausedFor('b', 1002), 0);
  assert.equal(g.idle(1002), false, 'a pause keeps the room');
  assert.equal(g.pausedFor('a', 30_002), 0);
  assert.equal(g.idle(30_002), true);
  // Denials older than the window do not count.
  g.denied('c', 0);
  g.denied('c', 1);
  assert.equal(g.denied('c', 60_001), false);
});

test('lobby guard: a sweep forgets old notices, ended pauses and denials older than the window', () => {
  const g = createLobbyGuard(limits);
  for (let i = 0; i < 50; i++) g.knock(`k${i}`, 0);
  g.denied('d', 0);
  for (let i = 0; i < 3; i++) g.denied('p', i);
  assert.equal(g.size(), 52, '50 notices, one address with a denial, one paused');
  g.sweep(1_000);
  assert.equal(g.size(), 2, 'notices go after knockNoticeMs');
  g.sweep(59_999);
  assert.equal(g.size(), 1, 'the pause is over; the denial is still in its window');
  assert.equal(g.denied('d', 59_999), false);
  g.sweep(60_000);
  assert.equal(g.size(), 1, 'the second denial keeps the address');
  g.sweep(119_999);
  assert.equal(g.size(), 0, 'gone once its last denial left the window');
});
