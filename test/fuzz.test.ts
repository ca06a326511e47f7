/**
 * Seeded fuzzing of every way in, against one real daemon (host.user_auth on, an API key configured):
 * signalling messages, join tokens in the WebSocket URL, join URLs, POST /login and /api/v1 bodies, and
 * admin-socket routes. Each case must get a well-formed answer (JSON errors, error responses or `error`
 * notifications, close codes with reasons), nothing may be a 5xx or an error-level log line, the daemon
 * keeps its pid, and the store ends up exactly as the successful requests say it should.
 *
 *   CONFD_FUZZ_SEED=1234 node --import tsx --test test/fuzz.test.ts   reproduce a run (the seed is printed)
 *   npm run fuzz                                              20000 cases per target
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import jwt from 'jsonwebtoken';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, joinPeer, type Message, type SfuClient } from './helpers/sfu-client.ts';
import { MAX_MESSAGE_BYTES } from '../src/protocol/index.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_MAX_LENGTH } from '../src/auth/tokens.ts';
import { fuzzIterations, fuzzSeed, preview, Rng } from './fuzz/prng.ts';
import { helloCase, signallingCase, type KnownIds } from './fuzz/signalling.ts';
import { adminCase, httpApiCase, joinUrlCase, type HttpCase, type KnownData } from './fuzz/http.ts';
import { tokenCase } from './fuzz/tokens.ts';
import { assertJsonError, errorLogLines, httpCall, type HttpResult } from './fuzz/client.ts';
import { sleep, until } from './helpers/wait.ts';

const SEED = fuzzSeed();
const N = fuzzIterations(500);
const root = new Rng(SEED);
const REPRO = `CONFD_FUZZ_SEED=${SEED}`;
console.log(`fuzz: seed ${SEED}, ${N} cases per target (reproduce with ${REPRO}; lengthen with CONFD_FUZZ_ITERATIONS)`);

const API_KEY = 'fuzz-api-key-0123456789abcdef0123456789abcdef';
const PASSWORD = 'alice-password-1';
const SIG_ROOM = 'fz-sig';
const TOKEN_ROOM = 'fz-tok';

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** What the store must hold: the baseline plus every change the daemon said it made. */
interface Model {
  users: Set<string>;
  tokens: Map<string, { revoked: boolean; expiresAt: string }>;
  /** "ip|user" -> expiresAt */
  ips: Map<string, string>;
}

