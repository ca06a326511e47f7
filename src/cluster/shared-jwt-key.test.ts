import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFingerprint, readSharedKey } from './shared-jwt-key.ts';

test('the shared key is taken as a node writes it: hex, whole bytes, 32 to 512 of them', () => {
  assert.equal(readSharedKey('ab'.repeat(32))?.length, 32);
  assert.equal(readSharedKey('ab'.repeat(512))?.length, 512);
  for (const v of [null, 7, '', 'ab'.repeat(31), `${'ab'.repeat(32)}a`, 'AB'.repeat(32), 'zz'.repeat(32), 'ab'.repeat(513)]) assert.equal(readSharedKey(v), null, String(v));
});

test('the fingerprint: a SHA-256 in hex, nothing else', () => {
  assert.equal(readFingerprint('0f'.repeat(32)), '0f'.repeat(32));
  for (const v of [null, '', '0f'.repeat(31), `${'0f'.repeat(32)}0`, 'x'.repeat(64)]) assert.equal(readFingerprint(v), null, String(v));
});
