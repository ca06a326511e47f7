/** The registry over a real worker: ending a meeting closes that room, and the next comer opens a new one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startRooms } from './registry.ts';
import type { Entrant } from './peer.ts';

const log = pino({ level: 'silent' });

function host(peerId: string): Entrant {
  return {
    peerId,
    displayName: peerId,
    ipKey: '198.51.100.1',
    sessionHash: `s-${peerId}`,
    admission: { role: 'host', hostKey: 'k', credential: null, closeOnRevoke: false, hasHostRights: () => true, stillValid: () => true },
    roomPassword: null,
    channel: { notify: () => {}, request: async () => ({}), close: () => {}, refuse: () => {} },
    quota: { take: () => null, release: () => {} },
  };
}

test('end: the room is closed and forgotten; nothing to end is null; the name opens afresh', async () => {
  const rooms = await startRooms({
    workers: 1,
    media: { ip: '127.0.0.1', announcedAddress: null, port: null, portRange: [62400, 62449] },
    settings: { hostProtected: false, lobby: false, maxPeers: 10, dynacast: true, peersPerRouter: 20, reserveIdMs: 10_000, iceServers: () => [] },
    log,
  });
  try {
    assert.equal(rooms.end('nobody-here'), null);
    const first = rooms.room('standup');
    assert.equal((await first.admit(host('a'))).kind, 'entered');
    assert.equal((await first.admit(host('b'))).kind, 'entered');
    assert.deepEqual(rooms.end('standup'), { peers: 2 });
    assert.equal(first.closed, true);
    assert.equal(rooms.existing('standup'), undefined);
    assert.deepEqual(rooms.rooms(), []);
    assert.equal(rooms.end('standup'), null, 'ending twice finds nothing to end');
    const next = rooms.room('standup');
    assert.notEqual(next, first);
    assert.equal((await next.admit(host('a'))).kind, 'entered', 'the same peer id is free in the new room');
  } finally {
    rooms.close();
  }
});
