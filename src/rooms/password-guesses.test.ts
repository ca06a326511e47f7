import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPasswordGuesses } from './password-guesses.ts';

const limits = { perAddress: 3, perRoom: 7, windowMs: 60_000 };

test('password guesses: an address is blocked after perAddress wrong ones, for the window; others are not', () => {
  const g = createPasswordGuesses(limits);
  assert.equal(g.failed('a', 0), null);
  assert.equal(g.failed('a', 1), null);
  assert.deepEqual(g.failed('a', 2), { scope: 'address', retryAfterMs: 60_000 }, 'the third starts the block, once');
  assert.deepEqual(g.blocked('a', 1_002), { scope: 'address', retryAfterMs: 59_000 });
  assert.equal(g.failed('a', 1_003), null, 'a blocked address counts nothing more and starts no second block');
  assert.equal(g.blocked('b', 1_003), null);
  assert.equal(g.blocked('a', 60_002), null, 'over once the window has passed');
});

test('password guesses: old failures fall out of the window; the right password forgives the address', () => {
  const g = createPasswordGuesses(limits);
  g.failed('a', 0);
  g.failed('a', 1);
  assert.equal(g.failed('a', 60_001), null, 'the first two are older than the window');
  g.succeeded('a');
  g.failed('a', 60_002);
  assert.equal(g.failed('a', 60_003), null, 'counted afresh after a success');
});

test('password guesses: wrong ones from many addresses block the room for everyone', () => {
  const g = createPasswordGuesses(limits);
  let block = null;
  for (let i = 0; i < 7 && !block; i++) block = g.failed(`addr-${i}`, i);
  assert.deepEqual(block, { scope: 'room', retryAfterMs: 60_000 });
  assert.deepEqual(g.blocked('never-seen', 10), { scope: 'room', retryAfterMs: 59_996 });
  assert.equal(g.blocked('never-seen', 60_007), null);
});

test('password guesses: a sweep forgets addresses whose wrong passwords left the window, and ended blocks', () => {
  const g = createPasswordGuesses(limits);
  g.failed('a', 0);
  for (let i = 0; i < 3; i++) g.failed('b', i);
  g.failed('c', 30_000);
  assert.equal(g.size(), 3, 'a counted, b blocked (its count dropped), c counted');
  g.sweep(59_999);
  assert.equal(g.size(), 3, 'all still in their window');
  g.sweep(60_000);
  assert.equal(g.size(), 2, "a's only failure left the window");
  g.sweep(60_002);
  assert.equal(g.size(), 1, "b's block is over");
  assert.equal(g.blocked('c', 60_002), null);
  g.sweep(90_000);
  assert.equal(g.size(), 0);
});
