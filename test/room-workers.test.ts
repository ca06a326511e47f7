/**
 * One room over two workers: with mediasoup.peersPerRouter 2, four peers make the room spread onto the
 * second worker; producers are piped between the routers and everyone receives everyone (werift peers
 * over real ICE/DTLS/SRTP, payloads checked). Then the second worker is SIGKILLed: its peers rejoin, the
 * first router's peers keep streaming to each other, and after the rejoin everyone receives everyone again.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { startConfd, confctl, cleanup, type RunningDaemon } from './helpers/daemon.ts';
import { joinPeer, receiving, type SfuClient } from './helpers/sfu-client.ts';
import { until } from './helpers/wait.ts';

describe('one room across two workers', { timeout: 120_000 }, () => {
  let d: RunningDaemon;
  const clients: SfuClient[] = [];
  before(async () => {
    d = await startConfd({ config: { mediasoup: { workers: 2, peersPerRouter: 2, portRange: [47000, 47999] } } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await d.stop();
    cleanup(dirname(d.dataDir));
  });

  const room = async () => (await d.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === 'big');
  const everyoneReceivesEveryone = (peers: SfuClient[]) =>
    Promise.all(
      peers.map(async (c) => {
        await receiving(c, 2 * (peers.length - 1));
        const from = new Set([...c.consumers.values()].filter((s) => !s.closed).map((s) => s.peerId));
        assert.deepEqual([...from].sort(), peers.filter((p) => p !== c).map((p) => p.peerId).sort(), `${c.peerId} receives everyone`);
        for (const s of c.consumers.values()) if (!s.closed) assert.deepEqual([...s.tags], [peers.find((p) => p.peerId === s.peerId)!.tagOf(s.kind)]);
      }),
    );

  test('four peers: two routers on two workers, producers piped, everyone receives everyone', async () => {
    for (const id of ['a1', 'a2', 'b1', 'b2']) clients.push(await joinPeer(d.http, { room: 'big', peerId: id, produce: ['audio', 'video'], consume: true }));
    const r = await room();
    assert.equal(r.routers.length, 2);
    assert.notEqual(r.routers[0].workerPid, r.routers[1].workerPid, 'one router per worker');
    assert.deepEqual(r.routers.map((x: any) => x.peers), [2, 2]);
    await everyoneReceivesEveryone(clients);
    const status = JSON.parse((await confctl(['--socket', d.socket, '--json', 'status'])).stdout);
    assert.deepEqual(status.workers.map((w: any) => w.routers), [1, 1]);
    // 4 peers x 6 consumers, split by where the consumers are: each worker carries its own peers' consumers.
    assert.deepEqual(status.workers.map((w: any) => w.consumers), [12, 12]);
    const human = (await confctl(['--socket', d.socket, 'rooms'])).stdout;
    assert.match(human, new RegExp(`^big \\(4 peers, since .*; workers ${r.routers[0].workerPid} \\(2 peers\\), ${r.routers[1].workerPid} \\(2 peers\\)\\)$`, 'm'));
  });

  test('SIGKILL of the second worker: its peers rejoin, the others keep streaming, then everyone receives everyone', async () => {
    const r = await room();
    const victim: number = r.routers[1].workerPid;
    const onVictim = clients.filter((c) => c.peerId.startsWith('b'));
    const survivors = clients.filter((c) => c.peerId.startsWith('a'));
    process.kill(victim, 'SIGKILL');
    for (const c of onVictim) {
      await until(() => c.closeInfo !== null, `${c.peerId} to be told`, 10_000);
      assert.equal(c.closeInfo!.code, 4002);
      assert.equal(c.notifications('disconnected')[0]?.rejoin, true);
    }
    // The first router's peers go on with each other; what came from the dead router is closed.
    for (const c of survivors) {
      await until(() => c.consumersOf('b1').every((s) => s.closed) && c.consumersOf('b2').every((s) => s.closed), `${c.peerId}: consumers of the lost peers closed`);
      assert.equal(c.open, true);
    }
    await Promise.all(survivors.map((c) => receiving(c, 2)));
    // They rejoin (same ids and sessions, as the page does): the room grows onto the replacement worker.
    await until(async () => (await d.admin('GET', '/v1/status')).body.workers.length === 2, 'a replacement worker');
    const back = [];
    for (const old of onVictim) back.push(await joinPeer(d.http, { room: 'big', peerId: old.peerId, session: old.session, produce: ['audio', 'video'], consume: true }));
    clients.push(...back);
    await everyoneReceivesEveryone([...survivors, ...back]);
    const after = await room();
    assert.equal(after.routers.length, 2);
    assert.ok(!after.routers.some((x: any) => x.workerPid === victim));
  });
});
