import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beatTime, createSightings, parseHeartbeat } from './heartbeat.ts';

const beat = (o: Record<string, unknown> = {}) => ({
  id: 'node-a',
  url: 'https://node1.meet.example.org',
  load: { peers: 3, rooms: 1, cpu: 0.25 },
  roomNames: ['r1'],
  hosts: ['s1'],
  startedAt: '2026-06-01T00:00:00.000Z',
  heartbeatAt: '2026-06-01T00:01:00.000Z',
  version: '0.1.0',
  ...o,
});
const parse = (o: Record<string, unknown>, field = 'node-a') => parseHeartbeat(field, JSON.stringify(beat(o)));

test('a heartbeat as nodes write it is taken; one from a node without hosts gets none', () => {
  assert.deepEqual(parse({}), { ok: true, data: beat() });
  assert.deepEqual(parse({ hosts: undefined }), { ok: true, data: beat({ hosts: [] }) });
});

test('anything else is refused, saying what is wrong', () => {
  const problem = (o: Record<string, unknown>, field?: string) => {
    const r = parse(o, field);
    assert.ok(!r.ok, JSON.stringify(o));
    return r.problem;
  };
  assert.match(problem({ roomNames: undefined }), /^roomNames: /);
  assert.match(problem({ roomNames: 'r1' }), /^roomNames: /);
  assert.match(problem({ url: 'javascript:alert(1)' }), /^url: /);
  assert.match(problem({ url: 'not a url' }), /^url: /);
  assert.match(problem({ load: { peers: -1, rooms: 0, cpu: 0 } }), /^load\.peers: /);
  assert.match(problem({ load: { peers: 0, rooms: 0, cpu: 'busy' } }), /^load\.cpu: /);
  assert.match(problem({ heartbeatAt: 'yesterday' }), /^heartbeatAt: /);
  assert.match(problem({ id: '' }), /^id: /);
  assert.equal(problem({}, 'node-b'), 'written under "node-b" but names node "node-a"');
  assert.equal((parseHeartbeat('node-a', '{oops') as { problem: string }).problem, 'not JSON');
  assert.match((parseHeartbeat('node-a', 'null') as { problem: string }).problem, /expected object/);
});

test('a heartbeat counts as given when it says, but never later than when it was first seen', () => {
  const ok = parse({ heartbeatAt: '2099-01-01T00:00:00.000Z' });
  assert.ok(ok.ok);
  const t0 = Date.parse('2026-06-01T00:00:00.000Z');
  assert.equal(beatTime(ok.data, t0), t0, 'from the future: when first seen');
  const past = parse({});
  assert.ok(past.ok);
  assert.equal(beatTime(past.data, t0 + 3_600_000), Date.parse('2026-06-01T00:01:00.000Z'), 'from the past: what it says');
});

test('first seen: kept while the entry stays the same, new when it changes, forgotten when it is gone', () => {
  const s = createSightings();
  assert.equal(s.firstSeen('a', 'x', 100), 100);
  assert.equal(s.firstSeen('a', 'x', 200), 100, 'a node that stopped beating ages from the first sight');
  assert.equal(s.firstSeen('a', 'y', 300), 300, 'a new heartbeat');
  assert.equal(s.firstSeen('b', 'y', 400), 400);
  s.keepOnly(new Set(['b']));
  assert.equal(s.firstSeen('a', 'y', 500), 500);
  assert.equal(s.firstSeen('b', 'y', 500), 400);
});
