import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../log.ts';
import { BAD_DATA_MESSAGE, badDataLog } from './bad-data.ts';

const capture = () => {
  const lines: any[] = [];
  return { log: createLogger('warn', { write: (l: string) => void lines.push(JSON.parse(l)) }), lines };
};

test('bad data is said once per key, problem and value: a poll reading it again says nothing, a changed value is said', () => {
  const { log, lines } = capture();
  const bad = badDataLog(log, 'the node table');
  for (let i = 0; i < 5; i++) bad.skipped('confd:nodes ghost', 'roomNames: missing', '{"id":"ghost"}');
  bad.skipped('confd:nodes ghost', 'roomNames: missing', '{"id":"ghost","x":1}');
  bad.skipped('confd:nodes other', 'roomNames: missing', '{"id":"ghost"}');
  assert.deepEqual(lines.map((l) => [l.msg, l.what, l.key]), [
    [BAD_DATA_MESSAGE, 'the node table', 'confd:nodes ghost'],
    [BAD_DATA_MESSAGE, 'the node table', 'confd:nodes ghost'],
    [BAD_DATA_MESSAGE, 'the node table', 'confd:nodes other'],
  ]);
});

test('the value is never logged, and a long key or problem is cut', () => {
  const { log, lines } = capture();
  badDataLog(log, 'x').skipped('k'.repeat(10_000), 'p'.repeat(10_000), '$argon2id$secret-hash');
  assert.equal(lines.length, 1);
  assert.ok(!JSON.stringify(lines[0]).includes('argon2id'));
  assert.equal(lines[0].key.length, 200);
  assert.equal(lines[0].problem.length, 300);
});

test('what it remembers is bounded: past 1000 distinct reports the oldest may be said again', () => {
  const { log, lines } = capture();
  const bad = badDataLog(log, 'x');
  for (let i = 0; i <= 1000; i++) bad.skipped(`k${i}`, 'p');
  bad.skipped('k1000', 'p');
  bad.skipped('k0', 'p');
  assert.equal(lines.length, 1002);
});
