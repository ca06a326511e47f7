/**
 * A mediasoup worker killed mid-call (SIGKILL): the daemon survives, the peers of that worker's rooms
 * are told to rejoin, a replacement worker starts, and a call works again. Rooms on the other worker
 * are not touched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { joinPeer, receiving, type SfuClient } from './helpers/sfu-client.ts';
import { pidAlive, until } from './helpers/wait.ts';

describe('mediasoup worker crash', { timeout: 90_000 }, () => {
  let d: RunningDaemon;
  const clients: SfuClient[] = [];

  before(async () => {
    d = await startConfd({ config: { mediasoup: { workers: 2, portRange: [42000, 42999] } } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  test('SIGKILL of the worker carrying a room mid-call: peers rejoin on a replacement worker', async () => {
    const status0 = (await d.admin('GET', '/v1/status')).body;
    const pids0: number[] = status0.workers.map((w: any) => w.pid);
    assert.equal(pids0.length, 2);

    // Two calls, placed on the two workers (least loaded first).
    const alice = await joinPeer(d.http, { room: 'doomed', peerId: 'alice', produce: ['audio', 'video'], consume: true });
    const bob = await joinPeer(d.http, { room: 'doomed', peerId: 'bob', produce: ['audio', 'video'], consume: true });
    const dave = await joinPeer(d.http, { room: 'calm', peerId: 'dave', produce: ['audio', 'video'] });
    const erin = await joinPeer(d.http, { room: 'calm', peerId: 'erin', consume: true });
    clients.push(alice, bob, dave, erin);
    await Promise.all([receiving(alice, 2), receiving(bob, 2), receiving(erin, 2)]);

    const rooms = Object.fromEntries((await d.admin('GET', '/v1/rooms')).body.rooms.map((r: any) => [r.name, r]));
    const victim: number = rooms.doomed.workerPid;
    const survivor: number = rooms.calm.workerPid;
    assert.ok(pids0.includes(victim) && pids0.includes(survivor));
    assert.notEqual(victim, survivor, 'the two rooms are on different workers');

    process.kill(victim, 'SIGKILL');

    // Both peers of the dead worker's room are told to rejoin, then closed with 4002.
    for (const c of [alice, bob]) {
      await until(() => c.closeInfo !== null, `${c.peerId} to be disconnected`, 10_000);
      const info = c.closeInfo!;
      assert.equal(info.code, 4002, `${c.peerId} close code`);
      const bye = c.notifications('disconnected');
      assert.equal(bye.length, 1, `${c.peerId} got one disconnected notification`);
      assert.equal(bye[0].reason, 'worker_died');
      assert.equal(bye[0].rejoin, true);
    }

    // The daemon lives on, with the same pid, and replaces the worker.
    assert.equal(d.proc.exitCode, null);
    assert.equal(d.proc.signalCode, null);
    const health = await fetch(`${d.http}/healthz`);
    assert.equal(health.status, 200);
    let workers: any[] = [];
    await until(async () => {
      const st = (await d.admin('GET', '/v1/status')).body;
      assert.equal(st.pid, d.proc.pid);
      workers = st.workers;
      return workers.length === 2 && !workers.some((w) => w.pid === victim);
    }, 'a replacement worker');
    const pids1 = workers.map((w) => w.pid);
    assert.ok(pids1.includes(survivor), 'the other worker was not replaced');
    const replacement = pids1.find((p) => p !== survivor)!;
    assert.ok(!pids0.includes(replacement), 'the replacement has a new pid');
    assert.ok(pidAlive(replacement));
    assert.equal(pidAlive(victim), false);
    assert.ok(d.logs.some((l) => l.msg === 'mediasoup worker died; replacing it' && l.pid === victim));

    // The dead room is gone; the other room was not disturbed and still carries media.
    const roomsAfter = (await d.admin('GET', '/v1/rooms')).body.rooms;
    assert.deepEqual(roomsAfter.map((r: any) => r.name), ['calm']);
    assert.equal(dave.open && erin.open, true);
    assert.equal(dave.notifications('disconnected').length + erin.notifications('disconnected').length, 0);
    await receiving(erin, 2);

    // The peers rejoin (same peer ids and sessions, as a page would) and media flows again.
    const alice2 = await joinPeer(d.http, { room: 'doomed', peerId: 'alice', session: alice.session, produce: ['audio', 'video'], consume: true });
    clients.push(alice2);
    const bob2 = await joinPeer(d.http, { room: 'doomed', peerId: 'bob', session: bob.session, produce: ['audio', 'video'], consume: true });
    clients.push(bob2);
    await Promise.all([receiving(alice2, 2), receiving(bob2, 2)]);
    for (const [rx, tx] of [[alice2, bob2], [bob2, alice2]] as const) {
      for (const s of rx.consumers.values()) assert.deepEqual([...s.tags], [tx.tagOf(s.kind)]);
    }
    const reborn = (await d.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === 'doomed');
    assert.ok(pids1.includes(reborn.workerPid), 'the room runs on a live worker');
    assert.equal(reborn.peers.length, 2);
    const final = (await d.admin('GET', '/v1/status')).body;
    assert.deepEqual(final.workers.map((w: any) => w.pid).sort(), [...pids1].sort());
    assert.equal(final.workers.reduce((n: number, w: any) => n + w.rooms, 0), 2, 'worker room counts add up');

    await Promise.all(clients.map((c) => c.close()));
    await until(async () => (await d.admin('GET', '/v1/rooms')).body.rooms.length === 0, 'rooms to close', 5000);
  });
});
