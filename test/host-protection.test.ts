import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startConfd, confctl, cleanup, type RunningDaemon } from './helpers/daemon.ts';
import { connect, connectRefused, type SfuClient } from './helpers/sfu-client.ts';
import { sleep, until } from './helpers/wait.ts';
import { tryLogin } from './helpers/login.ts';

const PW = 'alice-secret-pw';

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null), headers: r.headers };
}

async function addUser(d: RunningDaemon, name = 'alice', pw = PW): Promise<void> {
  const r = await confctl(['--socket', d.socket, 'user', 'add', name, '--password-stdin'], { input: pw });
  assert.equal(r.code, 0, r.stderr);
}

const ips = async (d: RunningDaemon) => (await d.admin('GET', '/v1/ips')).body.ips as { ip: string; user: string }[];
const auditTypes = async (d: RunningDaemon) => (await d.admin('GET', '/v1/audit?limit=500')).body.events.map((e: any) => e.type) as string[];
const closeAll = async (...cs: (SfuClient | undefined)[]) => {
  for (const c of cs) if (c?.open) await c.close();
};

describe('POST /login, limits, audit, X-Forwarded-For', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startConfd({ config: { host: { protected: true, maxLoginAttempts: 50 }, mediasoup: { workers: 1 } } });
    await addUser(d);
  });
  after(async () => {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  });

  test('a good login answers a session token and authorises the client IP with user and expiry', async () => {
    const r = await tryLogin(d, 'alice', PW);
    assert.equal(r.status, 200);
    assert.match(r.body.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(r.body.user, 'alice');
    const entry = (await ips(d)).find((e) => e.user === 'alice');
    assert.equal(entry?.ip, '127.0.0.1');
    const session = await fetch(`${d.http}/session`, { headers: { authorization: `Bearer ${r.body.token}` } });
    assert.equal(session.status, 200);
    assert.equal((await session.json()).user, 'alice');
    const out = await fetch(`${d.http}/logout`, { method: 'POST', headers: { authorization: `Bearer ${r.body.token}` } });
    assert.deepEqual(await out.json(), { loggedOut: true });
    assert.equal((await ips(d)).some((e) => e.user === 'alice'), false, 'logout removes the IP');
    assert.equal((await fetch(`${d.http}/session`, { headers: { authorization: `Bearer ${r.body.token}` } })).status, 401);
  });

  test('wrong password and unknown user get the same 401; malformed bodies get 400/415', async () => {
    const wrong = await tryLogin(d, 'alice', 'nope-nope-nope');
    const unknown = await tryLogin(d, 'nobody', 'nope-nope-nope');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.deepEqual(wrong.body, unknown.body);
    for (const body of ['{', '[]', '"x"', 'null', JSON.stringify({ username: 'alice' }), JSON.stringify({ username: 5, password: 'x' }), JSON.stringify({ username: 'a', password: 'b', extra: 1 }), JSON.stringify({ username: '', password: 'x' })]) {
      const r = await post(d.http, '/login', body);
      assert.equal(r.status, 400, body);
      assert.equal(typeof r.body.error.message, 'string');
    }
    const form = await fetch(`${d.http}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=alice&password=x' });
    assert.equal(form.status, 415);
    const big = await post(d.http, '/login', JSON.stringify({ username: 'alice', password: 'x'.repeat(10_000) }));
    assert.equal(big.status, 413);
  });

  test('X-Forwarded-For from an untrusted peer is ignored', async () => {
    const r = await tryLogin(d, 'alice', PW, { from: '203.0.113.9' });
    assert.equal(r.status, 200);
    const list = await ips(d);
    assert.ok(list.some((e) => e.user === 'alice' && e.ip === '127.0.0.1'));
    assert.equal(list.some((e) => e.ip === '203.0.113.9'), false);
    assert.ok((await auditTypes(d)).includes('login.ok'));
  });
});

test('brute force: the block engages per user name (429 + Retry-After), even from other IPs and for the right password', async () => {
  const d = await startConfd({ config: { server: { trustProxy: ['127.0.0.1'] }, host: { maxLoginAttempts: 3, loginBlockMinutes: 1 }, mediasoup: { workers: 1 } } });
  try {
    await addUser(d, 'bob', 'bob-password-1');
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(d, 'bob', 'wrong-password', { from: `198.51.100.${i}` })).status, 401);
    const blocked = await tryLogin(d, 'bob', 'bob-password-1', { from: '198.51.100.200' });
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.match(blocked.body.error.message, /try again in \d+ s/);
    const types = await auditTypes(d);
    for (const t of ['login.failed', 'login.blocked']) assert.ok(types.includes(t), t);
    const metrics = await (await fetch(`${d.http}/metrics`)).text();
    assert.ok(metrics.includes('confd_logins_total{result="failed"} 3'));
    assert.ok(metrics.includes('confd_logins_total{result="blocked"} 1'));
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});

test('trusted proxy: the rightmost untrusted X-Forwarded-For address is the client; per-IP login limit', async () => {
  const d = await startConfd({ config: { server: { trustProxy: ['127.0.0.1', '203.0.113.0/24'] }, host: { maxLoginAttempts: 2 }, mediasoup: { workers: 1 } } });
  try {
    await addUser(d);
    assert.equal((await tryLogin(d, 'alice', PW, { from: '192.0.2.1, 198.51.100.7, 203.0.113.5' })).status, 200);
    assert.deepEqual((await ips(d)).map((e) => e.ip), ['198.51.100.7']);
    // Per IP: two failures on different names from one address block that address, not others.
    for (const u of ['x1', 'x2']) assert.equal((await tryLogin(d, u, 'bad-password', { from: '198.51.100.66' })).status, 401);
    assert.equal((await tryLogin(d, 'alice', PW, { from: '198.51.100.66' })).status, 429);
    assert.equal((await tryLogin(d, 'alice', PW, { from: '198.51.100.67' })).status, 200);
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});

describe('host.protected: hosts, waiting guests, leave grace, revocation, host controls', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startConfd({ config: { host: { protected: true, leaveGraceSeconds: 1 }, mediasoup: { workers: 1 } } });
    await addUser(d);
  });
  after(async () => {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  });

  test('a guest who comes first waits, then joins by itself when the host arrives; roles are told', async () => {
    const guest = await connect(d.http, { room: 'r1', peerId: 'guest1' });
    await guest.waitForNotification('waiting');
    const early = await guest.request('getRouterRtpCapabilities').catch((e: Error) => e);
    assert.match(String(early), /waiting for the host/);
    assert.deepEqual((await d.admin('GET', '/v1/rooms')).body.rooms, [], 'a waiting guest does not open the room');
    const { body } = await tryLogin(d, 'alice', PW);
    const host = await connect(d.http, { room: 'r1', peerId: 'host1', query: { host: body.token } });
    const hostJoin = await host.joinWithMedia({});
    assert.equal((hostJoin as any).role, 'host');
    await guest.waitForNotification('admitted');
    const guestJoin = await guest.joinWithMedia({});
    assert.equal((guestJoin as any).role, 'guest');
    assert.deepEqual((guestJoin as any).peers.map((p: any) => [p.id, p.role]), [['host1', 'host']]);
    // A second connection from the host's own IP without the session is a guest, and its leaving changes nothing.
    const natGuest = await connect(d.http, { room: 'r1', peerId: 'nat1' });
    assert.equal(((await natGuest.joinWithMedia({})) as any).role, 'guest');
    await natGuest.close();
    await sleep(1500);
    assert.ok((await ips(d)).some((e) => e.user === 'alice'), 'a guest on the host IP leaving does not log the host out');
    await closeAll(guest, host);
  });

  test('a reload within the grace period keeps the host; leaving for longer logs out and new guests wait', async () => {
    const { body } = await tryLogin(d, 'alice', PW);
    let host = await connect(d.http, { room: 'r2', peerId: 'h2', query: { host: body.token } });
    await host.joinWithMedia({});
    const session = host.session;
    await host.close();
    host = await connect(d.http, { room: 'r2', peerId: 'h2', session, query: { host: body.token } });
    assert.equal(((await host.joinWithMedia({})) as any).role, 'host', 'reload keeps host rights');
    await sleep(1600);
    assert.ok((await ips(d)).some((e) => e.user === 'alice'));
    await host.close();
    await until(async () => !(await ips(d)).some((e) => e.user === 'alice'), 'IP removed after the grace period');
    assert.ok((await auditTypes(d)).includes('host.left'));
    const late = await connect(d.http, { room: 'r2', peerId: 'late' });
    await late.waitForNotification('waiting');
    // The old session no longer gives host rights: a new login is needed.
    const stale = await connect(d.http, { room: 'r2', peerId: 'stale', query: { host: body.token } });
    await stale.waitForNotification('waiting');
    await closeAll(late, stale);
  });

  test('confctl ip revoke ends host rights at once, live sessions included', async () => {
    const { body } = await tryLogin(d, 'alice', PW);
    const host = await connect(d.http, { room: 'r3', peerId: 'h3', query: { host: body.token } });
    await host.joinWithMedia({});
    assert.deepEqual(await host.request('hostLockRoom', { locked: false }), { locked: false, hasPassword: false });
    const r = await confctl(['--socket', d.socket, 'ip', 'revoke', '127.0.0.1']);
    assert.equal(r.code, 0, r.stderr);
    const role = await host.waitForNotification('role');
    assert.equal(role.role, 'guest');
    const refused = await host.request('hostLockRoom', { locked: true }).catch((e: Error) => e);
    assert.match(String(refused), /only a host/);
    assert.ok((await auditTypes(d)).includes('ip.revoke'));
    await closeAll(host);
  });

  test('host controls: mute, kick, lock, room password', async () => {
    const { body } = await tryLogin(d, 'alice', PW);
    const host = await connect(d.http, { room: 'r4', peerId: 'h4', query: { host: body.token } });
    await host.joinWithMedia({ consume: true });
    const guest = await connect(d.http, { room: 'r4', peerId: 'g4' });
    await guest.joinWithMedia({ produce: ['audio'] });
    await until(() => host.consumersOf('g4').some((c) => c.packets > 5), 'host receives the guest', 15_000);
    assert.deepEqual(await host.request('hostMutePeer', { peerId: 'g4', kind: 'audio' }), { muted: 1 });
    assert.deepEqual(await guest.waitForNotification('mutedByHost'), { kind: 'audio' });
    await host.waitForNotification('consumerPaused');

    await host.request('hostLockRoom', { locked: true });
    const locked = await connectRefused(d.http, { room: 'r4', peerId: 'g5' });
    assert.equal(locked.code, 4423);
    assert.match(locked.reason, /locked/);
    await host.request('hostLockRoom', { locked: false });

    assert.deepEqual(await host.request('hostSetRoomPassword', { password: 'sesame' }), { locked: false, hasPassword: true });
    assert.equal((await connectRefused(d.http, { room: 'r4', peerId: 'g6' })).code, 4424);
    assert.equal((await connectRefused(d.http, { room: 'r4', peerId: 'g7', query: { roomPassword: 'wrong' } })).code, 4424);
    const withPw = await connect(d.http, { room: 'r4', peerId: 'g8', query: { roomPassword: 'sesame' } });
    assert.equal(((await withPw.joinWithMedia({})) as any).role, 'guest');

    await host.request('hostKickPeer', { peerId: 'g4' });
    const bye = await guest.waitForNotification('disconnected');
    assert.equal(bye.reason, 'kicked');
    assert.equal((await guest.closed).code, 4000);
    await closeAll(withPw, host);
  });

  test('roomPassword on the host URL sets the password when the host opens the room', async () => {
    const { body } = await tryLogin(d, 'alice', PW);
    const host = await connect(d.http, { room: 'r5', peerId: 'h5', query: { host: body.token, roomPassword: 'pw5' } });
    const j = (await host.joinWithMedia({})) as any;
    assert.deepEqual(j.room, { locked: false, hasPassword: true });
    assert.equal((await connectRefused(d.http, { room: 'r5', peerId: 'g' })).code, 4424);
    await closeAll(host);
  });
});

test('host.user_auth: a login or a token is required; presenter tokens give host rights until revoked', async () => {
  const d = await startConfd({ config: { host: { user_auth: true }, mediasoup: { workers: 1 } } });
  try {
    await addUser(d);
    const none = await connectRefused(d.http, { room: 'u1' });
    assert.equal(none.code, 4401);
    assert.match(none.reason, /login or a join link/);
    const bogusLogin = await connectRefused(d.http, { room: 'u1', query: { host: 'x'.repeat(43) } });
    assert.equal(bogusLogin.code, 4401);
    assert.match(bogusLogin.reason, /Log in again/);

    const { body } = await tryLogin(d, 'alice', PW);
    const viaLogin = await connect(d.http, { room: 'u1', peerId: 'l1', query: { host: body.token } });
    assert.equal(((await viaLogin.joinWithMedia({})) as any).role, 'host');

    const guestToken = (await d.admin('POST', '/v1/tokens', { room: 'u1' })).body;
    const viaToken = await connect(d.http, { room: 'u1', peerId: 't1', token: guestToken.token });
    assert.equal(((await viaToken.joinWithMedia({})) as any).role, 'guest');
    const wrongRoom = await connectRefused(d.http, { room: 'u2', token: guestToken.token });
    assert.equal(wrongRoom.code, 4401);
    assert.match(wrongRoom.reason, /different room/);

    const pres = (await d.admin('POST', '/v1/tokens', { room: 'u1', user: 'alice', presenter: true })).body;
    const presenter = await connect(d.http, { room: 'u1', peerId: 'p1', token: pres.token });
    assert.equal(((await presenter.joinWithMedia({})) as any).role, 'host');
    assert.ok((await ips(d)).some((e) => e.user === 'alice'));
    assert.equal((await confctl(['--socket', d.socket, 'token', 'revoke', pres.id])).code, 0);
    // Revoked: the connection it let in ends (staying as a guest would outlive the revocation).
    assert.equal((await presenter.waitForNotification('disconnected')).reason, 'revoked');
    assert.equal((await presenter.closed).code, 4401);
    const again = await connectRefused(d.http, { room: 'u1', token: pres.token });
    assert.match(again.reason, /revoked/);
    await closeAll(viaLogin, viaToken, presenter);
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});

test('HTTP API: off without a key; key compared exactly; every route; bad bodies; metrics', async () => {
  const off = await startConfd({ config: { mediasoup: { workers: 1 } } });
  try {
    const r = await fetch(`${off.http}/api/v1/stats`);
    assert.equal(r.status, 404);
    assert.match((await r.json()).error.message, /api.keySecret/);
  } finally {
    await off.stop();
    cleanup(join(off.dataDir, '..'));
  }
  const key = 'k'.repeat(40);
  const d = await startConfd({ config: { api: { keySecret: key }, mediasoup: { workers: 1 } } });
  try {
    const call = (method: string, path: string, body?: unknown, auth: string | null = key) =>
      fetch(`${d.http}/api/v1/${path}`, {
        method,
        headers: { ...(auth === null ? {} : { authorization: auth }), 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, body: await res.json() }));
    assert.equal((await call('GET', 'stats', undefined, null)).status, 401);
    assert.equal((await call('GET', 'stats', undefined, `${key}x`)).status, 401);
    assert.equal((await call('GET', 'stats', undefined, key.slice(1))).status, 401);
    assert.equal((await call('GET', 'stats', undefined, `Bearer ${key}`)).status, 200);

    const tok = await call('POST', 'token', { room: 'api1', ttl: '30m' });
    assert.equal(tok.status, 200);
    assert.match(tok.body.joinUrl, /\/join\/\?room=api1&token=/);
    const viaApi = await connect(d.http, { room: 'api1', token: tok.body.token });
    await viaApi.joinWithMedia({});
    const joinUrl = await call('POST', 'join', { room: 'api1', name: 'Ann', audio: true, video: 0 });
    assert.match(joinUrl.body.joinUrl, /\/join\/\?room=api1&name=Ann&audio=1&video=0$/);
    const withToken = await call('POST', 'join', { room: 'api1', token: true });
    assert.match(withToken.body.joinUrl, /token=/);
    assert.deepEqual((await call('POST', 'meeting', { room: 'planning' })).body.room, 'planning');
    assert.match((await call('POST', 'meeting', {})).body.room, /^meeting-/);
    assert.deepEqual((await call('GET', 'meetings')).body.meetings.map((m: any) => [m.room, m.peers]), [['api1', 1]]);
    const stats = (await call('GET', 'stats')).body;
    assert.equal(stats.rooms, 1);
    assert.equal(stats.peers, 1);
    for (const [path, body] of [
      ['token', '{'],
      ['token', { room: '../x' }],
      ['token', { room: 'a', ttl: '1y' }],
      ['token', { room: 'a', extra: 1 }],
      ['join', { room: 'a', audio: 'yes' }],
      ['meeting', { room: 5 }],
    ] as const) {
      const res = await call('POST', path, body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.equal((await call('POST', 'token', { room: 'a', ttl: '30d' })).status, 422);
    assert.equal((await call('GET', 'nope')).status, 404);
    assert.equal((await call('DELETE', 'meeting/nope')).status, 404);
    const end = await call('DELETE', 'meeting/api1');
    assert.deepEqual(end.body, { room: 'api1', ended: true, peers: 1 });
    assert.equal((await viaApi.waitForNotification('disconnected')).reason, 'room_closed', 'ending a meeting is not a kick');

    const metrics = await (await fetch(`${d.http}/metrics`)).text();
    for (const name of ['confd_up 1', 'confd_rooms', 'confd_peers', 'confd_consumers', 'confd_logins_total{result="ok"}', 'confd_tokens_issued_total 2', 'confd_worker_cpu_seconds_total{pid=']) {
      assert.ok(metrics.includes(name), name);
    }
    // Brute force on the key: blocked after 10 failures from one address.
    for (let i = 0; i < 10; i++) await call('GET', 'stats', undefined, 'wrong');
    const blocked = await call('GET', 'stats', undefined, key);
    assert.equal(blocked.status, 429);
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});
