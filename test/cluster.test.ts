/**
 * Several confd nodes sharing one real redis-server: one set of users, tokens, IPs and sessions, each
 * room on one node (joins through any node are sent there), and every revocation ending what it
 * revoked on whichever node holds it.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectRefused, receiving, type SfuClient } from './helpers/sfu-client.ts';
import { connectVia, ctl, startCluster, type TestCluster } from './helpers/cluster.ts';
import { login } from './helpers/login.ts';
import { USER_MESSAGES } from '../src/protocol/user-messages.ts';
import { sleep, until } from './helpers/wait.ts';
import { join } from 'node:path';
import { cleanup, startConfd, tempDir } from './helpers/daemon.ts';

const PW = 'alice-secret-pw';
const API_KEY = 'k'.repeat(40);

describe('a cluster of three nodes on one Redis', () => {
  let c: TestCluster;
  let A: TestCluster['nodes'][number];
  let B: TestCluster['nodes'][number];
  let C: TestCluster['nodes'][number];
  const open: SfuClient[] = [];
  const keep = (s: SfuClient) => (open.push(s), s);
  /** A node that does not hold the room the client reached at `at`. */
  const otherThan = (at: string) => [A, B, C].find((n) => n.http !== at)!;

  before(async () => {
    c = await startCluster({ nodes: ['node-a', 'node-b', 'node-c'], config: { host: { protected: true }, api: { keySecret: API_KEY } } });
    [A, B, C] = c.nodes as [typeof A, typeof B, typeof C];
    await ctl(A, ['user', 'add', 'alice', '--password-stdin'], PW);
  });
  after(async () => {
    for (const s of open) if (s.open) await s.close();
    await c?.stop();
  });

  test('confctl cluster lists every node, alive, from any node; status says the node is clustered', async () => {
    await until(async () => JSON.parse(await ctl(C, ['--json', 'cluster'])).nodes.filter((n: any) => n.alive).length === 3, 'three live nodes');
    const table = await ctl(B, ['cluster']);
    for (const id of ['node-a', 'node-b', 'node-c']) assert.match(table, new RegExp(`${id}.*alive`));
    assert.match(table, /node-b \*/, 'the node asked is marked');
    const status = await ctl(A, ['status']);
    assert.match(status, /cluster: +node node-a .*3 of 3 nodes alive/);
    const json = JSON.parse(await ctl(A, ['--json', 'status']));
    assert.equal(json.cluster.nodeId, 'node-a');
    assert.equal(json.cluster.redisConnected, true);
  });

  test('a user added on A exists on B and C: a login works on every node', async () => {
    assert.match(await ctl(C, ['user', 'list']), /alice/);
    for (const n of [A, B, C]) assert.ok(await login(n, 'alice', PW));
  });

  test('a host logged in on A and a guest joining through B land in one room with media', async () => {
    const hostToken = await login(A, 'alice', PW);
    const host = await connectVia(A.http, { room: 'r1', peerId: 'host-1', query: { host: hostToken } });
    keep(host.client);
    assert.equal((await host.client.joinWithMedia({ produce: ['audio', 'video'], consume: true }) as any).role, 'host');
    // Through whichever node does not hold r1 (idle nodes tie and the room stays where the join came,
    // but a node's CPU may count at start-up).
    const entry = otherThan(host.at);
    const guest = await connectVia(entry.http, { room: 'r1', peerId: 'guest-1' });
    keep(guest.client);
    assert.equal(guest.at, host.at, 'the join was sent to the node holding r1');
    assert.equal(guest.hops, 1);
    assert.equal((await guest.client.joinWithMedia({ produce: ['audio', 'video'], consume: true }) as any).role, 'guest');
    await receiving(guest.client, 2);
    await receiving(host.client, 2);
    const rooms = JSON.parse(await ctl(C, ['--json', 'rooms'])).rooms;
    const r1 = rooms.find((r: any) => r.name === 'r1');
    assert.equal(r1?.node, ['node-a', 'node-b', 'node-c'][[A, B, C].findIndex((n) => n.http === host.at)], 'confctl rooms shows r1 on its node');
    assert.deepEqual(r1.peers.map((p: any) => p.id).sort(), ['guest-1', 'host-1']);
  });

  test('ip revoke on one node ends host rights on the node holding the room (how fast: bench cluster)', async () => {
    const hostToken = await login(A, 'alice', PW);
    const { client: host, at } = await connectVia(A.http, { room: 'r2', peerId: 'host-2', query: { host: hostToken } });
    keep(host);
    assert.equal((await host.joinWithMedia({}) as any).role, 'host');
    await ctl(otherThan(at), ['ip', 'revoke', '127.0.0.1']);
    const role = await host.waitForNotification('role');
    assert.equal(role.role, 'guest');
    // And the session is gone everywhere: joining again with it through any node gives a guest, who
    // waits for a host (the room has none now).
    for (const n of [A, B, C]) {
      const again = await connectVia(n.http, { room: 'r2', peerId: `host-2-${n.http.slice(-5)}`, query: { host: hostToken } });
      keep(again.client);
      // ...and is told its login no longer counts (the page offers to log in again).
      assert.deepEqual(await again.client.hello, { role: 'guest', waiting: true, loginNotValid: USER_MESSAGES.hostLoginNotValid });
      await again.client.close();
    }
  });

  test('a token revoked on one node is refused on the others, and the connection it let in elsewhere ends', async () => {
    const issued = JSON.parse(await ctl(A, ['--json', 'token', 'issue', '--room', 'r3', '--presenter']));
    const { client: first, at } = await connectVia(B.http, { room: 'r3', peerId: 'tok-1', token: issued.token });
    keep(first);
    assert.equal((await first.joinWithMedia({}) as any).role, 'host');
    const revoker = at === A.http ? B : A;
    await ctl(revoker, ['token', 'revoke', issued.id]);
    assert.equal((await first.closed).code, 4401, 'the connection it let in on another node is closed');
    // Straight to the node holding r3 (the others would send the join there first).
    const holder = [A, B, C].find((n) => n.http === at)!;
    const direct = await connectRefused(holder.http, { room: 'r3', peerId: 'tok-direct', token: issued.token });
    assert.equal(direct.code, 4401);
    // And through a node that does not hold r3: sent to the one that does, which refuses it.
    const via = await connectVia(otherThan(at).http, { room: 'r3', peerId: 'tok-other', token: issued.token });
    assert.equal(via.at, at);
    assert.equal((await via.client.closed).code, 4401);
  });

  test('a revocation is not lost with a publication: with every node\'s subscription cut just before, it still ends the connection', async () => {
    const issued = JSON.parse(await ctl(A, ['--json', 'token', 'issue', '--room', 'r8', '--presenter']));
    const { client, at } = await connectVia(B.http, { room: 'r8', peerId: 'p8', token: issued.token });
    keep(client);
    await client.joinWithMedia({});
    // Redis drops every subscriber connection (the nodes reconnect them on their own); the revoke is
    // published meanwhile or just after, and each node's copy of the state catches up in any case.
    await c.redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await ctl(otherThan(at), ['token', 'revoke', issued.id]);
    assert.equal((await client.closed).code, 4401);
  });

  test('user remove and kick on a node that does not hold the room end the host rights and the peer there (a room name with a dot)', async () => {
    await ctl(C, ['user', 'add', 'bob', '--password-stdin'], 'bob-secret-pw-1');
    const hostToken = await login(B, 'bob', 'bob-secret-pw-1');
    const { client: host, at } = await connectVia(A.http, { room: 'team.r4', peerId: 'bob-1', query: { host: hostToken } });
    keep(host);
    assert.equal((await host.joinWithMedia({}) as any).role, 'host');
    const joined = await connectVia(C.http, { room: 'team.r4', peerId: 'kickme' });
    const guest = keep(joined.client);
    assert.equal(joined.at, at);
    await guest.joinWithMedia({});
    const admin = otherThan(at);
    await ctl(admin, ['user', 'remove', 'bob']);
    assert.equal((await host.waitForNotification('role')).role, 'guest');
    await ctl(admin, ['kick', '--room', 'team.r4', '--peer', 'kickme']);
    const info = await guest.closed;
    assert.equal(info.code, 4000);
    // A room nobody holds: the kick says so, from any node.
    const r = await B.admin('POST', '/v1/rooms/nowhere/kick', { peer: 'x' });
    assert.equal(r.status, 404);
  });

  test('the HTTP API and confctl end, on a node that does not hold the room: meetings listed from every node, the meeting ended where it is', async () => {
    const issued = JSON.parse(await ctl(B, ['--json', 'token', 'issue', '--room', 'r5', '--presenter']));
    const { client: host, at } = await connectVia(C.http, { room: 'r5', peerId: 'h5', token: issued.token });
    keep(host);
    await host.joinWithMedia({});
    const other = otherThan(at);
    const holder = [A, B, C].find((n) => n.http === at)!;
    const holderId = JSON.parse(await ctl(holder, ['--json', 'status'])).cluster.nodeId;
    const api = (n: typeof A, method: string, path: string) => fetch(`${n.http}/api/v1/${path}`, { method, headers: { authorization: API_KEY } });
    const meetings = (await (await api(other, 'GET', 'meetings')).json()) as any;
    assert.deepEqual(meetings.meetings.find((m: any) => m.room === 'r5'), { room: 'r5', createdAt: meetings.meetings.find((m: any) => m.room === 'r5').createdAt, peers: 1, node: holderId });
    const ended = await api(other, 'DELETE', 'meeting/r5');
    assert.equal(ended.status, 200);
    assert.deepEqual(await ended.json(), { room: 'r5', ended: true, peers: 1 });
    assert.equal((await host.closed).code, 4003);
    assert.equal((await api(other, 'DELETE', 'meeting/r5')).status, 404, 'nobody is in it now');
    // confctl end, the same way.
    const again = await connectVia(A.http, { room: 'r6', peerId: 'g6', token: JSON.parse(await ctl(A, ['--json', 'token', 'issue', '--room', 'r6', '--presenter'])).token });
    keep(again.client);
    await again.client.joinWithMedia({});
    assert.match(await ctl(otherThan(again.at), ['end', '--room', 'r6']), /ended r6: 1 peer disconnected/);
    assert.equal((await again.client.closed).code, 4003);
    // Both audited alike, whichever node was asked and whichever ended it.
    const audit = await ctl(A, ['audit']);
    for (const room of ['r5', 'r6']) assert.match(audit, new RegExp(`room\\.end\\s+admin\\s+room=${room} peers=1`));
  });

  test('record start, list and stop from nodes that do not hold the room: the room\'s node records it to its own disk', async () => {
    const issued = JSON.parse(await ctl(A, ['--json', 'token', 'issue', '--room', 'r7', '--presenter']));
    const { client: p, at } = await connectVia(B.http, { room: 'r7', peerId: 'rec-7', token: issued.token });
    keep(p);
    await p.joinWithMedia({ produce: ['audio'] });
    const holder = [A, B, C].find((n) => n.http === at)!;
    const holderId = JSON.parse(await ctl(holder, ['--json', 'status'])).cluster.nodeId;
    const [x, y] = [A, B, C].filter((n) => n !== holder) as [typeof A, typeof A];
    const started = JSON.parse(await ctl(x, ['--json', 'record', 'start', '--room', 'r7']));
    assert.equal(started.room, 'r7');
    assert.deepEqual(started.files.map((f: any) => f.peerId), ['rec-7']);
    assert.ok(started.files[0].file.startsWith(holder.dataDir), `written on the holder's disk: ${started.files[0].file}`);
    const listed = JSON.parse(await ctl(y, ['--json', 'record', 'list']));
    assert.deepEqual(listed.active.map((r: any) => [r.room, r.node]), [['r7', holderId]]);
    assert.match(await ctl(y, ['record', 'list']), new RegExp(`recording now: ${holderId}:r7 `));
    await sleep(1000);
    const stopped = JSON.parse(await ctl(y, ['--json', 'record', 'stop', '--room', 'r7']));
    assert.equal(stopped.files.length, 1);
    const after = JSON.parse(await ctl(x, ['--json', 'record', 'list']));
    assert.deepEqual(after.active, []);
    assert.deepEqual(after.recordings.map((r: any) => [r.room, r.node, r.active]), [['r7', holderId, false]]);
  });

  test('a second live node with the same id, or with another jwt.secret, refuses to start and says why', async () => {
    const dir = tempDir('confd-node-');
    try {
      const start = (cluster: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
        startConfd({ dataDir: join(dir, `data-${Math.random().toString(36).slice(2)}`), config: { mediasoup: { workers: 1 }, cluster: { redis: c.redis.url, ...cluster }, ...extra } }).then(
          async (d) => {
            await d.stop();
            return null;
          },
          (e: any) => `${e.stdout}${e.stderr}`,
        );
      assert.match((await start({ nodeId: 'node-b' })) ?? 'it started', /another node with the id "node-b" is alive .*give each node its own cluster\.nodeId/);
      assert.match((await start({ nodeId: 'node-x' }, { jwt: { secret: 'x'.repeat(40), expiresIn: '1h', maxTtl: '7d' } })) ?? 'it started', /jwt\.secret differs from the one the other nodes of this cluster use/);
      // And the table still has exactly the three real nodes, alive.
      const nodes = JSON.parse(await ctl(A, ['--json', 'cluster'])).nodes;
      assert.deepEqual(nodes.filter((n: any) => n.alive).map((n: any) => n.id), ['node-a', 'node-b', 'node-c']);
    } finally {
      cleanup(dir);
    }
  });
});