describe(`fuzzing (seed ${SEED})`, { timeout: Math.max(180_000, N * 100) }, () => {
  let d: RunningDaemon;
  let pid: number;
  let key: KeyObject;
  let keyBytes: Buffer;
  const model: Model = { users: new Set(), tokens: new Map(), ips: new Map() };
  const rooms = ['standup', SIG_ROOM, TOKEN_ROOM, 'fz-other'];

  const known = (): KnownData => ({
    users: [...model.users],
    tokenIds: [...model.tokens.keys()],
    ips: [...new Set([...model.ips.keys()].map((k) => k.split('|')[0]!))],
    rooms,
    peers: ['alice', 'carol', 'nobody'],
  });

  const addToken = (body: { id: string; expiresAt: string }) => model.tokens.set(body.id, { revoked: false, expiresAt: body.expiresAt });

  before(async () => {
    d = await startConfd({
      config: {
        host: { user_auth: true, maxLoginAttempts: 1000, leaveGraceSeconds: 3600 },
        // Every case is a connection from one address; the hello limit is tested in admission-limits.test.ts.
        server: { joinRate: { perSecond: 10_000, burst: 10_000 } },
        api: { keySecret: API_KEY },
        mediasoup: { workers: 1, portRange: [44000, 44999] },
      },
    });
    pid = d.proc.pid!;
    keyBytes = Buffer.from(readFileSync(join(d.dataDir, 'jwt.secret'), 'utf8').trim(), 'hex');
    key = createSecretKey(keyBytes);
    // Baseline data for requests to name: two users, tokens, an authorised IP.
    for (const name of ['alice', 'bob']) {
      const r = await d.admin('POST', '/v1/users', { name, password: PASSWORD });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      model.users.add(name);
    }
    for (const body of [{ room: 'standup', user: 'alice', presenter: true, ttl: '2h' }, { room: 'standup' }]) {
      const r = await d.admin('POST', '/v1/tokens', body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      addToken(r.body);
    }
    const ip = await d.admin('POST', '/v1/ips', { ip: '203.0.113.7', user: 'alice', ttl: '1h' });
    assert.equal(ip.status, 201);
    model.ips.set('203.0.113.7|alice', ip.body.expiresAt);
  });

  after(async () => {
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  /** A guest join token for `room`, recorded in the model. */
  async function issue(room: string, extra: Record<string, unknown> = {}): Promise<{ token: string; id: string }> {
    const r = await d.admin('POST', '/v1/tokens', { room, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    addToken(r.body);
    return r.body;
  }

  test('signalling: mutated requests, envelopes, junk and binary frames', async (t) => {
    const rng = root.fork('signalling');
    const { token } = await issue(SIG_ROOM, { ttl: '2h' });
    // The Node test client (werift) sends no ICE consent checks, so mediasoup drops its media after 30 s:
    // a long run is cut into segments, each with a fresh call that must go on undisturbed through it.
    const SEGMENT = 1000;
    const LANES = 4;
    const PACE_MS = 25; // stays under 50 messages/s per connection
    let peerSeq = 0;
    let nextId = 1_000_000;
    let sentinel = 5_000_000;
    let responses = 0;
    let okResponses = 0;
    let oversized = 0;
    let checked = 0;

    for (let first = 0, segment = 0; first < N; first += SEGMENT, segment++) {
      const opened: SfuClient[] = [];
      try {
        // A call that goes on through all of it, and gives the fuzzer real transport/producer/consumer ids.
        const alice = await joinPeer(d.http, { room: SIG_ROOM, peerId: `alice-${segment}`, token, produce: ['audio', 'video'] });
        opened.push(alice);
        const carol = await joinPeer(d.http, { room: SIG_ROOM, peerId: `carol-${segment}`, token, consume: true });
        opened.push(carol);
        const fromAlice = () => carol.consumersOf(alice.peerId);
        await until(() => fromAlice().length === 2 && fromAlice().every((c) => c.unique.size > 5), 'the calm call to carry media');

        const open = async (): Promise<{ c: SfuClient; transport: string }> => {
          const c = await connect(d.http, { room: SIG_ROOM, peerId: `fz-${peerSeq++}`, token });
          opened.push(c);
          const tr = await c.request('createWebRtcTransport', { producing: true, consuming: false });
          return { c, transport: tr.id };
        };
        const lanes = await Promise.all(Array.from({ length: LANES }, open));
        const ids: KnownIds = {
          transports: [alice.sendTransport!.id, carol.recvTransport!.id, ...lanes.map((l) => l.transport)],
          producers: [...alice.producerIds.values()],
          consumers: fromAlice().map((c) => c.id),
          peers: [alice.peerId, carol.peerId, ...lanes.map((l) => l.c.peerId)],
        };
        const cases = Array.from({ length: Math.min(SEGMENT, N - first) }, () => signallingCase(rng, ids, () => nextId++));

        await Promise.all(
          lanes.map(async (lane, l) => {
            let { c } = lane;
            for (let i = l; i < cases.length; i += LANES) {
              const k = cases[i]!;
              const what = `case ${first + i} (${k.what}): ${preview(k.frame)} [${REPRO}]`;
              await sleep(PACE_MS);
              const since = c.messages.length;
              c.sendRaw(k.frame, k.binary);
              if (Buffer.byteLength(k.frame) > MAX_MESSAGE_BYTES) {
                const info = await Promise.race([c.closed, sleep(5000).then(() => null)]);
                assert.equal(info?.code, 1009, `${what}: an oversized frame closes with 1009`);
                oversized++;
                c = (await open()).c;
                continue;
              }
              try {
                if (k.expectResponseId !== null) {
                  await c.waitFor((m) => m.response === true && m.id === k.expectResponseId, 10_000, since);
                  responses++;
                } else {
                  await sleep(PACE_MS);
                  const id = sentinel++;
                  c.sendJson({ request: true, id, method: 'getStats', data: {} });
                  await c.waitFor((m) => m.response === true && m.id === id, 10_000, since);
                }
              } catch (e) {
                throw new Error(`${what}: ${(e as Error).message}; connection ${c.open ? 'open' : `closed ${JSON.stringify(c.closeInfo)}`}`);
              }
              for (const m of c.messages.slice(since)) checkServerMessage(m, what);
              okResponses += c.messages.slice(since).filter((m) => m.response && m.ok && m.id === k.expectResponseId).length;
              assert.equal(c.open, true, `${what}: connection closed ${JSON.stringify(c.closeInfo)}`);
              checked++;
            }
          }),
        );

        // The call went on (fuzz peers may have produced too: only alice's media counts).
        assert.equal(fromAlice().length, 2);
        const before = fromAlice().map((c) => c.unique.size);
        await until(() => fromAlice().every((c, i) => c.unique.size > before[i]! + 10 && !c.closed), `carol to keep receiving from alice (segment ${segment}) [${REPRO}]`);
        for (const c of fromAlice()) assert.equal(c.corrupt, 0);
        assert.equal(alice.open && carol.open, true);
        assert.equal(alice.notifications('disconnected').length + carol.notifications('disconnected').length, 0);
      } finally {
        await Promise.all(opened.map((c) => c.close()));
      }
    }
    assert.equal(checked + oversized, N);
    assert.ok(responses > N / 3, `only ${responses} answered requests`);
    t.diagnostic(`${responses} requests answered, ${okResponses} of them ok; ${N - responses - oversized} frames got an error notification or nothing; ${oversized} oversized frames closed with 1009`);
    await until(async () => (await d.admin('GET', '/v1/rooms')).body.rooms.length === 0, 'the fuzz room to close');
  });

  test('first frames: mutated hellos, other requests and junk before the hello are refused with 44xx, never an error', async (t) => {
    const rng = root.fork('hello');
    const { token } = await issue(SIG_ROOM, { ttl: '2h' });
    const counts = { admitted: 0, refused: 0 };
    const cases = Array.from({ length: N }, () => helloCase(rng, token));
    await pool(cases, 4, async (k, i) => {
      const what = `case ${i} (${k.what}): ${preview(k.frame)} [${REPRO}]`;
      const c = await connect(d.http, { room: SIG_ROOM, peerId: `hl-${i}`, hello: null });
      c.sendRaw(k.frame, k.binary);
      const first = await Promise.race([c.waitFor((m) => m.response === true && m.ok === true, 15_000).then(() => 'admitted' as const), c.closed.then(() => 'closed' as const)]);
      if (first === 'admitted') {
        counts.admitted++;
        assert.equal(c.open, true, what);
        return void (await c.close());
      }
      const info = c.closeInfo!;
      assert.ok((info.code >= 4400 && info.code < 4500) || info.code === 1009, `${what}: close code ${info.code} (${info.reason})`);
      assert.ok(info.reason.trim().length > 0 || info.code === 1009, `${what}: close without a reason`);
      for (const m of c.messages) checkServerMessage(m, what);
      counts.refused++;
    });
    assert.equal(counts.admitted + counts.refused, N);
    assert.ok(counts.admitted > 0 && counts.refused > N / 2, JSON.stringify(counts));
    t.diagnostic(`first frames: ${JSON.stringify(counts)}`);
    await until(async () => (await d.admin('GET', '/v1/status')).body.peers === 0, 'the hello peers to be gone');
  });

  test('join tokens: mutated, re-signed and junk tokens in the hello message are refused with 4401 (4400 when not a string of 1-2048)', async (t) => {
    const rng = root.fork('tokens');
    const guest = await issue(TOKEN_ROOM, { ttl: '2h' });
    const presenter = await issue(TOKEN_ROOM, { ttl: '2h', user: 'bob', presenter: true });
    const other = await issue('fz-other', { ttl: '2h' });
    const revoked = await issue(TOKEN_ROOM, { ttl: '2h' });
    assert.equal((await d.admin('DELETE', `/v1/tokens/${revoked.id}`)).status, 200);
    model.tokens.get(revoked.id)!.revoked = true;
    const bases = [guest.token, presenter.token, other.token, revoked.token];
    const cases = Array.from({ length: N }, () => tokenCase(rng, rng.pick(bases), keyBytes));
    let refused = 0;
    let accepted = 0;

    await pool(cases, 8, async (k, i) => {
      const what = `case ${i} (${k.what}): ${preview(k.token)} [${REPRO}]`;
      const peerId = `tk-${i}`;
      const expected = oracle(k.token, TOKEN_ROOM);
      const c = await connect(d.http, { room: TOKEN_ROOM, peerId, token: k.token });
      const answer = await Promise.race([c.request('getRouterRtpCapabilities', {}, 10_000).then(() => 'ok', () => 'failed'), c.closed.then(() => 'closed')]);
      if (answer === 'ok') {
        assert.ok(expected.ok, `${what}: a token that must be refused (${expected.ok ? '' : expected.why}) was accepted`);
        accepted++;
        if (expected.presenter) model.ips.set(`127.0.0.1|${expected.sub}`, new Date(expected.exp * 1000).toISOString());
        await c.close();
        return;
      }
      assert.ok(answer !== 'failed' || !c.open, `${what}: neither answered nor closed`);
      const info = await c.closed;
      assert.ok(!expected.ok, `${what}: a valid token was refused: ${JSON.stringify(info)}`);
      assert.ok(info.code === 4401 || info.code === 4400, `${what}: close code ${info.code} (${info.reason})`);
      assert.ok(info.reason.trim().length > 0, `${what}: close without a reason`);
      const errs = c.messages.filter((m) => m.notification && m.method === 'error');
      assert.equal(errs.length, 1, `${what}: one error notification before the close: ${JSON.stringify(c.messages)}`);
      checkServerMessage(errs[0]!, what);
      refused++;
    });
    assert.equal(refused + accepted, N);
    assert.ok(refused > N * 0.8, `refused ${refused} of ${N}`);
    t.diagnostic(`${refused} refused, ${accepted} accepted (valid by the jsonwebtoken oracle)`);
    await until(async () => (await d.admin('GET', '/v1/status')).body.peers === 0, 'the token peers to be gone');

    /** Whether the daemon must accept `token` for `room`, judged independently with jsonwebtoken. */
    function oracle(token: string, room: string): { ok: true; presenter: boolean; sub: string; exp: number } | { ok: false; why: string } {
      if (token.length === 0 || token.length > TOKEN_MAX_LENGTH) return { ok: false, why: 'length' };
      let p: jwt.JwtPayload;
      try {
        p = jwt.verify(token, key, { algorithms: ['HS256'], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE }) as jwt.JwtPayload;
      } catch (e) {
        return { ok: false, why: (e as Error).message };
      }
      // Times must be whole seconds a Date can hold (the daemon turns a presenter's exp into an IP expiry).
      const time = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < 8.64e12;
      const shape = typeof p.sub === 'string' && typeof p.room === 'string' && typeof p.presenter === 'boolean' && typeof p.jti === 'string' && time(p.iat) && time(p.nbf) && time(p.exp);
      if (!shape) return { ok: false, why: 'claims shape' };
      if (p.room !== room) return { ok: false, why: 'wrong room' };
      const rec = model.tokens.get(p.jti!);
      if (!rec) return { ok: false, why: 'unknown jti' };
      if (rec.revoked) return { ok: false, why: 'revoked' };
      // A presenter token speaks for a user ("guest" when issued without one): that user must still exist.
      if (p.presenter && p.sub !== 'guest' && !model.users.has(p.sub!)) return { ok: false, why: 'presenter for a user that does not exist' };
      return { ok: true, presenter: p.presenter, sub: p.sub!, exp: p.exp! };
    }
  });

  test('join URLs: random path segments and query strings get a 200/400/404 page, never a 5xx', async (t) => {
    const rng = root.fork('join-urls');
    const cases = Array.from({ length: N }, () => joinUrlCase(rng));
    const statuses = new Map<number, number>();
    await pool(cases, 8, async (k, i) => {
      const what = `case ${i}: ${k.what} [${REPRO}]`;
      const r = await send({ base: d.http }, k, what);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok([200, 400, 404].includes(r.status), `${what}: status ${r.status}: ${r.text.slice(0, 200)}`);
      // Dot segments can take a path out of /join (a browser resolves them before asking): then it is
      // the home page or the server's JSON 404.
      const resolved = new URL(k.path, 'http://x').pathname;
      if (!/^\/join(\/|$)/.test(resolved) && resolved !== '/') {
        assert.equal(r.status, 404, what);
        if (k.method === 'GET') assertJsonError(r, what);
        return;
      }
      assert.match(String(r.headers['content-type']), /^text\/html; charset=utf-8$/, `${what}: content-type`);
      if (k.method === 'GET') {
        assert.match(r.text, /^<!doctype html>/, `${what}: not an HTML page`);
        // Whatever the URL carried, the page has exactly its own script tag: nothing was injected.
        assert.equal(r.text.split('<script').length - 1, 1, `${what}: script tags in ${r.text.slice(0, 400)}`);
      }
    });
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, JSON.stringify([...statuses]));
  });

  test('POST /login and /api/v1: mutated bodies, content types and methods', async (t) => {
    const rng = root.fork('http');
    const cases = Array.from({ length: N }, () => httpApiCase(rng, known(), API_KEY));
    const statuses = new Map<number, number>();
    await pool(cases, 4, async (k, i) => {
      const what = `case ${i}: ${k.what} ${preview(k.body ?? '')} [${REPRO}]`;
      const r = await send({ base: d.http }, k, what);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(r.status >= 200 && r.status < 500, `${what}: status ${r.status}: ${r.text.slice(0, 300)}`);
      if (r.status >= 400) return assertJsonError(r, what);
      assert.ok(r.body !== undefined, `${what}: ${r.status} without a JSON body: ${r.text.slice(0, 200)}`);
      const path = new URL(k.path, 'http://x').pathname;
      if (path === '/login' && r.status === 200) {
        assert.ok(model.users.has(r.body.user), `${what}: login as ${r.body.user}`);
        model.ips.set(`127.0.0.1|${r.body.user}`, r.body.expiresAt);
      } else if (path === '/api/v1/token') {
        addToken(r.body);
      } else if (path === '/api/v1/join') {
        const t = new URL(r.body.joinUrl).searchParams.get('token');
        if (t) {
          const p = jwt.decode(t) as jwt.JwtPayload;
          addToken({ id: p.jti!, expiresAt: new Date(p.exp! * 1000).toISOString() });
        }
      }
    });
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    const codes = [...statuses.keys()];
    assert.ok(codes.includes(400) && codes.some((s) => s < 300), JSON.stringify([...statuses]));
  });

  test('admin socket: random methods, paths and bodies', async (t) => {
    const rng = root.fork('admin');
    const statuses = new Map<number, number>();
    // One at a time: the expected store follows the answers in order (add, then revoke, ...).
    for (let i = 0; i < N; i++) {
      const k = adminCase(rng, known());
      const what = `case ${i}: ${k.what} ${preview(k.body ?? '')} [${REPRO}]`;
      const r = await send({ socketPath: d.socket }, k, what);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(r.status >= 200 && r.status < 500, `${what}: status ${r.status}: ${r.text.slice(0, 300)}`);
      if (k.method === 'HEAD') continue;
      if (r.status >= 400) {
        assertJsonError(r, what);
        continue;
      }
      assert.ok(r.body !== undefined, `${what}: ${r.status} without a JSON body`);
      applyAdminSuccess(k, r, what);
    }
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    const codes = [...statuses.keys()];
    assert.ok(codes.includes(400) && codes.includes(404) && codes.some((s) => s < 300), JSON.stringify([...statuses]));
  });

  test('afterwards: same daemon, healthy, no error logs, and the store holds exactly the acknowledged changes', async () => {
    assert.equal(d.proc.exitCode, null);
    assert.equal((await fetch(`${d.http}/healthz`)).status, 200);
    const st = await d.admin('GET', '/v1/status');
    assert.equal(st.body.pid, pid);
    assert.deepEqual(errorLogLines(d.logs).map((l) => `${l.msg} ${l.err?.message ?? ''}`), [], `error-level log lines [${REPRO}]`);

    const now = Date.now();
    const live = (expiresAt: string) => Date.parse(expiresAt) > now + 5000;
    const borderline = (expiresAt: string) => Math.abs(Date.parse(expiresAt) - now) <= 5000;
    const users = (await d.admin('GET', '/v1/users')).body.users.map((u: any) => u.name).sort();
    assert.deepEqual(users, [...model.users].sort(), `users [${REPRO}]`);
    const tokens = new Map<string, any>((await d.admin('GET', '/v1/tokens')).body.tokens.map((t: any) => [t.id, t]));
    for (const [id, t] of model.tokens) {
      const got = tokens.get(id);
      assert.ok(got, `token ${id} is missing [${REPRO}]`);
      if (borderline(t.expiresAt)) continue;
      assert.equal(got.state, t.revoked ? 'revoked' : live(t.expiresAt) ? 'active' : 'expired', `token ${id} [${REPRO}]`);
    }
    assert.deepEqual([...tokens.keys()].filter((id) => !model.tokens.has(id)), [], `tokens nobody was told about [${REPRO}]`);
    const ips = (await d.admin('GET', '/v1/ips')).body.ips.map((e: any) => `${e.ip}|${e.user}`).sort();
    const expectedIps = [...model.ips].filter(([, exp]) => live(exp)).map(([k]) => k);
    const unsure = new Set([...model.ips].filter(([, exp]) => borderline(exp)).map(([k]) => k));
    assert.deepEqual(ips.filter((k: string) => !unsure.has(k)), expectedIps.sort(), `authorised IPs [${REPRO}]`);

    // The file on disk says the same (it is what the daemon serves from).
    const db = JSON.parse(readFileSync(join(d.dataDir, 'confd.db.json'), 'utf8'));
    assert.deepEqual(db.users.map((u: any) => u.name).sort(), users);
    assert.deepEqual(db.tokens.map((t: any) => t.id).sort(), [...tokens.keys()].sort());
  });

  // ---- helpers that need the daemon or the model ----

  async function send(target: { socketPath: string } | { base: string }, k: HttpCase, what: string): Promise<HttpResult> {
    try {
      return await httpCall(target, k.method, k.path, { headers: k.headers, body: k.body, timeoutMs: 20_000 });
    } catch (e) {
      throw new Error(`${what}: no answer: ${(e as Error).message}`);
    }
  }

  /** Updates the model from a successful admin request; fails on a success that should not exist. */
  function applyAdminSuccess(k: HttpCase, r: HttpResult, what: string): void {
    const path = new URL(k.path, 'http://confd').pathname;
    const route = `${k.method} ${path.replace(/^\/v1\/(users|tokens|ips|rooms)\/[^/]+/, '/v1/$1/X')}`;
    switch (route) {
      case 'GET /v1/status':
      case 'GET /v1/users':
      case 'GET /v1/tokens':
      case 'GET /v1/ips':
      case 'GET /v1/rooms':
      case 'GET /v1/audit':
      case 'PUT /v1/users/X/password':
        return;
      case 'POST /v1/users':
        assert.equal(r.status, 201, what);
        model.users.add(r.body.name);
        return;
      case 'DELETE /v1/users/X':
        model.users.delete(r.body.name);
        // Its join tokens die with it.
        for (const id of r.body.revokedTokens) model.tokens.get(id)!.revoked = true;
        for (const key of [...model.ips.keys()]) if (key.endsWith(`|${r.body.name}`)) model.ips.delete(key);
        return;
      case 'POST /v1/tokens':
        assert.equal(r.status, 201, what);
        addToken(r.body);
        return;
      case 'DELETE /v1/tokens/X':
        assert.ok(model.tokens.has(r.body.id), `${what}: revoked a token the model does not know`);
        model.tokens.get(r.body.id)!.revoked = true;
        return;
      case 'POST /v1/ips':
        assert.equal(r.status, 201, what);
        model.ips.set(`${r.body.ip}|${r.body.user}`, r.body.expiresAt);
        return;
      case 'DELETE /v1/ips/X':
        for (const e of r.body.revoked) model.ips.delete(`${e.ip}|${e.user}`);
        // Presenter tokens that authorised the IP are revoked with it.
        for (const id of r.body.revokedTokens) model.tokens.get(id)!.revoked = true;
        return;
      case 'DELETE /v1/ips':
        model.ips.clear();
        for (const id of r.body.revokedTokens) model.tokens.get(id)!.revoked = true;
        return;
      default:
        assert.fail(`${what}: unexpected success ${r.status} ${r.text.slice(0, 200)}`);
    }
  }
});

/** A message from the daemon must be a well-formed response, notification or newConsumer request; errors 4xx. */
function checkServerMessage(m: Message, what: string): void {
  assert.equal(m.raw, undefined, `${what}: the daemon sent a frame that is not JSON: ${m.raw}`);
  if (m.response) {
    assert.ok(Number.isFinite(m.id), `${what}: response id ${m.id}`);
    if (m.ok) return assert.deepEqual(Object.keys(m).sort(), ['data', 'id', 'ok', 'response'], `${what}: ${JSON.stringify(m)}`);
    assert.deepEqual(Object.keys(m).sort(), ['errorCode', 'errorReason', 'id', 'ok', 'response'], `${what}: error response fields: ${JSON.stringify(m)}`);
    assert.ok(Number.isInteger(m.errorCode) && m.errorCode! >= 400 && m.errorCode! < 500, `${what}: errorCode ${m.errorCode} (${m.errorReason})`);
    assert.ok(typeof m.errorReason === 'string' && m.errorReason.length > 0 && m.errorReason.length <= 1024, `${what}: errorReason ${JSON.stringify(m.errorReason)}`);
    return;
  }
  if (m.notification) {
    assert.equal(typeof m.method, 'string', `${what}: ${JSON.stringify(m)}`);
    assert.notEqual(m.method, 'disconnected', `${what}: disconnected: ${JSON.stringify(m.data)}`);
    if (m.method === 'error') {
      assert.deepEqual(Object.keys(m).sort(), ['data', 'method', 'notification'], `${what}: ${JSON.stringify(m)}`);
      assert.deepEqual(Object.keys(m.data).sort(), ['reason'], `${what}: ${JSON.stringify(m)}`);
      assert.ok(typeof m.data.reason === 'string' && m.data.reason.length > 0, `${what}: error reason`);
    }
    return;
  }
  assert.ok(m.request && m.method === 'newConsumer', `${what}: unexpected message ${JSON.stringify(m).slice(0, 300)}`);
}
