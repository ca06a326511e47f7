import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changesAfter, logVersion, readEntries, readEvents, type LogEntry } from './redis-state.ts';
import { diffStore, copyForChange } from './delta.ts';
import { emptyStore } from './schema.ts';
import { addUser } from './users.ts';

const now = new Date('2026-06-01T00:00:00Z');
const skipper = () => {
  const skipped: [string, string][] = [];
  return { skipped, skip: (key: string, problem: string) => void skipped.push([key, problem]) };
};
const user = (name: string, createdAt = now.toISOString()) => JSON.stringify({ name, hash: 'h', createdAt, updatedAt: createdAt });

test('log entry ids: VERSION-1 with a version of up to 14 digits, nothing else', () => {
  assert.equal(logVersion('1-1'), 1);
  assert.equal(logVersion('99999999999999-1'), 99999999999999);
  for (const id of ['0-1', '1-0', '1-2', '01-1', '100000000000000-1', 'x-1', '1']) assert.equal(logVersion(id), null, id);
});

test('a collection read back: its entries oldest first; one not an entry, or under another key, skipped and handed on', () => {
  const { skipped, skip } = skipper();
  const users = readEntries('users', 'K', { bob: user('bob', '2026-06-02T00:00:00Z'), alice: user('alice'), x: '{oops', y: '{"name":7}', z: user('mallory') }, skip);
  assert.deepEqual(users.map((u) => u.name), ['alice', 'bob']);
  assert.deepEqual(skipped, [['K x', 'not JSON'], ['K y', 'name: Invalid input: expected string, received number'], ['K z', 'the entry of "mallory"']]);
});

test('an audit ring read back: the events that are events, in order', () => {
  const { skipped, skip } = skipper();
  const e = (type: string) => JSON.stringify({ at: now.toISOString(), type, actor: 'a' });
  assert.deepEqual(readEvents('L', [e('one'), '7', e('two'), '{"type":"x"}'], skip).map((x) => x.type), ['one', 'two']);
  assert.equal(skipped.length, 2);
  assert.ok(skipped.every(([key]) => key === 'L'));
});

test('the changes after a version: in order; a gap or a trimmed log asks for the whole state; so does an entry no node wrote, named', () => {
  const base = emptyStore();
  const next = copyForChange(base);
  addUser(next, 'alice', 'h', now);
  const d = JSON.stringify(diffStore(base, next));
  const entry = (id: string, message: Record<string, unknown> = { d }): LogEntry => ({ id, message });
  const ok = changesAfter(4, [entry('5-1'), entry('6-1')], 'LOG');
  assert.ok(ok.ok);
  assert.equal(ok.to, 6);
  assert.equal(ok.deltas.length, 2);
  assert.deepEqual(changesAfter(4, [], 'LOG'), { ok: true, deltas: [], to: 4 });
  assert.deepEqual(changesAfter(4, [entry('6-1')], 'LOG'), { ok: false, gap: true });
  assert.deepEqual(changesAfter(4, [entry('5-1'), entry('7-1')], 'LOG'), { ok: false, gap: true });
  assert.deepEqual(changesAfter(4, [entry('5-2')], 'LOG'), { ok: false, gap: true });
  assert.deepEqual(changesAfter(4, [entry('5-1'), entry('6-1', { d: '{oops' })], 'LOG'), { ok: false, gap: false, key: 'LOG 6-1', problem: 'not JSON', value: '{oops' });
  assert.deepEqual(changesAfter(4, [entry('5-1', { x: 'y' })], 'LOG'), { ok: false, gap: false, key: 'LOG 5-1', problem: 'no delta in it', value: '' });
});
