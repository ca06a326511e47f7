import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenBucket } from './rate-limit.ts';

test('token bucket: full again once refilled, so that forgetting it loses nothing', () => {
  let t = 0;
  const b = tokenBucket(2, 4, () => t);
  assert.equal(b.full(), true, 'a new bucket is full');
  for (let i = 0; i < 4; i++) assert.equal(b.take(), true);
  assert.equal(b.take(), false, 'the burst is spent');
  assert.equal(b.full(), false);
  t = 1000;
  assert.equal(b.full(), false, 'two of four back after a second');
  assert.equal(b.take(), true);
  t = 3000;
  assert.equal(b.full(), true, 'all four back');
  assert.equal(b.take(), true, 'full() took nothing');
});
