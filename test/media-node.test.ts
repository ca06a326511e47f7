/**
 * Real media through a real daemon: Node peers (msc-node on werift) publish Opus + VP8-shaped RTP over
 * ICE/DTLS/SRTP on 127.0.0.1, another peer consumes; payloads are checked byte for byte after SRTP.
 * Then the admin view of the call (confctl rooms, GET /v1/rooms), kicking a peer, the room closing with
 * its last peer, and join tokens with host.user_auth.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connectRefused, joinPeer, type SfuClient, type Kind } from './helpers/sfu-client.ts';
import { until } from './helpers/wait.ts';

const MEDIA = { workers: 2, portRange: [41000, 41999] };

/** Asserts that `consumer` receives, intact, the streams each publisher sends, and nothing else. */
async function assertReceives(consumer: SfuClient, publishers: SfuClient[], minPackets: Record<Kind, number> = { audio: 25, video: 15 }): Promise<void> {
  const expected = publishers.length * 2;
  await until(
    () => consumer.consumers.size === expected && [...consumer.consumers.values()].every((c) => c.unique.size >= minPackets[c.kind]),
    `${expected} consumers with packets; have ${JSON.stringify([...consumer.consumers.values()].map((c) => [c.peerId, c.kind, c.packets]))}`,
  );
  for (const pub of publishers) {
    for (const kind of ['audio', 'video'] as const) {
      const producerId = pub.producerIds.get(kind)!;
      const c = [...consumer.consumers.values()].find((s) => s.producerId === producerId);
      assert.ok(c, `${consumer.peerId} has a consumer for ${pub.peerId}'s ${kind}`);
      assert.equal(c.peerId, pub.peerId);
      assert.equal(c.kind, kind);
      assert.equal(c.corrupt, 0, `${pub.peerId} ${kind}: ${c.corrupt} corrupt payloads (${c.firstCorrupt})`);
      assert.deepEqual([...c.tags], [pub.tagOf(kind)], `${pub.peerId} ${kind}: payloads come from that peer's ${kind} track only`);
      assert.ok(c.bytes > 0);
    }
  }
}

