import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBounded } from './bounded-map.ts';

test('setBounded: at the bound the oldest entry goes; setting a key again makes it the newest', () => {
  const m = new Map<string, number>();
  for (const [k, v] of [['a', 1], ['b', 2], ['c', 3]] as const) setBounded(m, k, v, 3);
  setBounded(m, 'a', 10, 3);
  assert.deepEqual([...m], [['b', 2], ['c', 3], ['a', 10]], 'a refreshed, nothing evicted');
  setBounded(m, 'd', 4, 3);
  assert.deepEqual([...m.keys()], ['c', 'a', 'd'], 'b, the oldest, went');
  assert.equal(m.size, 3);
});
