import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyStore, type StoreData } from '../store/schema.ts';
import type { CredentialEnded } from './admission.ts';
import { endedCredentials, followEndedCredentials } from './ended-credentials.ts';

const T = Date.parse('2026-06-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const session = (id: string, expiresAt: number, ip = '203.0.113.7', user = 'alice') => ({ id, hash: id.repeat(8), user, ip, createdAt: iso(T - 1000), expiresAt: iso(expiresAt) });
const token = (id: string, revokedAt: string | null = null) => ({ id, room: 'r', sub: 'guest', presenter: false, issuedAt: iso(T - 1000), expiresAt: iso(T + 3600_000), revokedAt });
const ip = (expiresAt: number, user = 'alice') => ({ ip: '203.0.113.7', user, since: iso(T - 1000), lastSeen: iso(T - 1000), expiresAt: iso(expiresAt) });

function state(o: Partial<StoreData>): StoreData {
  return { ...emptyStore(), ...o };
}

test('endedCredentials: a session gone before its time is revoked; one past its time (or its IP\'s) expired', () => {
  const before = state({ sessions: [session('live', T + 60_000), session('old', T - 1), session('ipout', T + 60_000, '203.0.113.7', 'bob')], ips: [ip(T + 60_000), ip(T - 1, 'bob')] });
  const after = state({ sessions: [], ips: [ip(T + 60_000)] });
  assert.deepEqual(endedCredentials(before, after, T), [
    { keys: ['live'], kind: 'revoked' },
    { keys: ['old', 'ipout'], kind: 'expired' },
  ]);
});

test('endedCredentials: tokens newly revoked; nothing for tokens already revoked, new or unchanged', () => {
  const kept = token('kept');
  const before = state({ tokens: [kept, token('t1'), token('t2', iso(T - 5))] });
  const after = state({ tokens: [kept, token('t1', iso(T)), token('t2', iso(T - 5)), token('t3', iso(T))] });
  assert.deepEqual(endedCredentials(before, after, T), [{ keys: ['token:t1'], kind: 'revoked' }]);
});

test('endedCredentials: the same state, or new sessions only: nothing ended', () => {
  const s = state({ sessions: [session('a', T + 1000)] });
  assert.deepEqual(endedCredentials(s, s, T), []);
  assert.deepEqual(endedCredentials(s, state({ sessions: [...s.sessions, session('b', T + 1000)] }), T), []);
});

test('followEndedCredentials: each store change and each clock end is told once, after host protection forgets its timers', () => {
  const onChange: ((b: Readonly<StoreData>, a: Readonly<StoreData>) => void)[] = [];
  let clock: ((e: CredentialEnded) => void) | undefined;
  const calls: string[] = [];
  followEndedCredentials(
    { onChange: (l) => void onChange.push(l) },
    { credentialsEnded: (e) => void calls.push(`forget ${e.keys.join(',')}`), onClockEnded: (l) => void (clock = l) },
    (e) => calls.push(`tell ${e.kind} ${e.keys.join(',')}`),
    () => T,
  );
  assert.equal(onChange.length, 1);
  const before = state({ sessions: [session('s1', T + 60_000)], tokens: [token('t1')] });
  onChange[0]!(before, state({ sessions: [], tokens: [token('t1', iso(T))] }));
  onChange[0]!(before, before);
  clock!({ keys: ['token:P'], kind: 'expired' });
  assert.deepEqual(calls, ['forget s1,token:t1', 'tell revoked s1,token:t1', 'forget token:P', 'tell expired token:P']);
});
