import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import { claim, gate, hashRoomPassword, lobbyApplies, lobbyPick, type GateInput } from './admission.ts';

const guest: GateInput = { role: 'guest', bannedForMs: 0, locked: false, passwordHash: null, givenPassword: null, hostProtected: false, hasHost: false, lobby: false };

test('gate: a guest enters an open room; hosts always enter', () => {
  assert.deepEqual(gate(guest), { kind: 'enter' });
  const everything = { ...guest, bannedForMs: 5000, locked: true, passwordHash: hashRoomPassword('pw'), hostProtected: true, lobby: true };
  assert.deepEqual(gate({ ...everything, role: 'host' }), { kind: 'enter' });
});

test('gate: ban, then lock, then password refuse a guest, each with its close code', () => {
  const banned = gate({ ...guest, bannedForMs: 1500, locked: true });
  assert.equal(banned.kind === 'refuse' && banned.code, CLOSE_CODES.forbidden);
  assert.match(banned.kind === 'refuse' ? banned.message : '', /Try again in 2 s/);
  const locked = gate({ ...guest, locked: true, passwordHash: hashRoomPassword('pw') });
  assert.equal(locked.kind === 'refuse' && locked.code, CLOSE_CODES.locked);
  const pw = { ...guest, passwordHash: hashRoomPassword('sesame') };
  for (const given of [null, '', 'Sesame', 'sesame ']) {
    const g = gate({ ...pw, givenPassword: given });
    assert.equal(g.kind === 'refuse' && g.code, CLOSE_CODES.passwordRequired, String(given));
  }
  assert.deepEqual(gate({ ...pw, givenPassword: 'sesame' }), { kind: 'enter' });
});

test('gate: under host protection a guest waits until a host is in, unless refused first', () => {
  assert.deepEqual(gate({ ...guest, hostProtected: true }), { kind: 'wait' });
  assert.deepEqual(gate({ ...guest, hostProtected: true, hasHost: true }), { kind: 'enter' });
  assert.equal(gate({ ...guest, hostProtected: true, locked: true }).kind, 'refuse', 'a locked room refuses rather than queues');
});

test('claim: the same tab takes its id back (replacing an open connection); another tab is refused while connected or reserved', () => {
  assert.deepEqual(claim(undefined, 'a', 0), { kind: 'take' });
  assert.deepEqual(claim({ sessionHash: 'a', connected: true, reservedUntil: 0 }, 'a', 0), { kind: 'replace' });
  assert.deepEqual(claim({ sessionHash: 'a', connected: false, reservedUntil: 100 }, 'a', 50), { kind: 'take' });
  const inUse = claim({ sessionHash: 'a', connected: true, reservedUntil: 0 }, 'b', 0);
  assert.equal(inUse.kind === 'refuse' && inUse.code, CLOSE_CODES.conflict);
  assert.equal(claim({ sessionHash: 'a', connected: false, reservedUntil: 100 }, 'b', 99).kind, 'refuse', 'reserved for its tab during a reload');
  assert.deepEqual(claim({ sessionHash: 'a', connected: false, reservedUntil: 100 }, 'b', 100), { kind: 'take' }, 'free once the reservation ends');
});

test('gate: the lobby holds a guest after every refusal and after waiting for the host; hosts and presenters skip it', () => {
  assert.deepEqual(gate({ ...guest, lobby: true }), { kind: 'lobby' });
  assert.deepEqual(gate({ ...guest, lobby: true, role: 'host' }), { kind: 'enter' }, 'a host (login or valid presenter token) never knocks');
  assert.equal(gate({ ...guest, lobby: true, locked: true }).kind, 'refuse', 'a locked room refuses rather than lets knock');
  assert.equal(gate({ ...guest, lobby: true, bannedForMs: 1000 }).kind, 'refuse', 'a banned address cannot knock');
  const pw = gate({ ...guest, lobby: true, passwordHash: hashRoomPassword('pw'), givenPassword: 'nope' });
  assert.equal(pw.kind === 'refuse' && pw.code, CLOSE_CODES.passwordRequired, 'the password comes before the lobby');
  assert.deepEqual(gate({ ...guest, lobby: true, passwordHash: hashRoomPassword('pw'), givenPassword: 'pw' }), { kind: 'lobby' });
  assert.deepEqual(gate({ ...guest, lobby: true, hostProtected: true }), { kind: 'wait' }, 'no host yet: waits for the host first');
  assert.deepEqual(gate({ ...guest, lobby: true, hostProtected: true, hasHost: true }), { kind: 'lobby' }, 'then knocks');
});

test('lobbyApplies: only while the lobby is on, and not for a tab already let in', () => {
  assert.equal(lobbyApplies({ lobbyOn: false, letIn: false }), false);
  assert.equal(lobbyApplies({ lobbyOn: true, letIn: false }), true);
  assert.equal(lobbyApplies({ lobbyOn: true, letIn: true }), false);
});

test('lobbyPick: one named waiting peer, everyone in knock order, or null for someone not waiting', () => {
  const w = [{ peerId: 'a' }, { peerId: 'b' }];
  assert.deepEqual(lobbyPick(w, { peerId: 'b' }), [{ peerId: 'b' }]);
  assert.deepEqual(lobbyPick(w, { all: true }), w);
  assert.deepEqual(lobbyPick([], { all: true }), []);
  assert.equal(lobbyPick(w, { peerId: 'c' }), null);
});
