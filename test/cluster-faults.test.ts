/**
 * A cluster when things break: Redis restarted, Redis away, a node killed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, runConfd, startConfd, tempDir } from './helpers/daemon.ts';
import { startRedis } from './helpers/redis.ts';
import { connect, connectRefused, receiving } from './helpers/sfu-client.ts';
import { connectVia, ctl, startCluster } from './helpers/cluster.ts';
import { login, tryLogin } from './helpers/login.ts';
import { sleep, until } from './helpers/wait.ts';
import { USER_MESSAGES } from '../src/protocol/user-messages.ts';

const PW = 'alice-secret-pw';

test('Redis killed and restarted: no acknowledged change is lost, and the nodes go on without a restart', async () => {
  const c = await startCluster({ nodes: ['node-a', 'node-b'] });
  try {
    const [A, B] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      await ctl(i % 2 ? A : B, ['user', 'add', `user${i}`, '--password-stdin'], PW);
      ids.push(JSON.parse(await ctl(i % 2 ? B : A, ['--json', 'token', 'issue', '--room', 'keep'])).id);
    }
    await c.redis.kill();
    await c.redis.restart();
    // Both nodes reconnect by themselves; everything acknowledged before the kill is there.
    for (const n of [A, B]) {
      await until(async () => (await confctl(['--socket', n.socket, '--json', 'user', 'list'])).code === 0, 'the node answers again', 15_000);
      const users = JSON.parse(await ctl(n, ['--json', 'user', 'list'])).users.map((u: any) => u.name);
      assert.deepEqual(users.sort(), Array.from({ length: 10 }, (_, i) => `user${i}`).sort());
      const tokens = JSON.parse(await ctl(n, ['--json', 'token', 'list'])).tokens.map((t: any) => t.id);
      for (const id of ids) assert.ok(tokens.includes(id), `token ${id} on ${n.http}`);
    }
    await ctl(A, ['user', 'add', 'after', '--password-stdin'], PW);
    assert.match(await ctl(B, ['user', 'list']), /after/);
  } finally {
    await c.stop();
  }
});

test('Redis away: open rooms go on; logins, joins and admin writes are refused with a clear error; back: all work again', async () => {
  const c = await startCluster({ nodes: ['node-a', 'node-b'], config: { host: { protected: true } } });
  try {
    const [A, B] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    await ctl(A, ['user', 'add', 'alice', '--password-stdin'], PW);
    const hostToken = await login(A, 'alice', PW);
    const hostVia = await connectVia(A.http, { room: 'open', peerId: 'h', query: { host: hostToken } });
    const host = hostVia.client;
    assert.deepEqual(await host.hello, { role: 'host', waiting: false });
    await host.joinWithMedia({ produce: ['audio', 'video'], consume: true });
    const guestVia = await connectVia(B.http, { room: 'open', peerId: 'g' });
    const guest = guestVia.client;
    assert.equal(guestVia.at, hostVia.at);
    await guest.joinWithMedia({ produce: ['audio', 'video'], consume: true });
    await receiving(guest, 2);

    await c.redis.stop();
    try {
      // The call goes on.
      await receiving(guest, 2, 50);
      await receiving(host, 2, 50);
      // A login: 503 and what to do.
      const r = await tryLogin(B, 'alice', PW);
      assert.equal(r.status, 503);
      assert.match(r.body.error.message, /Redis .* is unreachable.*try again shortly/);
      // A join, on either node, to the open room or a new one.
      for (const [n, room] of [[A, 'open'], [B, 'open'], [B, 'new-room']] as const) {
        const refused = await connectRefused(n.http, { room, peerId: `late-${room}` });
        assert.equal(refused.code, 4503, `join ${room} through ${n.http}`);
        assert.match(refused.reason + JSON.stringify(refused.messages), /Redis/);
      }
      // An admin write.
      const w = await confctl(['--socket', A.socket, 'user', 'add', 'bob', '--password-stdin'], { input: PW });
      assert.notEqual(w.code, 0);
      assert.match(w.stderr, /Redis .* is unreachable/);
      // Status says so.
      assert.match(await ctl(A, ['status']), /Redis redis:\/\/127\.0\.0\.1:\d+ \(UNREACHABLE\)/);
      assert.ok(host.open && guest.open, 'nobody was dropped');
    } finally {
      await c.redis.restart();
    }
    // Back without restarting any node (each reconnects on its own schedule: up to 2 s apart).
    for (const n of [A, B]) await until(async () => JSON.parse(await ctl(n, ['--json', 'status'])).cluster.redisConnected === true, `${n.http} reconnected`, 15_000);
    await until(async () => (await tryLogin(B, 'alice', PW)).status === 200, 'logins work again', 15_000);
    const late = await connectVia(B.http, { room: 'open', peerId: 'late' });
    await late.client.joinWithMedia({ consume: true });
    await receiving(late.client, 4);
    await ctl(A, ['user', 'add', 'bob', '--password-stdin'], PW);
    // The bus is back too (the subscriptions were made again): a revoke on B reaches the host on A.
    await ctl(B, ['ip', 'revoke', '127.0.0.1']);
    assert.equal((await host.waitForNotification('role')).role, 'guest');
    for (const s of [host, guest, late.client]) await s.close();
  } finally {
    await c.stop();
  }
});

test('a node killed with SIGKILL: its rooms reopen on another node when their peers rejoin', async () => {
  const c = await startCluster({ nodes: ['node-a', 'node-b'] });
  try {
    const [N1, N2] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    const p1 = await connectVia(N1.http, { room: 'moving', peerId: 'p1' });
    await p1.client.joinWithMedia({ produce: ['audio'], consume: true });
    // A: the node holding the room, killed; B: the one left.
    const [A, B] = p1.at === N1.http ? [N1, N2] : [N2, N1];
    const aId = A === N1 ? 'node-a' : 'node-b';
    await A.kill9();
    // The pages reconnect through the node that is left, as a page does through a load balancer:
    // until A is seen dead (its heartbeat stops), joins may still be sent to it and fail; then the
    // room is placed on B.
    let rejoined: Awaited<ReturnType<typeof connectVia>> | null = null;
    await until(async () => {
      try {
        rejoined = await connectVia(B.http, { room: 'moving', peerId: 'p1' });
        return rejoined.at === B.http;
      } catch {
        return false;
      }
    }, 'the room reopens on B', 20_000);
    const moved = rejoined!;
    await moved.client.joinWithMedia({ produce: ['audio'], consume: true });
    const p2 = await connectVia(B.http, { room: 'moving', peerId: 'p2' });
    assert.equal(p2.at, B.http);
    await p2.client.joinWithMedia({ produce: ['audio'], consume: true });
    await receiving(p2.client, 1);
    await receiving(moved.client, 1);
    const table = JSON.parse(await ctl(B, ['--json', 'cluster'])).nodes;
    assert.equal(table.find((n: any) => n.id === aId)?.alive, false, 'confctl cluster shows A dead');
    // Restarted with the same id (as systemd would after the crash): it waits out its old heartbeat
    // instead of refusing to start, and is alive again.
    await c.addNode(aId);
    await until(async () => JSON.parse(await ctl(B, ['--json', 'cluster'])).nodes.find((n: any) => n.id === aId)?.alive === true, 'A alive again', 10_000);
    await moved.client.close();
    await p2.client.close();
  } finally {
    await c.stop();
  }
});

test('a Redis with a password: the node uses it and never shows it; a wrong one stops start-up with a clear error', async () => {
  const password = 'redis-pass-7f3a9c';
  const redis = await startRedis({ password });
  const c = await startCluster({ nodes: ['node-p'], redis });
  const dir = tempDir('confd-badpass-');
  try {
    const [P] = c.nodes as [(typeof c.nodes)[0]];
    await ctl(P, ['user', 'add', 'alice', '--password-stdin'], PW);
    const status = await ctl(P, ['status']);
    assert.match(status, /Redis redis:\/\/:\[redacted\]@127\.0\.0\.1:\d+/);
    const shown = await runConfd(['check-config', '--config', join(P.dataDir, '..', 'config.json')]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /"redis": "redis:\/\/:\[redacted\]@127\.0\.0\.1:\d+"/);
    for (const text of [status, shown.stdout, shown.stderr, P.stdout(), P.stderr()]) assert.ok(!text.includes(password), 'the Redis password is never printed');
    // The wrong password: refused at start, saying what to check, without echoing any password.
    const wrong = redis.url.replace(encodeURIComponent(password), 'not-the-password');
    const bad = await startConfd({ dataDir: join(dir, 'data'), config: { mediasoup: { workers: 1 }, cluster: { redis: wrong, nodeId: 'node-q' } } }).then(
      async (d) => {
        await d.stop();
        return null;
      },
      (e: any) => e,
    );
    assert.ok(bad, 'a node with the wrong Redis password does not start');
    assert.match(bad.stdout + bad.stderr, /cannot reach the cluster's Redis at redis:\/\/:\[redacted\]@127\.0\.0\.1:\d+ .*check cluster\.redis/);
    assert.ok(!(bad.stdout + bad.stderr).includes('not-the-password'));
  } finally {
    await c.stop();
    await redis.stop();
    cleanup(dir, redis.dir);
  }
});

test('a host in rooms on two nodes who leaves one keeps host rights in the other (the grace logout asks the other nodes)', async () => {
  const c = await startCluster({ nodes: ['node-a', 'node-b'], config: { host: { protected: true, leaveGraceSeconds: 1 } } });
  try {
    const [A, B] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    await ctl(A, ['user', 'add', 'alice', '--password-stdin'], PW);
    const token = await login(A, 'alice', PW);
    // Room x, then guests in it so that room y goes to the other node (8 peers outweigh any idle CPU).
    const inX = await connectVia(A.http, { room: 'x', peerId: 'h-x', query: { host: token } });
    await inX.client.joinWithMedia({});
    const guests = [];
    for (let i = 0; i < 8; i++) {
      const g = await connectVia(A.http, { room: 'x', peerId: `g-x${i}` });
      await g.client.joinWithMedia({});
      guests.push(g.client);
    }
    const [X, Y] = inX.at === A.http ? [A, B] : [B, A];
    const xId = X === A ? 'node-a' : 'node-b';
    const yId = X === A ? 'node-b' : 'node-a';
    await until(async () => JSON.parse(await ctl(Y, ['--json', 'cluster'])).nodes.find((n: any) => n.id === xId)?.load.peers === 9, 'x\'s node reports its peers', 5000);
    const inY = await connectVia(Y.http, { room: 'y', peerId: 'h-y', query: { host: token } });
    assert.equal(inY.at, Y.http, 'room y went to the other node');
    assert.equal(((await inY.client.joinWithMedia({})) as any).role, 'host');
    // B's heartbeat names the host's session before A's grace runs out.
    await until(async () => JSON.parse(await ctl(X, ['--json', 'cluster'])).nodes.some((n: any) => n.id === yId && n.rooms.includes('y')), 'the other node reports room y', 5000);
    await sleep(1200);
    await inX.client.close();
    // Past the grace (1 s) and a heartbeat: still a host in y, and the session still works.
    await sleep(3000);
    assert.ok(!inY.client.messages.some((m: any) => m.method === 'role'), 'no role change in y');
    assert.equal((await fetch(`${Y.http}/session`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    // Leaving y as well: now it is a logout (after B's grace).
    await inY.client.close();
    await until(async () => (await fetch(`${A.http}/session`, { headers: { authorization: `Bearer ${token}` } })).status === 401, 'the session ends once the host left both', 10_000);
    for (const g of guests) await g.close();
  } finally {
    await c.stop();
  }
});

test('a stranger cannot make Redis work at will: hellos that need a placement are limited per address', async () => {
  // A low rate: a loaded machine's hellos must still come faster than the bucket refills.
  const joinRate = { perSecond: 0.5, burst: 20 };
  const c = await startCluster({ nodes: ['node-l'], config: { server: { joinRate } } });
  try {
    const [L] = c.nodes as [(typeof c.nodes)[0]];
    const t0 = Date.now();
    let placed = 0;
    let refused: Awaited<ReturnType<typeof connectRefused>> | null = null;
    // Hellos for ever new rooms, one after another, as fast as they go: the burst, then the rate.
    for (let i = 0; i < 2000 && !refused; i++) {
      const s = await connect(L.http, { room: `flood-${i}`, peerId: `f${i}` });
      const hello = await s.hello;
      if (hello instanceof Error) {
        const info = await s.closed;
        assert.equal(info.code, 4429, `refused with ${info.code} ${info.reason}`);
        refused = { ...info, messages: s.messages };
      } else {
        placed++;
        await s.close();
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(refused, `no refusal after ${placed} hellos in ${seconds.toFixed(1)} s`);
    assert.match(JSON.stringify(refused.messages), /Too many joins from your address/);
    assert.ok(placed >= joinRate.burst && placed <= joinRate.burst + joinRate.perSecond * seconds + 1, `${placed} placements in ${seconds.toFixed(1)} s (burst ${joinRate.burst}, ${joinRate.perSecond}/s)`);
    // The node is fine, and a fresh hello from this address works once the bucket refills.
    await sleep(2500);
    const again = await connectVia(L.http, { room: 'after-flood', peerId: 'ok' });
    await again.client.joinWithMedia({});
    await again.client.close();
  } finally {
    await c.stop();
  }
});

test('the placement limit is the cluster\'s: an address spreading new rooms over two nodes gets no more than against one', async () => {
  // A low rate, so that per-node counting (twice the burst over two nodes) cannot pass for the
  // cluster-wide one however slow the machine.
  const joinRate = { perSecond: 0.5, burst: 20 };
  const c = await startCluster({ nodes: ['node-p', 'node-q'], config: { server: { trustProxy: ['127.0.0.1'], joinRate } } });
  try {
    const [P, Q] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    const office = await connectVia(P.http, { room: 'office', peerId: 'chair', headers: { 'x-forwarded-for': '198.51.100.7' } });
    await office.client.joinWithMedia({});
    const ip = '198.51.100.66';
    const t0 = Date.now();
    let placed = 0;
    let refused: { code: number; reason: string } | null = null;
    for (let i = 0; i < 200 && !refused; i++) {
      const s = await connect((i % 2 ? Q : P).http, { room: `spread-${i}`, peerId: `s${i}`, headers: { 'x-forwarded-for': ip } });
      if ((await s.hello) instanceof Error) refused = await s.closed;
      else {
        placed++;
        await s.close();
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(refused, `no refusal after ${placed} placements in ${seconds.toFixed(1)} s`);
    assert.equal(refused.code, 4429);
    assert.equal(refused.reason, USER_MESSAGES.tooManyJoins);
    assert.ok(placed >= joinRate.burst && placed <= joinRate.burst + joinRate.perSecond * seconds + 1, `${placed} placements over two nodes in ${seconds.toFixed(1)} s (cluster-wide burst ${joinRate.burst})`);
    // Joining a meeting that is already open places nothing: the same address still gets in, through
    // either node (one of them sends it on to the other).
    for (const [n, entry] of [P, Q].entries()) {
      const j = await connectVia(entry.http, { room: 'office', peerId: `late-${n}`, headers: { 'x-forwarded-for': ip } });
      assert.equal(((await j.client.joinWithMedia({})) as any).role, 'guest');
      await j.client.close();
    }
    // Another address is not affected.
    const other = await connectVia(Q.http, { room: 'elsewhere', peerId: 'o', headers: { 'x-forwarded-for': '198.51.100.67' } });
    await other.client.joinWithMedia({});
    await other.client.close();
    await office.client.close();
  } finally {
    await c.stop();
  }
});
