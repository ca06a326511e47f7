/**
 * Every revocation ends, at once, every session and connection derived from it: password change, user
 * removal, token revoke, IP revoke, logout and expiry. Each case is an attack a review confirmed live:
 * a stale credential that still worked after the admin took it back.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startConfd, confctl, cleanup, type RunningDaemon } from './helpers/daemon.ts';
import { connect, connectRefused, type SfuClient } from './helpers/sfu-client.ts';
import { login } from './helpers/login.ts';

const PW = 'alice-secret-pw';

async function addUser(d: RunningDaemon, name = 'alice', pw = PW): Promise<void> {
  const r = await confctl(['--socket', d.socket, 'user', 'add', name, '--password-stdin'], { input: pw });
  assert.equal(r.code, 0, r.stderr);
}

const sessionStatus = async (d: RunningDaemon, token: string) => (await fetch(`${d.http}/session`, { headers: { authorization: `Bearer ${token}` } })).status;
const ips = async (d: RunningDaemon) => (await d.admin('GET', '/v1/ips')).body.ips as { ip: string; user: string }[];
const ctl = async (d: RunningDaemon, ...args: string[]) => {
  const r = await confctl(['--socket', d.socket, ...args], { input: args.includes('--password-stdin') ? 'new-password-1' : undefined });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
};
const closeAll = async (...cs: SfuClient[]) => {
  for (const c of cs) if (c.open) await c.close();
};

async function hostIn(d: RunningDaemon, room: string, peerId: string, hostToken: string): Promise<SfuClient> {
  const c = await connect(d.http, { room, peerId, query: { host: hostToken } });
  assert.equal(((await c.joinWithMedia({})) as any).role, 'host', `${peerId} joins as host`);
  return c;
}

describe('revocations end what they revoked, at once (rooms open to guests)', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startConfd({ config: { mediasoup: { workers: 1 } } });
    await addUser(d);
    await addUser(d, 'bob', 'bob-secret-pw');
  });
  after(async () => {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  });

  test('user passwd: the old session dies (GET /session 401, live host demoted, no host rights on reconnect)', async () => {
    const token = await login(d, 'alice', PW);
    const host = await hostIn(d, 'pw1', 'h-pw1', token);
    await ctl(d, 'user', 'passwd', 'alice', '--password-stdin');
    assert.equal((await host.waitForNotification('role')).role, 'guest');
    assert.equal(await sessionStatus(d, token), 401);
    const again = await connect(d.http, { room: 'pw1', peerId: 'h-pw1b', query: { host: token } });
    assert.equal(((await again.joinWithMedia({})) as any).role, 'guest', 'the old session token gives no host rights');
    assert.equal((await ips(d)).some((e) => e.user === 'alice'), false, 'the IP the old session authorised is gone');
    assert.ok((await d.admin('GET', '/v1/audit?limit=50')).body.events.some((e: any) => e.type === 'session.revoke' && e.actor === 'alice'));
    await closeAll(host, again);
    // The new password works.
    await login(d, 'alice', 'new-password-1');
  });

  test('user remove: its presenter tokens stop at once, open ones included, and no IP is written for it', async () => {
    const pres = (await d.admin('POST', '/v1/tokens', { room: 'rm1', user: 'bob', presenter: true })).body;
    const p = await connect(d.http, { room: 'rm1', peerId: 'bob-p', token: pres.token });
    assert.equal(((await p.joinWithMedia({})) as any).role, 'host');
    await ctl(d, 'user', 'remove', 'bob');
    assert.equal((await p.waitForNotification('disconnected')).reason, 'revoked');
    assert.equal((await p.closed).code, 4401);
    const again = await connectRefused(d.http, { room: 'rm1', peerId: 'bob-p2', token: pres.token });
    assert.equal(again.code, 4401);
    assert.match(again.reason, /revoked/);
    assert.equal((await ips(d)).some((e) => e.user === 'bob'), false);
    const tokens = (await d.admin('GET', '/v1/tokens')).body.tokens;
    assert.equal(tokens.find((t: any) => t.id === pres.id).state, 'revoked');
  });

  test('ip revoke: a presenter token from that IP cannot come back and re-add it', async () => {
    const pres = (await d.admin('POST', '/v1/tokens', { room: 'ip1', user: 'alice', presenter: true })).body;
    const p = await connect(d.http, { room: 'ip1', peerId: 'al-p', token: pres.token });
    assert.equal(((await p.joinWithMedia({})) as any).role, 'host');
    assert.ok((await ips(d)).some((e) => e.user === 'alice' && e.ip === '127.0.0.1'));
    const r = await d.admin('DELETE', '/v1/ips/127.0.0.1');
    assert.deepEqual(r.body.revokedTokens, [pres.id]);
    assert.equal((await p.closed).code, 4401);
    const again = await connectRefused(d.http, { room: 'ip1', peerId: 'al-p', token: pres.token });
    assert.equal(again.code, 4401);
    assert.equal((await ips(d)).some((e) => e.ip === '127.0.0.1'), false, 'the revoked IP stays out of the table');
  });

  test('ip revoke given in another IPv6 spelling still matches', async () => {
    await d.admin('POST', '/v1/ips', { ip: '2001:db8::7', user: 'alice' });
    const r = await confctl(['--socket', d.socket, 'ip', 'revoke', '2001:DB8:0:0:0:0:0:7']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await ips(d)).some((e) => e.ip === '2001:db8::7'), false);
  });

  test('token revoke: the guest it let in is disconnected at once; nothing works on that socket any more', async () => {
    const t = (await d.admin('POST', '/v1/tokens', { room: 'tk1' })).body;
    const guest = await connect(d.http, { room: 'tk1', peerId: 'g-tk', token: t.token });
    await guest.joinWithMedia({ produce: ['audio'] });
    const other = await connect(d.http, { room: 'tk1', peerId: 'g-other' });
    await other.joinWithMedia({});
    await ctl(d, 'token', 'revoke', t.id);
    assert.equal((await guest.closed).code, 4401);
    await assert.rejects(guest.request('getStats', {}));
    await assert.rejects(guest.request('changeDisplayName', { displayName: 'still here' }));
    assert.equal(other.open, true, 'a guest without that token stays');
    const rooms = (await d.admin('GET', '/v1/rooms')).body.rooms;
    assert.deepEqual(rooms.find((x: any) => x.name === 'tk1').peers.map((p: any) => p.id), ['g-other']);
    await closeAll(other);
  });

  test('logout: the live host connection loses host rights at once', async () => {
    const token = await login(d, 'alice', 'new-password-1');
    const host = await hostIn(d, 'lo1', 'h-lo1', token);
    const out = await fetch(`${d.http}/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(await out.json(), { loggedOut: true });
    assert.equal((await host.waitForNotification('role')).role, 'guest');
    await assert.rejects(host.request('hostLockRoom', { locked: true }), /only a host/);
    await closeAll(host);
  });
});

describe('host.protected + user_auth: a revoked credential lets nobody in, waiting or not', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startConfd({ config: { host: { protected: true, user_auth: true, authTtl: '4s' }, mediasoup: { workers: 1 } } });
    await addUser(d);
  });
  after(async () => {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  });

  test('a guest waiting for the host on a token that is then revoked is sent away, and never admitted', async () => {
    const t = (await d.admin('POST', '/v1/tokens', { room: 'w1' })).body;
    const waiting = await connect(d.http, { room: 'w1', peerId: 'g-w1', token: t.token });
    await waiting.waitForNotification('waiting');
    await ctl(d, 'token', 'revoke', t.id);
    assert.equal((await waiting.closed).code, 4401);
    const host = await hostIn(d, 'w1', 'h-w1', await login(d, 'alice', PW));
    const rooms = (await d.admin('GET', '/v1/rooms')).body.rooms;
    assert.deepEqual(rooms.find((x: any) => x.name === 'w1').peers.map((p: any) => p.id), ['h-w1']);
    await closeAll(host);
  });

  test('user passwd under user_auth: the connection that came in on the old login is closed', async () => {
    const host = await hostIn(d, 'w2', 'h-w2', await login(d, 'alice', PW));
    await ctl(d, 'user', 'passwd', 'alice', '--password-stdin');
    assert.equal((await host.closed).code, 4401);
    await ctl(d, 'user', 'passwd', 'alice', '--password-stdin');
  });

  test('host session expiry (host.authTtl) takes host rights away when it happens, not at the next use', async () => {
    const host = await hostIn(d, 'w3', 'h-w3', await login(d, 'alice', 'new-password-1'));
    const role = await host.waitForNotification('role', undefined, 15_000);
    assert.equal(role.role, 'guest');
    assert.match(role.message, /expired/);
    await closeAll(host);
  });
});
