/**
 * Host protection's own ends (logout, the host gone past its grace, a presenter token's time) reach
 * the rooms through the one path (followEndedCredentials): a session's end as one store change, a
 * token's time by the clock, each told once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig, type Config } from '../config/load.ts';
import { openStore, type Store } from '../store/db.ts';
import type { CredentialEnded } from './admission.ts';
import { followEndedCredentials } from './ended-credentials.ts';
import { createHostProtection, type HostProtection } from './host-protection.ts';

const log = pino({ level: 'silent' });
const IP = '203.0.113.7';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setUp(): Promise<{ store: Store; hosts: HostProtection; told: CredentialEnded[]; changes: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'confd-hosts-'));
  dirs.push(dir);
  const store = await openStore(dir, log);
  // The embedded default as `confd start` loads it (durations parsed), with host protection on.
  const base = loadConfig({}, {}, dir);
  const config: Config = { ...base, host: { ...base.host, protected: true, users: [{ username: 'alice', password: 'correct horse battery' }], leaveGraceSeconds: 0 } };
  const hosts = createHostProtection({ config, store, log });
  const told: CredentialEnded[] = [];
  let n = 0;
  store.onChange(() => n++);
  followEndedCredentials(store, hosts, (e) => told.push(e));
  return { store, hosts, told, changes: () => n };
}

const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
};

test('logout: one store change (session, IP, audit); the session is told revoked once', async () => {
  const { store, hosts, told, changes } = await setUp();
  const login = await hosts.login('alice', 'correct horse battery', IP);
  assert.ok(login.ok);
  const id = store.data.sessions[0]!.id;
  const afterLogin = changes();
  assert.equal(await hosts.logout(login.token), true);
  assert.equal(changes() - afterLogin, 1);
  assert.deepEqual(store.data.sessions, []);
  assert.deepEqual(store.data.ips, []);
  assert.equal(store.data.audit.at(-1)?.type, 'logout');
  assert.deepEqual(told, [{ keys: [id], kind: 'revoked' }]);
  assert.equal(hosts.stillHost(id), false);
  hosts.close();
  await store.close();
});

test('the host left and did not come back within the grace: logged out, told revoked once', async () => {
  const { store, hosts, told } = await setUp();
  const login = await hosts.login('alice', 'correct horse battery', IP);
  assert.ok(login.ok);
  const id = store.data.sessions[0]!.id;
  hosts.hostLeft(id);
  await until(() => told.length > 0, 'the grace logout is told');
  assert.deepEqual(told, [{ keys: [id], kind: 'revoked' }]);
  assert.equal(store.data.audit.at(-1)?.type, 'host.left');
  hosts.close();
  await store.close();
});

test('a presenter token\'s time runs out: told expired by the clock, with no store change', async () => {
  const { store, hosts, told, changes } = await setUp();
  hosts.registerTokenHost('token:P', Date.now() + 20);
  await until(() => told.length > 0, 'the token\'s end is told');
  assert.deepEqual(told, [{ keys: ['token:P'], kind: 'expired' }]);
  assert.equal(changes(), 0);
  hosts.close();
  await store.close();
});
