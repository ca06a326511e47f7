/**
 * What only the lowdb file has (its mode, a failed write, a damaged or old file). The contract both
 * backends keep is in test/store-backends.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, DB_FILE_NAME } from './db.ts';
import { addUser } from './users.ts';
import { normaliseIp, rateKeyForIp } from './ips.ts';
import { appendAudit, AUDIT_NOISE_MAX_EVENTS } from './audit.ts';
import { counters } from '../metrics.ts';
import { tempDir, cleanup } from '../../test/helpers/daemon.ts';

const now = new Date('2026-06-01T00:00:00Z');

test('a new store is created with mode 0600 and reopens with its contents', async () => {
  const dir = tempDir();
  const s = await openStore(dir);
  await s.mutate((d) => addUser(d, 'alice', '$argon2id$fake', now));
  await s.close();
  assert.equal(statSync(join(dir, DB_FILE_NAME)).mode & 0o777, 0o600);
  const s2 = await openStore(dir);
  assert.equal(s2.data.users[0]?.name, 'alice');
  await s2.close();
  cleanup(dir);
});

test('a failed write is reported with a clear error and changes nothing, in memory or on disk', async () => {
  const dir = tempDir();
  const s = await openStore(dir);
  await s.mutate((d) => addUser(d, 'kept', 'h', now));
  const before = readFileSync(join(dir, DB_FILE_NAME), 'utf8');
  // Make the rename onto the database fail: move the file away and put a non-empty directory in its place.
  const dbPath = join(dir, DB_FILE_NAME);
  const aside = `${dbPath}.aside`;
  writeFileSync(aside, before);
  unlinkSync(dbPath);
  mkdirSync(join(dbPath, 'blocker'), { recursive: true });
  await assert.rejects(s.mutate((d) => addUser(d, 'lost', 'h', now)), /could not save the database .*nothing was changed \(check free space and permissions/);
  assert.deepEqual(s.data.users.map((u) => u.name), ['kept']);
  rmSync(dbPath, { recursive: true });
  writeFileSync(dbPath, before);
  // The store recovers once the disk does.
  await s.mutate((d) => addUser(d, 'after', 'h', now));
  assert.deepEqual(JSON.parse(readFileSync(dbPath, 'utf8')).users.map((u: any) => u.name), ['kept', 'after']);
  await s.close();
  cleanup(dir);
});

test('a database with the wrong shape is refused at open with a clear message', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, DB_FILE_NAME), JSON.stringify({ version: 1, users: 'nope', ips: [], tokens: [], audit: [] }));
  await assert.rejects(openStore(dir), /does not have the expected shape \(users: .*restore it from a backup/);
  cleanup(dir);
});

test('normaliseIp: every spelling of an address gives one canonical text', () => {
  for (const [spelling, canonical] of [
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['[2001:db8:0::1]', '2001:db8::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:0102:0304', '1.2.3.4'],
    ['[::ffff:203.0.113.7]', '203.0.113.7'],
    [' 10.0.0.1 ', '10.0.0.1'],
    ['fe80::0:1%eth0', 'fe80::1%eth0'],
  ]) {
    assert.equal(normaliseIp(spelling!), canonical, spelling);
  }
  for (const junk of ['', '1.2.3', '01.02.03.04', '2001:db8::1::2', 'localhost', '1.2.3.4/32']) assert.equal(normaliseIp(junk), null, junk);
});

test('rateKeyForIp: IPv4 as is, IPv6 by its /64, whatever the spelling', () => {
  assert.equal(rateKeyForIp('203.0.113.7'), '203.0.113.7');
  assert.equal(rateKeyForIp('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(rateKeyForIp('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(rateKeyForIp('2001:DB8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(rateKeyForIp('2001:0db8:0001:0002:ffff::9'), '2001:db8:1:2::/64');
  assert.equal(rateKeyForIp('2001:db8::5'), '2001:db8::/64');
  assert.notEqual(rateKeyForIp('2001:db8:1:3::1'), rateKeyForIp('2001:db8:1:2::1'));
  assert.equal(rateKeyForIp('unknown'), 'unknown');
});

test('login noise has its own ring: no amount of it evicts admin and security events', async () => {
  const dir = tempDir();
  const s = await openStore(dir);
  await s.mutate((d) => {
    appendAudit(d, now, 'user.add', 'admin', { user: 'alice' });
    appendAudit(d, now, 'token.issue', 'admin', { id: 't1' });
    for (let i = 0; i < 6000; i++) appendAudit(d, new Date(now.getTime() + i), i % 2 ? 'login.failed' : 'login.blocked', 'mallory', { i });
  });
  assert.deepEqual(s.data.audit.map((e) => e.type), ['user.add', 'token.issue']);
  assert.equal(s.data.auditNoise.length, AUDIT_NOISE_MAX_EVENTS);
  const trail = s.auditTrail(99999);
  assert.equal(trail.length, 2 + AUDIT_NOISE_MAX_EVENTS);
  assert.deepEqual(trail.slice(0, 2).map((e) => e.type), ['user.add', 'token.issue'], 'merged in time order');
  assert.equal(s.auditTrail(3).at(-1)?.i, 5999);
  await s.close();
  cleanup(dir);
});

test('recordNoise: identical noise is coalesced in memory, shown at once, and written with the next change or at close, not per event', async () => {
  const dir = tempDir();
  const s = await openStore(dir);
  const writes = counters.dbWrites;
  for (let i = 0; i < 1000; i++) s.recordNoise('login.failed', 'alice', { ip: '198.51.100.1' }, new Date(now.getTime() + i));
  s.recordNoise('login.blocked', 'alice', { ip: '198.51.100.1', by: 'user' }, new Date(now.getTime() + 1000));
  assert.equal(counters.dbWrites, writes, 'no write for noise');
  const shown = s.auditTrail(10);
  assert.deepEqual(shown.map((e) => [e.type, e.count ?? 1]), [['login.failed', 1000], ['login.blocked', 1]]);
  assert.equal(shown[0]!.lastAt, new Date(now.getTime() + 999).toISOString());
  assert.equal(JSON.parse(readFileSync(join(dir, DB_FILE_NAME), 'utf8')).auditNoise.length, 0, 'not on disk yet');
  // A real change takes the noise along in the same write.
  await s.mutate((d) => void appendAudit(d, now, 'user.add', 'admin', { user: 'bob' }));
  assert.equal(counters.dbWrites, writes + 1);
  const disk = JSON.parse(readFileSync(join(dir, DB_FILE_NAME), 'utf8'));
  assert.deepEqual(disk.auditNoise.map((e: any) => e.type), ['login.failed', 'login.blocked']);
  assert.deepEqual(disk.audit.map((e: any) => e.type), ['user.add']);
  // Noise left at close is written then.
  s.recordNoise('login.failed', 'carol', { ip: '203.0.113.1' }, now);
  await s.close();
  assert.equal(JSON.parse(readFileSync(join(dir, DB_FILE_NAME), 'utf8')).auditNoise.length, 3);
  cleanup(dir);
});

test('a database written before the noise ring opens: noise moves out of the admin ring, IPs get their canonical spelling', async () => {
  const dir = tempDir();
  const later = new Date(now.getTime() + 3600_000).toISOString();
  writeFileSync(
    join(dir, DB_FILE_NAME),
    JSON.stringify({
      version: 1,
      users: [],
      ips: [
        { ip: '2001:DB8:0:0::1', user: 'alice', since: now.toISOString(), lastSeen: now.toISOString(), expiresAt: now.toISOString() },
        { ip: '2001:db8::1', user: 'alice', since: now.toISOString(), lastSeen: now.toISOString(), expiresAt: later },
        { ip: '::ffff:203.0.113.7', user: 'bob', since: now.toISOString(), lastSeen: now.toISOString(), expiresAt: later },
      ],
      tokens: [],
      audit: [
        { at: now.toISOString(), type: 'user.add', actor: 'admin', user: 'alice' },
        { at: now.toISOString(), type: 'login.failed', actor: 'alice', ip: '198.51.100.1' },
        { at: now.toISOString(), type: 'login.blocked', actor: 'alice', ip: '198.51.100.1' },
      ],
    }),
  );
  const s = await openStore(dir);
  assert.deepEqual(s.data.audit.map((e) => e.type), ['user.add']);
  assert.deepEqual(s.data.auditNoise.map((e) => e.type), ['login.failed', 'login.blocked']);
  assert.deepEqual(s.data.ips.map((e) => [e.ip, e.user, e.expiresAt]), [['2001:db8::1', 'alice', later], ['203.0.113.7', 'bob', later]]);
  await s.close();
  cleanup(dir);
});

