import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeRoom } from './placement.ts';
import type { NodeView } from './nodes.ts';

const node = (id: string, peers: number, o: Partial<NodeView> = {}): NodeView => ({
  id,
  url: `http://${id}`,
  load: { peers, rooms: 0, cpu: 0 },
  roomNames: [],
  hosts: [],
  startedAt: '',
  heartbeatAt: '',
  version: '',
  alive: true,
  ...o,
});

test('placeRoom: the least-loaded live node; a tie stays here, else the lowest id', () => {
  assert.equal(placeRoom('r', 'b', [node('a', 5), node('b', 3), node('c', 1)], false), 'c');
  assert.equal(placeRoom('r', 'b', [node('a', 1), node('b', 1), node('c', 1)], false), 'b');
  assert.equal(placeRoom('r', 'x', [node('c', 1), node('a', 1), node('x', 9)], false), 'a');
});

test('placeRoom: dead nodes get nothing, this one counts even if its own heartbeat is stale', () => {
  assert.equal(placeRoom('r', 'b', [node('a', 0, { alive: false }), node('b', 4)], false), 'b');
  assert.equal(placeRoom('r', 'b', [node('a', 3), node('b', 1, { alive: false })], false), 'b');
});

test('placeRoom: a room still open somewhere goes back there (its lease lapsed while Redis was away)', () => {
  assert.equal(placeRoom('r', 'b', [node('a', 40, { roomNames: ['r'] }), node('b', 0)], false), 'a');
  assert.equal(placeRoom('r', 'b', [node('a', 0), node('b', 40)], true), 'b');
  assert.equal(placeRoom('r', 'b', [node('a', 40, { roomNames: ['r'], alive: false }), node('b', 1)], false), 'b');
});
