import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDelta, copyForChange, diffStore, parseDelta } from './delta.ts';
import { emptyStore } from './schema.ts';
import { addUser, removeUser } from './users.ts';
import { authoriseIp } from './ips.ts';
import { appendAudit } from './audit.ts';

const now = new Date('2026-06-01T00:00:00Z');

test('a delta as a commit writes it reads back as the same delta, and applies alike', () => {
  const base = emptyStore();
  addUser(base, 'bob', 'h', now);
  const next = copyForChange(base);
  addUser(next, 'alice', 'h', now);
  removeUser(next, 'bob');
  authoriseIp(next, '192.0.2.1', 'alice', 3600, now);
  appendAudit(next, now, 'user.add', 'admin', { user: 'alice' });
  const delta = diffStore(base, next);
  const read = parseDelta(JSON.stringify(delta));
  assert.deepEqual(read, { ok: true, data: delta });
  assert.ok(read.ok);
  assert.deepEqual(applyDelta(base, read.data), applyDelta(base, delta));
});

test('a delta no node wrote is refused, saying why: not JSON, a part missing, an entry not an entry, or set under another key', () => {
  const part = { set: [], del: [] };
  const whole = { users: part, ips: part, tokens: part, sessions: part, audit: [], auditNoise: [] };
  const problem = (text: string) => {
    const r = parseDelta(text);
    assert.ok(!r.ok, text);
    return r.problem;
  };
  assert.equal(problem('{oops'), 'not JSON');
  assert.match(problem(JSON.stringify({ ...whole, ips: undefined })), /^ips: /);
  assert.match(problem(JSON.stringify({ ...whole, users: { set: [['mallory', { name: 7 }]], del: [] } })), /^users\.set\[0\]\[1\]\.name: /);
  assert.match(problem(JSON.stringify({ ...whole, tokens: { set: [], del: [1] } })), /^tokens\.del\[0\]: /);
  assert.match(problem(JSON.stringify({ ...whole, audit: [{ at: now.toISOString() }] })), /^audit\[0\]\.type: /);
  const mallory = { name: 'mallory', hash: 'h', createdAt: 'x', updatedAt: 'x' };
  assert.equal(problem(JSON.stringify({ ...whole, users: { set: [['bob', mallory]], del: [] } })), 'users: an entry set under "bob" is the entry of "mallory"');
  assert.deepEqual(parseDelta(JSON.stringify({ ...whole, users: { set: [['mallory', mallory]], del: [] } })).ok, true);
});
