import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alreadyAuthorisedByToken, authoriseIp } from './ips.ts';
import type { StoreData } from './schema.ts';

const empty = () => ({ ips: [] }) as unknown as StoreData;

test('alreadyAuthorisedByToken: a repeat of the same token from the same address, not yet expired', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const until = now.getTime() + 3600_000;
  const d = empty();
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.1', 'alice', 't1', until, now), false);
  authoriseIp(d, '192.0.2.1', 'alice', 3600, now, 't1');
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.1', 'alice', 't1', until, now), true);
  // Another address, user or token is a new login; so is an entry that would end before the token.
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.2', 'alice', 't1', until, now), false);
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.1', 'bob', 't1', until, now), false);
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.1', 'alice', 't2', until, now), false);
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.1', 'alice', 't1', until + 1000, now), false);
  // Expired (or revoked: gone from the table): recorded again.
  assert.equal(alreadyAuthorisedByToken(d, '192.0.2.1', 'alice', 't1', until, new Date(until + 1)), false);
});
