import assert from 'node:assert/strict';
import { test } from 'node:test';
import { turnCredentials, turnPassword } from './turn-credentials.ts';

const SETTINGS = { urls: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp'], secret: 'x'.repeat(32), ttlSeconds: 3600 };

test('username is expiry:peer with the expiry ttl seconds from now', () => {
  const c = turnCredentials(SETTINGS, 'peer-1', 1_700_000_000_500);
  assert.equal(c.username, '1700003600:peer-1');
  assert.deepEqual(c.urls, SETTINGS.urls);
});

test('password is base64 HMAC-SHA1 of the username under the shared secret (a known vector)', () => {
  // echo -n '1700003600:peer-1' | openssl dgst -sha1 -hmac xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -binary | base64
  assert.equal(turnPassword('x'.repeat(32), '1700003600:peer-1'), '5XwDTLC3nBDeRW2C2JT8RdUN3eg=');
  const c = turnCredentials(SETTINGS, 'peer-1', 1_700_000_000_500);
  assert.equal(c.credential, turnPassword(SETTINGS.secret, c.username));
});

test('another secret or another peer gives another password', () => {
  const a = turnCredentials(SETTINGS, 'peer-1', 0);
  assert.notEqual(turnCredentials({ ...SETTINGS, secret: 'y'.repeat(32) }, 'peer-1', 0).credential, a.credential);
  assert.notEqual(turnCredentials(SETTINGS, 'peer-2', 0).credential, a.credential);
});
