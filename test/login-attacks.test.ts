/**
 * The attacks of issue 9 on logins, the hash queue, the audit trail, /metrics keys and IP spellings,
 * each against a real daemon over real HTTP. Clients get their addresses from X-Forwarded-For, which
 * the daemon believes because the test client (127.0.0.1) is listed in server.trustProxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startConfd, confctl, cleanup, tempDir, type RunningDaemon } from './helpers/daemon.ts';
import { tryLogin, type LoginAnswer } from './helpers/login.ts';

async function addUser(d: RunningDaemon, name: string, pw: string): Promise<void> {
  const r = await confctl(['--socket', d.socket, 'user', 'add', name, '--password-stdin'], { input: pw });
  assert.equal(r.code, 0, r.stderr);
}

async function start(config: Record<string, unknown> = {}): Promise<RunningDaemon> {
  const { host, ...rest } = config as { host?: Record<string, unknown> };
  return startConfd({ config: { server: { trustProxy: ['127.0.0.1'] }, host: { maxLoginAttempts: 5, loginBlockMinutes: 15, ...host }, mediasoup: { workers: 1 }, ...rest } });
}

async function stop(d: RunningDaemon): Promise<void> {
  await d.stop();
  cleanup(dirname(d.dataDir));
}

/** /metrics from the test client itself (loopback: no key needed). */
async function metric(d: RunningDaemon, line: string): Promise<number> {
  const text = await (await fetch(`${d.http}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found, `metric ${line} in\n${text}`);
  return Number(found.slice(line.length + 1));
}

const events = async (d: RunningDaemon) => (await d.admin('GET', '/v1/audit?limit=99999')).body.events as { type: string; actor: string; [k: string]: unknown }[];

const tally = (answers: LoginAnswer[]) => {
  const t: Record<number, number> = {};
  for (const a of answers) t[a.status] = (t[a.status] ?? 0) + 1;
  return t;
};

test('burst: waves of 40 parallel wrong passwords get exactly maxLoginAttempts checks, the rest 429; then the right one is refused; another host logs in meanwhile', async () => {
  const d = await start();
  try {
    await addUser(d, 'alice', 'alice-right-password');
    await addUser(d, 'bob', 'bob-right-password');
    const wave = (n: number) => Promise.all(Array.from({ length: 40 }, (_, i) => tryLogin(d, 'alice', `wrong-guess-${n}-${i}`, { from: '198.51.100.10' })));
    // The real host, elsewhere, logs in while the first wave is being answered.
    const [first, bob] = await Promise.all([wave(0), tryLogin(d, 'bob', 'bob-right-password', { from: '203.0.113.20' })]);
    assert.equal(bob.status, 200, 'the other host got in during the burst');
    const t0 = tally(first);
    assert.ok((t0[401] ?? 0) >= 1 && (t0[401] ?? 0) <= 5, `the first wave of 40 got at most 5 checks: ${JSON.stringify(t0)}`);
    assert.equal(t0[429], 40 - t0[401]!, JSON.stringify(t0));
    // More waves: each gets at least one check until the fifth failure blocks the user name.
    const answers = [...first];
    for (let n = 1; n < 8; n++) answers.push(...(await wave(n)));
    const t = tally(answers);
    assert.deepEqual(t, { 401: 5, 429: 315 }, 'exactly maxLoginAttempts (5) passwords were checked out of 320');
    for (const a of answers.filter((x) => x.status === 429)) {
      assert.ok(a.retryAfter >= 1, 'a 429 says when to retry');
      assert.match(a.body.error.code, /^(too_many_attempts|login_in_progress)$/);
      assert.match(a.body.error.message, /try again in \d+ s/);
    }
    // Then the right password: refused, from that address and from any other.
    const right = await tryLogin(d, 'alice', 'alice-right-password', { from: '198.51.100.10' });
    assert.equal(right.status, 429);
    assert.equal(right.body.error.code, 'too_many_attempts');
    assert.ok(right.retryAfter > 60, 'the block lasts loginBlockMinutes');
    assert.equal((await tryLogin(d, 'alice', 'alice-right-password', { from: '192.0.2.44' })).status, 429);
    // A block is recorded once per key and window, not once per refused request.
    const blocked = (await events(d)).filter((e) => e.type === 'login.blocked');
    assert.ok(blocked.length >= 1 && blocked.length <= 2, `login.blocked events: ${blocked.length}`);
    assert.equal(await metric(d, 'confd_logins_total{result="failed"}'), 5);
  } finally {
    await stop(d);
  }
});

test('burst over many addresses: the password-check queue is bounded and answers 503 with Retry-After; logins work again once it drains', async () => {
  const d = await start();
  try {
    await addUser(d, 'alice', 'alice-right-password');
    // 150 different users from 150 different addresses: no per-key cap applies, only the queue's.
    const answers = await Promise.all(Array.from({ length: 150 }, (_, i) => tryLogin(d, `spray${i}`, 'wrong-password', { from: `198.18.${i >> 8}.${i & 255}` })));
    const t = tally(answers);
    assert.equal((t[401] ?? 0) + (t[503] ?? 0), 150, JSON.stringify(t));
    assert.ok((t[503] ?? 0) >= 1, `the queue filled: ${JSON.stringify(t)}`);
    for (const a of answers.filter((x) => x.status === 503)) {
      assert.equal(a.body.error.code, 'busy');
      assert.match(a.body.error.message, /too many logins at once.*try again in \d+ s/);
      assert.ok(a.retryAfter >= 1);
    }
    assert.equal(await metric(d, 'confd_logins_total{result="overloaded"}'), t[503]);
    // A 503 costs the address nothing: it was not counted as a failed attempt.
    assert.equal((await tryLogin(d, 'alice', 'alice-right-password', { from: '198.18.0.0' })).status, 200);
    assert.ok(d.logs.some((l) => /password-check queue is full/.test(l.msg ?? '')), 'the burst is logged');
  } finally {
    await stop(d);
  }
});

test('IPv6: the login limit counts a /64 as one address', async () => {
  const d = await start({ host: { maxLoginAttempts: 3 } });
  try {
    await addUser(d, 'alice', 'alice-right-password');
    // Different user names, so only the address limit can engage; a fresh address for each try.
    for (const [i, from] of ['2001:db8:1:2::1', '2001:db8:1:2:aaaa::2', '2001:DB8:1:2:0:0:0:3'].entries()) {
      assert.equal((await tryLogin(d, `nobody${i}`, 'wrong-password', { from })).status, 401);
    }
    const same64 = await tryLogin(d, 'alice', 'alice-right-password', { from: '2001:db8:1:2:ffff:ffff:ffff:ffff' });
    assert.equal(same64.status, 429, 'another address of the same /64 is blocked');
    assert.equal(same64.body.error.code, 'too_many_attempts');
    assert.equal((await tryLogin(d, 'alice', 'alice-right-password', { from: '2001:db8:1:3::1' })).status, 200, 'the next /64 is not');
  } finally {
    await stop(d);
  }
});

test('audit flood: 6000 failed and blocked logins neither evict admin events nor rewrite the database per request', async () => {
  const d = await start();
  try {
    await addUser(d, 'alice', 'alice-right-password');
    const issued = await confctl(['--socket', d.socket, '--json', 'token', 'issue', '--room', 'standup']);
    assert.equal(issued.code, 0, issued.stderr);
    const tokenId = JSON.parse(issued.stdout).id as string;
    // Database rewrites so far (confd_db_writes_total; a build without the counter fails below).
    const writesBefore = await metric(d, 'confd_db_writes_total').catch(() => 0);

    // 50 addresses, 120 logins each, 50 at a time (one per address), random user names.
    const statuses: Record<number, number> = {};
    for (let round = 0; round < 120; round++) {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => tryLogin(d, `guess${round}x${i}`, 'wrong-password', { from: `192.0.2.${i + 1}` })));
      for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    }
    assert.equal((statuses[401] ?? 0) + (statuses[429] ?? 0) + (statuses[503] ?? 0), 6000, JSON.stringify(statuses));
    assert.ok((statuses[429] ?? 0) >= 4500, `the addresses were blocked: ${JSON.stringify(statuses)}`);

    const trail = await events(d);
    assert.ok(trail.some((e) => e.type === 'user.add' && e.user === 'alice'), 'user add survived');
    assert.ok(trail.some((e) => e.type === 'token.issue' && e.id === tokenId), 'token issue survived');
    const blocks = trail.filter((e) => e.type === 'login.blocked');
    assert.ok(blocks.length >= 1 && blocks.length <= 50, `one block event per address and window: ${blocks.length}`);
    // One list, in time order.
    for (let i = 1; i < trail.length; i++) assert.ok(trail[i - 1]!.at! <= trail[i]!.at!, 'merged in time order');

    // Noise is written in coalesced batches (at most one rewrite per NOISE_FLUSH_MS), not per request.
    const writes = (await metric(d, 'confd_db_writes_total')) - writesBefore;
    assert.ok(writes <= 30, `6000 refused logins cost ${writes} database rewrites`);

    const ctl = await confctl(['--socket', d.socket, '--json', 'audit', '--limit', '99999']);
    assert.equal(ctl.code, 0, ctl.stderr);
    const shown = JSON.parse(ctl.stdout).events as { type: string }[];
    for (const type of ['user.add', 'token.issue', 'login.failed', 'login.blocked']) assert.ok(shown.some((e) => e.type === type), `confctl audit shows ${type}`);

    // The noise not yet written goes to disk at shutdown, in its own ring.
    await d.stop();
    const db = JSON.parse(readFileSync(join(d.dataDir, 'confd.db.json'), 'utf8'));
    assert.ok(db.audit.some((e: any) => e.type === 'user.add'));
    assert.ok(!db.audit.some((e: any) => e.type === 'login.failed' || e.type === 'login.blocked'), 'no noise in the admin ring');
    assert.ok(db.auditNoise.some((e: any) => e.type === 'login.failed'));
  } finally {
    await stop(d);
  }
});

test('a database from before the audit rings: its login noise moves aside, IPs get their canonical spelling, ip revoke matches any spelling', async () => {
  const dataDir = join(tempDir(), 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  const later = new Date(Date.now() + 3600_000).toISOString();
  const audit = [
    { at: at(0), type: 'user.add', actor: 'admin', user: 'alice' },
    ...Array.from({ length: 4999 }, (_, i) => ({ at: at(i + 1), type: 'login.blocked', actor: 'alice', ip: '198.51.100.1' })),
  ];
  const ips = [{ ip: '2001:DB8:0:0::1', user: 'alice', since: at(0), lastSeen: at(0), expiresAt: later }];
  writeFileSync(join(dataDir, 'confd.db.json'), JSON.stringify({ version: 1, users: [], ips, tokens: [], audit }), { mode: 0o600 });
  const d = await startConfd({ dataDir, config: { server: { trustProxy: ['127.0.0.1'] }, host: { maxLoginAttempts: 5 }, mediasoup: { workers: 1 } } });
  try {
    assert.deepEqual(((await d.admin('GET', '/v1/ips')).body.ips as { ip: string }[]).map((e) => e.ip), ['2001:db8::1']);
    await addUser(d, 'bob', 'bob-right-password');
    // More noise than the noise ring holds, from fresh addresses.
    for (let i = 0; i < 30; i++) await tryLogin(d, 'nobody', 'wrong-password', { from: `203.0.113.${i}` });
    const trail = await events(d);
    assert.ok(trail.some((e) => e.type === 'user.add' && e.user === 'alice'), 'the old admin event is still there');
    assert.ok(trail.some((e) => e.type === 'user.add' && e.user === 'bob'));
    const r = await confctl(['--socket', d.socket, 'ip', 'revoke', '2001:0db8:0000::0001']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await d.admin('GET', '/v1/ips')).body.ips, []);
  } finally {
    await stop(d);
  }
});

test('ip revoke and ip add: any spelling of an IPv6 or IPv4-mapped address names the same entry', async () => {
  const d = await start();
  try {
    await addUser(d, 'alice', 'alice-right-password');
    // A host logs in from an address its proxy spells in upper case with zeros.
    assert.equal((await tryLogin(d, 'alice', 'alice-right-password', { from: '2001:DB8:0:0::1' })).status, 200);
    const listed = async () => ((await d.admin('GET', '/v1/ips')).body.ips as { ip: string; user: string }[]).map((e) => e.ip).sort();
    assert.deepEqual(await listed(), ['2001:db8::1']);
    const r = await confctl(['--socket', d.socket, 'ip', 'revoke', '2001:db8:0:0:0:0:0:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await listed(), []);

    // Over the admin API too, and IPv4-mapped IPv6 is the IPv4 address.
    assert.equal((await d.admin('POST', '/v1/ips', { ip: '2001:0DB8::7', user: 'alice' })).status, 201);
    assert.equal((await d.admin('POST', '/v1/ips', { ip: '::ffff:203.0.113.9', user: 'alice' })).status, 201);
    assert.equal((await d.admin('POST', '/v1/ips', { ip: '2001:db8:0::7', user: 'alice' })).status, 201, 'a refresh of the same entry');
    assert.deepEqual(await listed(), ['2001:db8::7', '203.0.113.9']);
    assert.equal((await d.admin('DELETE', `/v1/ips/${encodeURIComponent('2001:db8:0:0::7')}`)).status, 200);
    assert.equal((await d.admin('DELETE', `/v1/ips/${encodeURIComponent('::FFFF:CB00:7109')}`)).status, 200);
    assert.deepEqual(await listed(), []);
  } finally {
    await stop(d);
  }
});

test('/metrics and /api/v1: wrong API keys from one address (IPv6: one /64) end in 429 with Retry-After', async () => {
  const key = 'k'.repeat(40);
  const d = await start({ api: { keySecret: key } });
  const get = async (path: string, from: string, authorization?: string) => {
    const r = await fetch(`${d.http}${path}`, { headers: { 'x-forwarded-for': from, ...(authorization ? { authorization } : {}) } });
    await r.arrayBuffer();
    return { status: r.status, retryAfter: Number(r.headers.get('retry-after')) };
  };
  try {
    for (let i = 0; i < 10; i++) assert.equal((await get('/metrics', '203.0.113.50', `Bearer wrong-${i}`)).status, 403);
    const blocked = await get('/metrics', '203.0.113.50', `Bearer ${key}`);
    assert.equal(blocked.status, 429, 'blocked, the right key included');
    assert.ok(blocked.retryAfter > 0);
    assert.equal((await get('/metrics', '203.0.113.51', `Bearer ${key}`)).status, 200, 'other addresses are not');

    for (let i = 0; i < 10; i++) assert.equal((await get('/metrics', `2001:db8:5:6::${i + 1}`, 'Bearer wrong')).status, 403);
    assert.equal((await get('/metrics', '2001:db8:5:6:ffff::1', `Bearer ${key}`)).status, 429, 'the /64 is one address');
    assert.equal((await get('/metrics', '2001:db8:5:7::1', `Bearer ${key}`)).status, 200);
    assert.ok((await metric(d, 'confd_metrics_unauthorized_total')) >= 22);

    for (let i = 0; i < 10; i++) assert.equal((await get('/api/v1/stats', `2001:db8:9:9::${i + 1}`, 'wrong')).status, 401);
    assert.equal((await get('/api/v1/stats', '2001:db8:9:9::99', key)).status, 429, 'the API limit keys a /64 too');
    assert.equal((await get('/api/v1/stats', '2001:db8:9:a::1', key)).status, 200);
  } finally {
    await stop(d);
  }
});