describe('media between Node peers', { timeout: 240_000 }, () => {
  let d: RunningDaemon;
  const clients: SfuClient[] = [];

  before(async () => {
    d = await startConfd({ config: { mediasoup: MEDIA } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  test('two publishers, one consumer: 4 streams arrive intact; rooms, kick, room closes with its last peer', async () => {
    const alice = await joinPeer(d.http, { room: 'media1', peerId: 'alice', name: 'Alice', produce: ['audio', 'video'] });
    clients.push(alice);
    const bob = await joinPeer(d.http, { room: 'media1', peerId: 'bob', name: 'Bob', produce: ['audio', 'video'] });
    clients.push(bob);
    const carol = await joinPeer(d.http, { room: 'media1', peerId: 'carol', name: 'Carol', consume: true });
    clients.push(carol);

    await assertReceives(carol, [alice, bob]);
    // Loopback loses nothing to speak of: most of what was sent since the consumers started arrived.
    for (const c of carol.consumers.values()) assert.ok(c.unique.size >= c.packets * 0.9, 'few duplicates');

    // The admin view: one room, three peers, producer/consumer counts.
    const rooms = await d.admin('GET', '/v1/rooms');
    assert.equal(rooms.status, 200);
    assert.equal(rooms.body.rooms.length, 1);
    const room = rooms.body.rooms[0];
    assert.equal(room.name, 'media1');
    const byId = Object.fromEntries(room.peers.map((p: any) => [p.id, p]));
    assert.deepEqual(Object.keys(byId).sort(), ['alice', 'bob', 'carol']);
    assert.deepEqual([byId.alice.producers, byId.bob.producers, byId.carol.producers], [2, 2, 0]);
    assert.equal(byId.carol.consumers, 4);
    assert.equal(byId.alice.name, 'Alice');
    const status = await d.admin('GET', '/v1/status');
    assert.ok(status.body.workers.some((w: any) => w.pid === room.workerPid), 'the room runs on a listed worker');
    assert.equal(status.body.rooms, 1);
    assert.equal(status.body.peers, 3);

    const human = await confctl(['--socket', d.socket, 'rooms']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^media1 \(3 peers, since /m);
    assert.match(human.stdout, /^ {2}alice {2}Alice {2}producers=2 consumers=0$/m);
    assert.match(human.stdout, /^ {2}bob {2}Bob {2}producers=2 consumers=0$/m);
    assert.match(human.stdout, /^ {2}carol {2}Carol {2}producers=0 consumers=4$/m);
    const json = await confctl(['--socket', d.socket, '--json', 'rooms']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).rooms.map((r: any) => [r.name, r.peers.length]), [['media1', 3]]);

    // Kick bob: he is told why and closed; the others see him leave; carol's consumers of his streams close.
    const aliceSeen = alice.messages.length;
    const carolSeen = carol.messages.length;
    const kick = await confctl(['--socket', d.socket, 'kick', '--room', 'media1', '--peer', 'bob']);
    assert.equal(kick.code, 0, kick.stderr);
    assert.match(kick.stdout, /kicked bob from media1/);
    const bobClosed = await bob.closed;
    assert.equal(bobClosed.code, 4000);
    const bye = bob.notifications('disconnected');
    assert.equal(bye.length, 1);
    assert.equal(bye[0].reason, 'kicked');
    assert.equal(bye[0].rejoin, false);
    assert.equal(typeof bye[0].message, 'string');
    assert.deepEqual(await alice.waitForNotification('peerClosed', (x) => x.peerId === 'bob', 5000, aliceSeen), { peerId: 'bob' });
    assert.deepEqual(await carol.waitForNotification('peerClosed', (x) => x.peerId === 'bob', 5000, carolSeen), { peerId: 'bob' });
    await until(() => carol.consumersOf('bob').every((c) => c.closed), "carol's consumers of bob closed", 5000);
    assert.equal(alice.notifications('disconnected').length + carol.notifications('disconnected').length, 0);

    // Kicking again (or someone absent) is refused with exit 1.
    const again = await confctl(['--socket', d.socket, 'kick', '--room', 'media1', '--peer', 'bob']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no peer "bob" in room "media1"/);

    // Alice's streams keep flowing to carol.
    const before = carol.consumersOf('alice').map((c) => c.unique.size);
    await until(() => carol.consumersOf('alice').every((c, i) => c.unique.size >= before[i]! + 10), 'media after the kick');
    const r2 = (await d.admin('GET', '/v1/rooms')).body.rooms;
    assert.deepEqual(r2[0].peers.map((p: any) => [p.id, p.consumers]).sort(), [['alice', 0], ['carol', 2]]);

    // The room closes with its last peer.
    await alice.close();
    assert.equal(carol.open, true);
    await carol.waitForNotification('peerClosed', (x) => x.peerId === 'alice', 5000);
    await carol.close();
    await until(async () => (await d.admin('GET', '/v1/rooms')).body.rooms.length === 0, 'the room to close', 5000);
    const empty = await confctl(['--socket', d.socket, 'rooms']);
    assert.equal(empty.stdout.trim(), 'no rooms');
    const st = (await d.admin('GET', '/v1/status')).body;
    assert.equal(st.rooms, 0);
    assert.equal(st.peers, 0);
    assert.ok(st.workers.every((w: any) => w.rooms === 0), 'no worker holds a room');
    assert.ok(d.logs.some((l) => l.msg === 'room closed' && l.room === 'media1'));
  });

  test('a consumer that joins after the publishers, and a publisher that joins after the consumer', async () => {
    const carol = await joinPeer(d.http, { room: 'media2', peerId: 'carol', consume: true });
    clients.push(carol);
    const alice = await joinPeer(d.http, { room: 'media2', peerId: 'alice', produce: ['audio', 'video'], consume: true });
    clients.push(alice);
    const dave = await joinPeer(d.http, { room: 'media2', peerId: 'dave', consume: true });
    clients.push(dave);
    await Promise.all([assertReceives(carol, [alice]), assertReceives(dave, [alice])]);
    // Alice consumes nothing: nobody else publishes.
    assert.equal(alice.consumers.size, 0);
    await Promise.all([alice.close(), carol.close(), dave.close()]);
  });

  test('a new room goes to the worker with the fewest peers, not merely the fewest rooms', async () => {
    await until(async () => (await d.admin('GET', '/v1/rooms')).body.rooms.length === 0, 'earlier rooms to close');
    const join = async (room: string, peerId: string) => {
      const c = await joinPeer(d.http, { room, peerId });
      clients.push(c);
      return c;
    };
    const workerOf = async (room: string): Promise<number> => (await d.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === room).workerPid;
    // One room of three on one worker, one room of one on the other: a tie on rooms, not on peers.
    for (const p of ['a', 'b', 'c']) await join('place-big', p);
    await join('place-small', 'd');
    const big = await workerOf('place-big');
    const small = await workerOf('place-small');
    assert.notEqual(big, small, 'the second room went to the idle worker');
    await join('place-next', 'e');
    assert.equal(await workerOf('place-next'), small, 'the third room went to the worker with one peer, not the one with three');
    await Promise.all(clients.splice(-5).map((c) => c.close()));
    // The counts come down with the peers: with everyone gone, the next room lands on the first worker again.
    await until(async () => (await d.admin('GET', '/v1/rooms')).body.rooms.length === 0, 'the rooms to close');
    const again = await join('place-again', 'f');
    const status = (await d.admin('GET', '/v1/status')).body;
    assert.equal(await workerOf('place-again'), status.workers[0].pid);
    await again.close();
  });
});

describe('join tokens with host.user_auth', { timeout: 60_000 }, () => {
  let d: RunningDaemon;
  const clients: SfuClient[] = [];

  before(async () => {
    d = await startConfd({ config: { host: { user_auth: true }, mediasoup: MEDIA } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  test('a peer with a token for the room joins and exchanges media; without one it is refused with 4401', async () => {
    const issued = await d.admin('POST', '/v1/tokens', { room: 'secure' });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const token: string = issued.body.token;
    const other = (await d.admin('POST', '/v1/tokens', { room: 'elsewhere' })).body.token as string;

    const alice = await joinPeer(d.http, { room: 'secure', peerId: 'alice', token, produce: ['audio', 'video'] });
    clients.push(alice);
    const bob = await joinPeer(d.http, { room: 'secure', peerId: 'bob', token, consume: true });
    clients.push(bob);
    await assertReceives(bob, [alice]);

    for (const [what, tok] of [
      ['no token', undefined],
      ['a token for another room', other],
      ['a garbage token', 'not.a.jwt'],
      ['a tampered token', `${token.slice(0, -4)}AAAA`],
    ] as const) {
      const r = await connectRefused(d.http, { room: 'secure', peerId: 'mallory', token: tok });
      assert.equal(r.code, 4401, `${what}: close code`);
      assert.ok(r.reason.length > 0, `${what}: close reason`);
      const err = r.messages.find((m) => m.notification && m.method === 'error');
      assert.ok(err && typeof err.data.reason === 'string' && err.data.reason.length > 0, `${what}: error notification`);
    }
    const noToken = await connectRefused(d.http, { room: 'secure', peerId: 'mallory' });
    assert.match(noToken.reason, /token/);

    // The refused attempts changed nothing in the room.
    const rooms = (await d.admin('GET', '/v1/rooms')).body.rooms;
    assert.deepEqual(rooms.map((r: any) => [r.name, r.peers.map((p: any) => p.id).sort()]), [['secure', ['alice', 'bob']]]);
    assert.equal(bob.open, true);
    assert.equal(bob.notifications('newPeer').length, 0);

    // A revoked token stops working at once.
    const rev = await d.admin('DELETE', `/v1/tokens/${issued.body.id}`);
    assert.equal(rev.status, 200);
    const revoked = await connectRefused(d.http, { room: 'secure', peerId: 'carol', token });
    assert.equal(revoked.code, 4401);
    await Promise.all([alice.close(), bob.close()]);
  });
});
