/**
 * A cluster whose Redis holds data no node wrote (a hand edit, another program, someone with access
 * to Redis): entries are written straight into Redis under the keys the nodes use. A node skips what
 * it cannot use, says so once, and goes on: joins, logins and admin writes keep working on every node.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectVia, ctl, startCluster, type TestCluster } from './helpers/cluster.ts';
import { login, tryLogin } from './helpers/login.ts';
import { sleep, until, waitFor } from './helpers/wait.ts';
import { HEARTBEAT_MS, NODES_KEY } from '../src/cluster/nodes.ts';
import { roomKey } from '../src/cluster/placement.ts';
import { nodeChannel } from '../src/cluster/bus.ts';
import { CHANGED_CHANNEL, KEY } from '../src/store/redis-backend.ts';
import { BAD_DATA_MESSAGE } from '../src/redis/bad-data.ts';

const PW = 'alice-secret-pw';

/** Appends a change-log entry as a commit would (version bumped, published), with `d` as its delta. */
const APPEND_ENTRY = `
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], v .. '-1', 'd', ARGV[1])
redis.call('PUBLISH', ARGV[2], v)
return v
`;
/** Writes a change-log entry for the next version without bumping the version (as if ahead of it). */
const ENTRY_AHEAD = `
local v = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
redis.call('XADD', KEYS[2], v .. '-1', 'd', ARGV[1])
return v
`;

