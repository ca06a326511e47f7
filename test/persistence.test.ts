import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startConfd, confctl, cleanup } from './helpers/daemon.ts';
import { adminRequest } from '../src/admin/client.ts';
import { until } from './helpers/wait.ts';

test('users, tokens, authorised IPs and the audit trail survive a restart', async () => {
  const d = await startConfd();
  const s = ['--socket', d.socket];
  assert.equal((await confctl([...s, 'user', 'add', 'alice', '--password-stdin'], { input: 'alice-password' })).code, 0);
  const issued = JSON.parse((await confctl([...s, '--json', 'token', 'issue', '--room', 'standup', '--user', 'alice', '--presenter'])).stdout);
  const revoked = JSON.parse((await confctl([...s, '--json', 'token', 'issue', '--room', 'standup'])).stdout);
  assert.equal((await confctl([...s, 'token', 'revoke', revoked.id])).code, 0);
  assert.equal((await d.admin('POST', '/v1/ips', { ip: '203.0.113.7', user: 'alice', ttl: '1h' })).status, 201);
  assert.equal(await d.stop(), 0);

  const d2 = await startConfd({ dataDir: d.dataDir });
  try {
    const users = (await d2.admin('GET', '/v1/users')).body.users;
    assert.deepEqual(users.map((u: any) => u.name), ['alice']);
    const tokens = (await d2.admin('GET', '/v1/tokens')).body.tokens;
    assert.equal(tokens.find((t: any) => t.id === issued.id).state, 'active');
    assert.equal(tokens.find((t: any) => t.id === revoked.id).state, 'revoked');
    const ips = (await d2.admin('GET', '/v1/ips')).body.ips;
    assert.deepEqual(ips.map((e: any) => [e.ip, e.user]), [['203.0.113.7', 'alice']]);
    const types = (await d2.admin('GET', '/v1/audit?limit=100')).body.events.map((e: any) => e.type);
    for (const t of ['user.add', 'token.issue', 'token.revoke', 'ip.add']) assert.ok(types.includes(t), t);
    // Passwords are stored as argon2id hashes only.
    const db = readFileSync(join(d.dataDir, 'confd.db.json'), 'utf8');
    assert.ok(!db.includes('alice-password'));
    assert.match(JSON.parse(db).users[0].hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  } finally {
    await d2.stop();
    cleanup(join(d.dataDir, '..'));
  }
});

test('kill -9 during a burst of admin writes: the database stays readable and every acknowledged change is in it', async () => {
  const d0 = await startConfd();
  const dataDir = d0.dataDir;
  await d0.stop();
  const acknowledged = new Set<string>();
  let n = 0;
  for (let round = 0; round < 4; round++) {
    const d = await startConfd({ dataDir });
    let stop = false;
    // Eight writers at once, so group commits and in-flight writes are both cut by the kill.
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const ip = `10.${round}.${Math.floor(n / 250)}.${n++ % 250}`;
        try {
          const r = await adminRequest(d.socket, 'POST', '/v1/ips', { ip, user: 'burst', ttl: '2d' }, 5000);
          if (r.status === 201) acknowledged.add(ip);
        } catch {
          return; // the daemon is gone
        }
      }
    });
    // Killed once this round has had 5, 10, 15, then 20 writes acknowledged (however long that takes on
    // a loaded machine), with the writers still going: the kill cuts writes in flight.
    const before = acknowledged.size;
    await until(() => acknowledged.size - before >= 5 * (round + 1), `round ${round}: ${5 * (round + 1)} writes acknowledged`, 60_000);
    await d.kill9();
    stop = true;
    await Promise.all(writers);
    // Whatever the moment of the kill, the file on disk parses.
    JSON.parse(readFileSync(join(dataDir, 'confd.db.json'), 'utf8'));
  }
  const d = await startConfd({ dataDir });
  try {
    const ips = new Set((await d.admin('GET', '/v1/ips')).body.ips.map((e: any) => e.ip));
    const missing = [...acknowledged].filter((ip) => !ips.has(ip));
    assert.deepEqual(missing, [], `${missing.length} acknowledged writes lost`);
    assert.deepEqual(readdirSync(dataDir).filter((f) => f.endsWith('.tmp')), [], 'interrupted temp files are cleaned up at start');
  } finally {
    await d.stop();
    cleanup(join(dataDir, '..'));
  }
});
