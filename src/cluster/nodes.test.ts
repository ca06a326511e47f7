import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadScore } from './nodes.ts';

test('loadScore: peers count one each, CPU in 5% steps worth 5 peers; idle noise does not count', () => {
  assert.equal(loadScore({ peers: 0, rooms: 0, cpu: 0.004 }), 0);
  assert.equal(loadScore({ peers: 0, rooms: 0, cpu: 0.02 }), 0);
  assert.equal(loadScore({ peers: 3, rooms: 1, cpu: 0.05 }), 8);
  assert.equal(loadScore({ peers: 0, rooms: 0, cpu: 1 }), 100);
  assert.ok(loadScore({ peers: 10, rooms: 1, cpu: 0 }) < loadScore({ peers: 0, rooms: 0, cpu: 0.2 }));
});
