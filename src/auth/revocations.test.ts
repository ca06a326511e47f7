/**
 * Each way a credential ends is ONE store change holding everything it ends (entries, sessions,
 * presenter tokens, audit), on both backends; and what ended, derived from that change, is the same
 * on the node that made it as on another node of a cluster that only follows the change log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { connectRedis, type RedisConnection } from '../redis/connection.ts';
import { openStore, type Store } from '../store/db.ts';
import { openRedisStore } from '../store/redis-backend.ts';
import type { StoreData } from '../store/schema.ts';
import { startRedis, type RunningRedis } from '../../test/helpers/redis.ts';
import type { CredentialEnded } from './admission.ts';
import { endedCredentials } from './ended-credentials.ts';
import * as revocations from './revocations.ts';

const log = pino({ level: 'silent' });
const NOW = new Date();
const iso = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();
const HOUR = 3600_000;
const SLACK = 60_000;

const ip = (addr: string, user: string, expiresIn = HOUR, tokens?: string[]) => ({ ip: addr, user, since: iso(-1000), lastSeen: iso(-1000), expiresAt: iso(expiresIn), ...(tokens ? { tokens } : {}) });
const session = (id: string, user: string, addr: string, expiresIn = HOUR) => ({ id, hash: id.repeat(8), user, ip: addr, createdAt: iso(-1000), expiresAt: iso(expiresIn) });
const token = (id: string, sub: string, presenter = false) => ({ id, room: 'r', sub, presenter, issuedAt: iso(-1000), expiresAt: iso(HOUR), revokedAt: null });
const user = (name: string) => ({ name, hash: 'not-a-real-hash', createdAt: iso(-1000), updatedAt: iso(-1000) });

/** alice holds .7 (added by presenter token P) with session sA; bob holds .8 with sB; G is a guest link. */
function seed(d: StoreData): void {
  d.users.push(user('alice'), user('bob'));
  d.ips.push(ip('203.0.113.7', 'alice', HOUR, ['P']), ip('203.0.113.8', 'bob'));
  d.sessions.push(session('sA', 'alice', '203.0.113.7'), session('sB', 'bob', '203.0.113.8'));
  d.tokens.push(token('P', 'alice', true), token('G', 'guest'), token('B1', 'bob'));
}

/** Expiry: .9 for alice ran out (session sX relied on it); sOld ran out unused past the sweep's slack. */
function seedExpired(d: StoreData): void {
  seed(d);
  d.ips.push(ip('203.0.113.9', 'alice', -1000));
  d.sessions.push(session('sX', 'alice', '203.0.113.9'), session('sOld', 'bob', '203.0.113.8', -2 * SLACK));
}

interface Case {
  name: string;
  seed?: (d: StoreData) => void;
  run: (s: Store) => Promise<unknown>;
  ended: CredentialEnded[];
  /** The state the one change leaves: what each case must have ended together. */
  check: (d: Readonly<StoreData>) => void;
  audit: string[];
}

const ipsOf = (d: Readonly<StoreData>) => d.ips.map((e) => `${e.ip} ${e.user}`).sort();
const sessionsOf = (d: Readonly<StoreData>) => d.sessions.map((s) => s.id).sort();
const revokedOf = (d: Readonly<StoreData>) => d.tokens.filter((t) => t.revokedAt).map((t) => t.id).sort();

