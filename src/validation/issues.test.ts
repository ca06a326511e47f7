import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { CONFIG_FILE_WORDS, describeIssues, formatPath, parseInput, parseJsonInput, SIGNALLING_WORDS } from './issues.ts';
import { durationSeconds, roomName } from './fields.ts';

const body = z.strictObject({ room: roomName, list: z.array(z.strictObject({ n: z.int() })).optional(), ttl: durationSeconds.optional() });

test('paths are written as in the input', () => {
  assert.equal(formatPath(['server', 'trustProxy', 0]), 'server.trustProxy[0]');
  assert.equal(formatPath([]), '');
});

test('one sentence per problem: "where: what", unknown fields listed, the whole input named when asked', () => {
  assert.deepEqual(parseInput(body, { room: 'bad room' }), { ok: false, problem: 'room: room names are 1-64 characters: letters, digits, _ . - (starting with a letter or digit)' });
  assert.deepEqual(parseInput(body, { room: 'r', extra: 1, more: 2 }), { ok: false, problem: 'unknown field(s): extra, more' });
  assert.deepEqual(parseInput(body, { room: 'r', list: [{ n: 1, x: 0 }] }), { ok: false, problem: 'unknown field(s): list[0].x' });
  assert.match((parseInput(body, 5, { top: 'body' }) as { problem: string }).problem, /^body: /);
  assert.deepEqual(parseInput(body, { room: 'r', ttl: '2h' }), { ok: true, data: { room: 'r', ttl: 7200 } });
  assert.match((parseInput(body, { room: 'r', ttl: '2y' }) as { problem: string }).problem, /^ttl: must be a whole number/);
});

test('signalling and the config file name unknown keys their own way', () => {
  const r = z.strictObject({ a: z.strictObject({ x: z.int() }) }).safeParse({ a: { x: 1, y: 0 }, b: 2 });
  assert.ok(!r.success);
  assert.deepEqual(describeIssues(r.error.issues, SIGNALLING_WORDS), ['unknown field(s) a.y', 'unknown field(s) b']);
  assert.match(describeIssues(r.error.issues, CONFIG_FILE_WORDS)[0]!, /^a\.y: unknown key; remove it/);
});

test('JSON text: "not JSON" without quoting the text, then the schema\'s first problem', () => {
  assert.deepEqual(parseJsonInput(body, '{"room": "r"'), { ok: false, problem: 'not JSON' });
  assert.deepEqual(parseJsonInput(body, '{"room":"r","ttl":"2h"}'), { ok: true, data: { room: 'r', ttl: 7200 } });
  assert.match((parseJsonInput(body, 'null') as { problem: string }).problem, /expected object/);
});
