import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomRoomName, RANDOM_NAME_LENGTH } from './random-name.ts';
import { ROOM_NAME_RE } from '../../protocol/room-name.ts';

test('meeting names are valid room names, 60 random bits each, and never come from Math.random', () => {
  const real = Math.random;
  // Were the names made with Math.random, a constant Math.random would make them all equal.
  Math.random = () => 0.5;
  try {
    const names = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const n = randomRoomName('room');
      assert.match(n, ROOM_NAME_RE);
      assert.equal(n.length, 'room-'.length + RANDOM_NAME_LENGTH);
      names.add(n);
    }
    assert.equal(names.size, 10_000);
  } finally {
    Math.random = real;
  }
});
