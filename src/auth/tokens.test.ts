import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { openStore, type Store } from '../store/db.ts';
import { createJoinTokens, REFUSAL_MESSAGES, type JoinTokens } from './tokens.ts';
import { revokeToken } from '../store/tokens.ts';
import { tempDir, cleanup } from '../../test/helpers/daemon.ts';

let dir: string;
let store: Store;
const key = createSecretKey(randomBytes(32));
let clock = new Date('2026-06-01T12:00:00Z');
let tokens: JoinTokens;

before(async () => {
  dir = tempDir();
  store = await openStore(dir);
  tokens = createJoinTokens({ key, store, defaultTtlSeconds: 3600, maxTtlSeconds: 7 * 86400, now: () => clock });
});
after(async () => {
  await store.close();
  cleanup(dir);
});

const issue = (over: Partial<Parameters<JoinTokens['issue']>[0]> = {}) =>
  tokens.issue({ room: 'standup', sub: 'guest', presenter: false, ttlSeconds: 3600, actor: 'test', ...over });

test('issued token carries exactly the documented claims, HS256, and is registered', async () => {
  const { token, record } = await issue({ sub: 'alice', presenter: true, ttlSeconds: 90 });
  const { header, payload } = jwt.decode(token, { complete: true }) as jwt.Jwt & { payload: jwt.JwtPayload };
  assert.equal(header.alg, 'HS256');
  assert.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'presenter', 'room', 'sub']);
  const now = Math.floor(clock.getTime() / 1000);
  assert.equal(payload.iss, 'confd');
  assert.equal(payload.aud, 'confd-join');
  assert.equal(payload.sub, 'alice');
  assert.equal(payload.room, 'standup');
  assert.equal(payload.presenter, true);
  assert.equal(payload.iat, now);
  assert.equal(payload.nbf, now);
  assert.equal(payload.exp, now + 90);
  assert.equal(payload.jti, record.id);
  assert.ok(!/password/i.test(JSON.stringify(payload)));
  assert.equal(store.data.tokens.find((t) => t.id === record.id)?.room, 'standup');
  const v = tokens.verifyJoinToken(token, 'standup');
  assert.ok(v.ok);
  assert.equal(v.ok && v.claims.sub, 'alice');
});

test('refusal: expired', async () => {
  const { token } = await issue({ ttlSeconds: 60 });
  const saved = clock;
  clock = new Date(saved.getTime() + 61_000);
  try {
    assert.deepEqual(tokens.verifyJoinToken(token, 'standup'), { ok: false, reason: 'expired', message: REFUSAL_MESSAGES.expired });
  } finally {
    clock = saved;
  }
});

test('refusal: not yet valid', async () => {
  const { token } = await issue();
  const saved = clock;
  clock = new Date(saved.getTime() - 3600_000);
  try {
    const r = tokens.verifyJoinToken(token, 'standup');
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'not_yet_valid');
  } finally {
    clock = saved;
  }
});

test('refusal: wrong room', async () => {
  const { token } = await issue({ room: 'standup' });
  const r = tokens.verifyJoinToken(token, 'retro');
  assert.equal(!r.ok && r.reason, 'wrong_room');
});

function forge(payload: Record<string, unknown>, signKey = key, alg: jwt.Algorithm = 'HS256'): string {
  const now = Math.floor(clock.getTime() / 1000);
  return jwt.sign({ iss: 'confd', aud: 'confd-join', sub: 'guest', room: 'standup', presenter: false, jti: 'x', iat: now, nbf: now, exp: now + 60, ...payload }, signKey, { algorithm: alg });
}

test('refusal: wrong audience', () => {
  const r = tokens.verifyJoinToken(forge({ aud: 'something-else' }), 'standup');
  assert.equal(!r.ok && r.reason, 'wrong_audience');
});

test('refusal: wrong issuer', () => {
  const r = tokens.verifyJoinToken(forge({ iss: 'mirotalk' }), 'standup');
  assert.equal(!r.ok && r.reason, 'wrong_issuer');
});

test('refusal: revoked', async () => {
  const { token, record } = await issue();
  assert.ok(tokens.verifyJoinToken(token, 'standup').ok);
  await store.mutate((d) => revokeToken(d, record.id, clock));
  const r = tokens.verifyJoinToken(token, 'standup');
  assert.equal(!r.ok && r.reason, 'revoked');
});

test('refusal: alg none (unsigned token) is never accepted', async () => {
  const { token } = await issue();
  const [, body] = token.split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  for (const t of [`${header}.${body}.`, `${header}.${body}`]) {
    const r = tokens.verifyJoinToken(t, 'standup');
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, t.endsWith('.') ? 'bad_algorithm' : 'malformed');
  }
});

test('refusal: other HMAC algorithms and signatures by another key', async () => {
  const r1 = tokens.verifyJoinToken(forge({}, key, 'HS512'), 'standup');
  assert.equal(!r1.ok && r1.reason, 'bad_algorithm');
  const r2 = tokens.verifyJoinToken(forge({}, createSecretKey(randomBytes(32))), 'standup');
  assert.equal(!r2.ok && r2.reason, 'bad_signature');
  const { token } = await issue();
  const tampered = token.replace(/\.([^.]+)\./, (_m, p: string) => `.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), room: 'other' })).toString('base64url')}.`);
  const r3 = tokens.verifyJoinToken(tampered, 'other');
  assert.equal(!r3.ok && r3.reason, 'bad_signature');
});

test('refusal: a well-signed token that was never issued (not in the registry)', () => {
  const r = tokens.verifyJoinToken(forge({ jti: 'never-issued' }), 'standup');
  assert.equal(!r.ok && r.reason, 'unknown');
});

test('refusal: malformed input of every kind', () => {
  for (const t of ['', 'abc', 'a.b.c', '....', 'x'.repeat(5000), '{"alg":"HS256"}', forge({ room: 42 }), forge({ presenter: 'yes' })]) {
    const r = tokens.verifyJoinToken(t, 'standup');
    assert.equal(r.ok, false, t.slice(0, 40));
    assert.equal(!r.ok && r.reason, 'malformed', t.slice(0, 40));
    assert.ok(!r.ok && r.message.length > 10);
  }
  // Non-strings from untyped callers.
  assert.equal((tokens.verifyJoinToken(undefined as unknown as string, 'standup') as { reason: string }).reason, 'malformed');
});

test('each refusal reason has its own message', () => {
  const messages = Object.values(REFUSAL_MESSAGES);
  assert.ok(messages.every((m) => m.length > 10));
  assert.ok(new Set(Object.keys(REFUSAL_MESSAGES)).size >= 10);
});

test('ttl above the maximum is refused; ttl below 1s is refused; bad room refused', async () => {
  await assert.rejects(issue({ ttlSeconds: 8 * 86400 }), /above the configured maximum jwt.maxTtl \(7d\)/);
  await assert.rejects(issue({ ttlSeconds: 0 }), /at least 1 second/);
  await assert.rejects(issue({ room: '../etc' }), /invalid room name/);
});
