import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TURN_CREDENTIALS_PER_ADDRESS, turnAddressTag, turnCredentials, turnIssuer, turnPassword } from './turn-credentials.ts';

const SETTINGS = { urls: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:443?transport=tcp'], secret: 'x'.repeat(32), ttlSeconds: 3600 };
const TURN = { urls: SETTINGS.urls, secret: SETTINGS.secret, ttlSeconds: 600 };

test('username is expiry:peer:address-tag with the expiry ttl seconds from now (coturn reads the part before the first ":")', () => {
  const c = turnCredentials(SETTINGS, 'peer-1', '192.0.2.7', 1_700_000_000_500);
  assert.equal(c.username, `1700003600:peer-1:${turnAddressTag(SETTINGS.secret, '192.0.2.7')}`);
  assert.match(c.username, /^1700003600:peer-1:[A-Za-z0-9_-]{16}$/);
  assert.deepEqual(c.urls, SETTINGS.urls);
});

test('the address tag: the same for one address, another for another address or secret, and not the address itself', () => {
  const tag = turnAddressTag(SETTINGS.secret, '192.0.2.7');
  assert.equal(turnAddressTag(SETTINGS.secret, '192.0.2.7'), tag);
  assert.notEqual(turnAddressTag(SETTINGS.secret, '192.0.2.8'), tag);
  assert.notEqual(turnAddressTag('y'.repeat(32), '192.0.2.7'), tag);
  assert.ok(!tag.includes('192'));
});

test('password is base64 HMAC-SHA1 of the username under the shared secret (a known vector)', () => {
  // echo -n '1700003600:peer-1' | openssl dgst -sha1 -hmac xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -binary | base64
  assert.equal(turnPassword('x'.repeat(32), '1700003600:peer-1'), '5XwDTLC3nBDeRW2C2JT8RdUN3eg=');
  const c = turnCredentials(SETTINGS, 'peer-1', '192.0.2.7', 1_700_000_000_500);
  assert.equal(c.credential, turnPassword(SETTINGS.secret, c.username));
});

test('another secret, peer or address gives another password', () => {
  const a = turnCredentials(SETTINGS, 'peer-1', '192.0.2.7', 0);
  assert.notEqual(turnCredentials({ ...SETTINGS, secret: 'y'.repeat(32) }, 'peer-1', '192.0.2.7', 0).credential, a.credential);
  assert.notEqual(turnCredentials(SETTINGS, 'peer-2', '192.0.2.7', 0).credential, a.credential);
  assert.notEqual(turnCredentials(SETTINGS, 'peer-1', '192.0.2.8', 0).credential, a.credential);
});

test('turnIssuer: one credential per connection, reused for all its transports while it has half its life left', () => {
  let now = 1_700_000_000_000;
  const issue = turnIssuer(TURN, { now: () => now });
  const conn = { id: 'p1', ipKey: '192.0.2.7' };
  const first = issue(conn);
  assert.equal(first.length, 1);
  now += 299_000;
  assert.deepEqual(issue(conn), first, 'the same credential for the second transport');
  now += 2_000;
  const renewed = issue(conn);
  assert.notEqual(renewed[0]!.username, first[0]!.username, 'renewed once less than half its ttl is left');
  assert.deepEqual(issue(conn), renewed);
});

test('turnIssuer: at most TURN_CREDENTIALS_PER_ADDRESS live credentials per address; others and later ones unaffected', () => {
  let now = 1_700_000_000_000;
  const refused: string[] = [];
  const issue = turnIssuer(TURN, { now: () => now, onRefused: (ipKey) => refused.push(ipKey) });
  for (let i = 0; i < TURN_CREDENTIALS_PER_ADDRESS; i++) assert.equal(issue({ id: `p${i}`, ipKey: '192.0.2.7' }).length, 1, `connection ${i}`);
  const over = { id: 'over', ipKey: '192.0.2.7' };
  assert.deepEqual(issue(over), [], 'past the limit: no TURN for this connection (direct media still works)');
  assert.deepEqual(issue({ id: 'over2', ipKey: '192.0.2.7' }), []);
  assert.deepEqual(refused, ['192.0.2.7'], 'reported once, not per connection');
  assert.equal(issue({ id: 'other', ipKey: '198.51.100.1' }).length, 1, 'another address is not limited by this one');
  // Once the first ones have expired, the address may have new ones.
  now += TURN.ttlSeconds * 1000 + 1;
  assert.equal(issue(over).length, 1);
  for (let i = 1; i < TURN_CREDENTIALS_PER_ADDRESS; i++) issue({ id: `q${i}`, ipKey: '192.0.2.7' });
  assert.deepEqual(issue({ id: 'over3', ipKey: '192.0.2.7' }), []);
  assert.deepEqual(refused, ['192.0.2.7', '192.0.2.7'], 'a new episode is reported again');
});

test('turnIssuer without TURN configured gives []', () => {
  assert.deepEqual(turnIssuer({ urls: [], secret: null, ttlSeconds: 600 })({ id: 'p', ipKey: '192.0.2.7' }), []);
});