const cases: Case[] = [
  {
    name: 'ip revoke: the IP, its sessions and the presenter token that added it',
    run: (s) => revocations.revokeIp(s, '203.0.113.7', NOW),
    ended: [{ keys: ['sA', 'token:P'], kind: 'revoked' }],
    check: (d) => {
      assert.deepEqual(ipsOf(d), ['203.0.113.8 bob']);
      assert.deepEqual(sessionsOf(d), ['sB']);
      assert.deepEqual(revokedOf(d), ['P']);
    },
    audit: ['ip.revoke'],
  },
  {
    name: 'ip revoke --all: every IP and every session from them',
    run: (s) => revocations.revokeAllIps(s, NOW),
    ended: [{ keys: ['sA', 'sB', 'token:P'], kind: 'revoked' }],
    check: (d) => {
      assert.deepEqual(ipsOf(d), []);
      assert.deepEqual(sessionsOf(d), []);
      assert.deepEqual(revokedOf(d), ['P']);
    },
    audit: ['ip.revoke_all'],
  },
  {
    name: 'user remove: the user, its IPs, sessions and tokens',
    run: (s) => revocations.removeUser(s, 'alice', NOW),
    ended: [{ keys: ['sA', 'token:P'], kind: 'revoked' }],
    check: (d) => {
      assert.deepEqual(d.users.map((u) => u.name), ['bob']);
      assert.deepEqual(ipsOf(d), ['203.0.113.8 bob']);
      assert.deepEqual(sessionsOf(d), ['sB']);
      assert.deepEqual(revokedOf(d), ['P']);
    },
    audit: ['user.remove'],
  },
  {
    name: 'passwd: the new hash, and every session made with the old password (with its IP)',
    run: (s) => revocations.changePassword(s, 'alice', 'new-hash', NOW),
    ended: [{ keys: ['sA'], kind: 'revoked' }],
    check: (d) => {
      assert.equal(d.users.find((u) => u.name === 'alice')?.hash, 'new-hash');
      assert.deepEqual(ipsOf(d), ['203.0.113.8 bob']);
      assert.deepEqual(sessionsOf(d), ['sB']);
    },
    audit: ['user.passwd', 'session.revoke'],
  },
  {
    name: 'token revoke',
    run: (s) => revocations.revokeToken(s, 'G', NOW),
    ended: [{ keys: ['token:G'], kind: 'revoked' }],
    check: (d) => assert.deepEqual(revokedOf(d), ['G']),
    audit: ['token.revoke'],
  },
  {
    name: 'logout: the session and its IP',
    run: (s) => revocations.endSession(s, 'sA', 'logout', NOW),
    ended: [{ keys: ['sA'], kind: 'revoked' }],
    check: (d) => {
      assert.deepEqual(ipsOf(d), ['203.0.113.8 bob']);
      assert.deepEqual(sessionsOf(d), ['sB']);
    },
    audit: ['logout'],
  },
  {
    name: 'expiry: IPs past their time with the sessions that relied on them, and sessions left unused',
    seed: seedExpired,
    run: (s) => revocations.expireCredentials(s, NOW, SLACK),
    ended: [{ keys: ['sOld', 'sX'], kind: 'expired' }],
    check: (d) => {
      assert.deepEqual(ipsOf(d), ['203.0.113.7 alice', '203.0.113.8 bob']);
      assert.deepEqual(sessionsOf(d), ['sA', 'sB']);
    },
    audit: ['ip.expire'],
  },
];

/** Keys in a stable order: a node following the log may hold entries in another order. */
const sorted = (ended: CredentialEnded[]) => ended.map((e) => ({ ...e, keys: [...e.keys].sort() }));

interface Change {
  before: Readonly<StoreData>;
  after: Readonly<StoreData>;
}

function record(s: Store): Change[] {
  const changes: Change[] = [];
  s.onChange((before, after) => changes.push({ before, after }));
  return changes;
}

/** Lets any write started after the revocation's own (a fire-and-forget one) reach the store. */
const settle = () => new Promise((r) => setTimeout(r, 50));

function expectOneChange(c: Case, changes: Change[]): CredentialEnded[] {
  assert.equal(changes.length, 1, 'exactly one store change');
  const { before, after } = changes[0]!;
  c.check(after);
  assert.deepEqual(after.audit.slice(before.audit.length).map((e) => e.type), c.audit);
  const ended = sorted(endedCredentials(before, after, Date.now()));
  assert.deepEqual(ended, c.ended);
  return ended;
}

describe('revocations on one node (lowdb file)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  for (const c of cases) {
    test(c.name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'confd-revocations-'));
      dirs.push(dir);
      const s = await openStore(dir, log);
      await s.mutate(c.seed ?? seed);
      const changes = record(s);
      await c.run(s);
      await settle();
      expectOneChange(c, changes);
      await s.close();
    });
  }

  test('a revocation that is refused changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confd-revocations-'));
    dirs.push(dir);
    const s = await openStore(dir, log);
    await s.mutate(seed);
    const changes = record(s);
    await assert.rejects(revocations.revokeIp(s, '198.51.100.1', NOW), /not in the authorised-IP table/);
    await assert.rejects(revocations.revokeToken(s, 'nope', NOW), /no token/);
    await assert.rejects(revocations.changePassword(s, 'carol', 'h', NOW), /no user "carol"/);
    assert.equal(changes.length, 0);
    await s.close();
  });
});

describe('revocations in a cluster (Redis): the same change, and the same ended credentials, on the node that made it and on another', () => {
  let redis: RunningRedis;
  const conns: RedisConnection[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await redis.stop();
  });
  const node = async () => {
    const c = await connectRedis(redis.url, log);
    conns.push(c);
    return openRedisStore(c, log);
  };

  for (const c of cases) {
    test(c.name, async () => {
      await redis.cli('FLUSHALL');
      const [a, b] = [await node(), await node()];
      await a.mutate(c.seed ?? seed);
      await b.sync('test');
      const local = record(a);
      const remote = record(b);
      const versionBefore = a.version();
      await c.run(a);
      await settle();
      assert.equal(a.version(), versionBefore + 1, 'one version in the change log');
      const ended = expectOneChange(c, local);
      await b.sync('test');
      assert.equal(remote.length, 1, 'the other node sees one change');
      assert.deepEqual(sorted(endedCredentials(remote[0]!.before, remote[0]!.after, Date.now())), ended);
      await Promise.all([a.close(), b.close()]);
    });
  }
});