describe('a cluster whose Redis holds data no node wrote', () => {
  let c: TestCluster;
  let A: TestCluster['nodes'][number];
  let B: TestCluster['nodes'][number];
  let rooms = 0;
  /** A room nobody used yet. */
  const freshRoom = () => `fresh-${++rooms}`;
  /** How many times a node logged bad data under `key`. */
  const reported = (n: typeof A, key: string) => n.logs.filter((l) => l.msg === BAD_DATA_MESSAGE && l.key === key).length;

  /** A host joins a new room through `n`: the join is placed (maybe elsewhere) and admitted. */
  async function joinNewRoom(n: typeof A, token: string): Promise<string> {
    const room = freshRoom();
    const { client, at } = await connectVia(n.http, { room, peerId: `p-${room}`, query: { host: token } });
    try {
      assert.equal(((await client.joinWithMedia({})) as any).role, 'host', `join ${room} through ${n.http}`);
    } finally {
      await client.close();
    }
    assert.ok([A.http, B.http].includes(at), `${room} was placed on a real node, not at ${at}`);
    return at;
  }

  /**
   * Resolves once both nodes have read the node table since now: a node reads it after each of its
   * heartbeats, and starts the next heartbeat only after that read, so two new heartbeats each will do.
   */
  async function tableReadByAll(): Promise<void> {
    const t0 = Date.now();
    for (const id of ['node-a', 'node-b']) {
      const beatAt = async () => Date.parse(JSON.parse(await c.redis.cli('HGET', NODES_KEY, id)).heartbeatAt);
      const first = await waitFor(`a heartbeat of ${id}`, beatAt, (t) => t > t0);
      await waitFor(`the next heartbeat of ${id}`, beatAt, (t) => t > first);
    }
  }

  before(async () => {
    c = await startCluster({ nodes: ['node-a', 'node-b'], config: { host: { protected: true } } });
    [A, B] = c.nodes as [typeof A, typeof B];
    await ctl(A, ['user', 'add', 'alice', '--password-stdin'], PW);
  });
  after(async () => {
    await c?.stop();
  });

  test('a heartbeat without roomNames: new rooms are still placed and joined through every node; the entry is skipped and logged once', async () => {
    const ghost = { id: 'ghost', url: 'http://127.0.0.1:9', load: { peers: 0, rooms: 0, cpu: 0 }, hosts: [], startedAt: new Date().toISOString(), heartbeatAt: new Date(Date.now() + 60_000).toISOString(), version: '0' };
    await c.redis.cli('HSET', NODES_KEY, 'ghost', JSON.stringify(ghost));
    try {
      await tableReadByAll();
      const token = await login(A, 'alice', PW);
      for (const n of [A, B, A, B]) await joinNewRoom(n, token);
      assert.ok(!JSON.parse(await ctl(A, ['--json', 'cluster'])).nodes.some((n: any) => n.id === 'ghost'), 'confctl cluster does not list it');
      // Read again on every heartbeat, but said once.
      for (const n of [A, B]) await until(() => reported(n, `${NODES_KEY} ghost`) > 0, `${n.http} reports the entry`);
      await sleep(3 * HEARTBEAT_MS);
      for (const n of [A, B]) assert.equal(reported(n, `${NODES_KEY} ghost`), 1, `${n.http} logged the bad heartbeat once`);
    } finally {
      await c.redis.cli('HDEL', NODES_KEY, 'ghost');
    }
  });

  test('a heartbeat from the far future of a node that then stops: it counts as dead after the usual timeout, and its room is placed again', async () => {
    const room = freshRoom();
    // Loaded, so that no new room goes there while it still counts as alive.
    const phantom = { id: 'phantom', url: 'http://127.0.0.1:9', load: { peers: 1000, rooms: 1, cpu: 0 }, roomNames: [room], hosts: [], startedAt: new Date().toISOString(), heartbeatAt: '2099-01-01T00:00:00.000Z', version: '0' };
    await c.redis.cli('HSET', NODES_KEY, 'phantom', JSON.stringify(phantom));
    await c.redis.cli('SET', roomKey(room), 'phantom');
    try {
      const seen = await waitFor('A lists the phantom node', async () => JSON.parse(await ctl(A, ['--json', 'cluster'])).nodes.find((n: any) => n.id === 'phantom'), (n) => n !== undefined);
      assert.ok(Date.parse(seen.heartbeatAt) <= Date.now(), `a heartbeat from the future counts as no later than now (shown: ${seen.heartbeatAt})`);
      for (const n of [A, B]) {
        await waitFor(`${n.http} sees the phantom dead`, async () => JSON.parse(await ctl(n, ['--json', 'cluster'])).nodes.find((x: any) => x.id === 'phantom')?.alive, (alive) => alive === false);
      }
      const token = await login(B, 'alice', PW);
      const { client, at } = await connectVia(B.http, { room, peerId: 'after-phantom', query: { host: token } });
      assert.ok([A.http, B.http].includes(at), `its room was placed on a live node, not at ${at}`);
      assert.equal(((await client.joinWithMedia({})) as any).role, 'host');
      await client.close();
    } finally {
      await c.redis.cli('HDEL', NODES_KEY, 'phantom');
    }
  });

  test('a room lease that is no lease (a key of another type): the room is placed over it, and its node renews its lease over another', async () => {
    const room = freshRoom();
    await c.redis.cli('HSET', roomKey(room), 'not', 'a lease');
    const token = await login(A, 'alice', PW);
    const { client, at } = await connectVia(A.http, { room, peerId: `p-${room}`, query: { host: token } });
    try {
      assert.equal(((await client.joinWithMedia({})) as any).role, 'host');
      const holderId = at === A.http ? 'node-a' : 'node-b';
      await c.redis.cli('DEL', roomKey(room));
      await c.redis.cli('HSET', roomKey(room), 'not', 'a lease');
      await until(async () => (await c.redis.cli('TYPE', roomKey(room))) === 'string' && (await c.redis.cli('GET', roomKey(room))) === holderId, 'the holder renews its lease over it');
    } finally {
      await client.close();
    }
  });

  test('a malformed change-log entry: logins, joins and admin writes go on on every node, and a later change still reaches every node', async () => {
    const attacks: [string, string, string][] = [
      ['not JSON', APPEND_ENTRY, '{oops'],
      ['JSON of another shape', APPEND_ENTRY, JSON.stringify({ users: { set: [['mallory', { name: 7 }]], del: [] } })],
      ['a user stored under another name', APPEND_ENTRY, JSON.stringify({ users: { set: [['bob', { name: 'mallory', hash: 'x', createdAt: 'x', updatedAt: 'x' }]], del: [] }, ips: { set: [], del: [] }, tokens: { set: [], del: [] }, sessions: { set: [], del: [] }, audit: [], auditNoise: [] })],
      ['an entry ahead of the version', ENTRY_AHEAD, '{"ahead":true}'],
    ];
    let i = 0;
    for (const [what, script, d] of attacks) {
      i++;
      await c.redis.cli('EVAL', script, '2', KEY.version, KEY.log, d, CHANGED_CHANNEL);
      for (const n of [A, B]) {
        const r = await tryLogin(n, 'alice', PW);
        assert.equal(r.status, 200, `${what}: login on ${n.http}: ${JSON.stringify(r.body)}`);
        await joinNewRoom(n, r.body.token);
        await ctl(n, ['user', 'add', `user-${i}-${n === A ? 'a' : 'b'}`, '--password-stdin'], PW);
      }
      // Every node has every change made after it, whichever node made it.
      for (const n of [A, B]) {
        await waitFor(`${what}: ${n.http} has both new users`, async () => JSON.parse(await ctl(n, ['--json', 'user', 'list'])).users.map((u: any) => u.name), (names: string[]) => names.includes(`user-${i}-a`) && names.includes(`user-${i}-b`));
        assert.ok(!JSON.parse(await ctl(n, ['--json', 'user', 'list'])).users.some((u: any) => u.name === 'mallory'), `${what}: nothing of the bad entry was taken`);
      }
    }
    for (const n of [A, B]) assert.ok(n.logs.filter((l) => l.msg === BAD_DATA_MESSAGE && l.key === KEY.log).length <= attacks.length, 'each bad entry said at most once');
  });

  test('malformed messages on a node\'s request channel: the node stays up and still answers the others', async () => {
    const from = A.logs.length;
    for (const m of ['null', '[]', '"q"', '{"t":"q"}', '{"t":"q","from":"node-b","id":"x","req":null}', '{"t":"a","id":7}', '{oops']) {
      for (let k = 0; k < 5; k++) await c.redis.cli('PUBLISH', nodeChannel('node-a'), m);
    }
    // B gathers the room list from A over the same channel.
    const listed = JSON.parse(await ctl(B, ['--json', 'rooms']));
    assert.equal(listed.unreachable, undefined, 'A answered B');
    assert.equal(A.proc.exitCode, null, 'A is still running');
    const said = A.logs.filter((l) => l.msg === BAD_DATA_MESSAGE && l.key === nodeChannel('node-a')).length;
    assert.ok(said >= 1 && said <= 7, `the bad messages are said, a repeated one once (${said} lines)`);
    assert.deepEqual(A.logs.slice(from).filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error logged: nothing was run');
  });
});
