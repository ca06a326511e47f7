/**
 * Single-port media (mediasoup.port): each worker's sockets are exactly its one UDP and one TCP port,
 * whatever the number of peers and rooms, read from the kernel's own tables (/proc/net/{udp,tcp}[6]
 * matched to the worker's file descriptors); a replacement worker listens on the same port again. The
 * per-transport mode is measured the same way, so the check is seen to tell the two apart.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { cleanup, confctl, freeMediaPort, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, joinPeer, receiving, type SfuClient } from './helpers/sfu-client.ts';
import { pidAlive, until } from './helpers/wait.ts';

interface Sockets {
  udp: number[];
  tcpListen: number[];
  /** Local ports of the worker's connected TCP sockets (ICE over TCP). */
  tcpOther: number[];
}

/** inode -> [local port, state] from one /proc/net table. */
function table(file: string): Map<string, [number, string]> {
  const out = new Map<string, [number, string]>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out; // no IPv6 in this kernel
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    out.set(f[9]!, [parseInt(f[1]!.split(':')[1]!, 16), f[3]!]);
  }
  return out;
}

/** The ports of every socket the process holds open. */
function socketsOf(pid: number): Sockets {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const udp = new Map([...table('/proc/net/udp'), ...table('/proc/net/udp6')]);
  const tcp = new Map([...table('/proc/net/tcp'), ...table('/proc/net/tcp6')]);
  const s: Sockets = { udp: [], tcpListen: [], tcpOther: [] };
  for (const inode of inodes) {
    const u = udp.get(inode);
    if (u) s.udp.push(u[0]);
    const t = tcp.get(inode);
    if (t) (t[1] === '0A' ? s.tcpListen : s.tcpOther).push(t[0]); // 0A: TCP_LISTEN
  }
  for (const list of Object.values(s)) list.sort((a: number, b: number) => a - b);
  return s;
}

/** Ports of every ICE candidate the daemon handed `c` in createWebRtcTransport answers. */
function candidatePorts(c: SfuClient): { protocol: string; port: number }[] {
  return c.messages
    .filter((m) => m.response && m.ok && Array.isArray(m.data?.iceCandidates))
    .flatMap((m) => m.data.iceCandidates.map((x: any) => ({ protocol: x.protocol, port: x.port })));
}

const workersOf = async (d: RunningDaemon): Promise<{ pid: number; port: number | null }[]> => (await d.admin('GET', '/v1/status')).body.workers;

describe('single-port media', { timeout: 120_000 }, () => {
  const daemons: RunningDaemon[] = [];
  const clients: SfuClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const d of daemons) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  test('each worker holds exactly UDP and TCP port + i, with several peers in several rooms; a replacement worker gets its port back', async () => {
    const base = await freeMediaPort(2, '127.0.0.1');
    const d = await startConfd({ config: { mediasoup: { workers: 2, port: base, listenIp: '127.0.0.1' } } });
    daemons.push(d);

    const workers = await workersOf(d);
    assert.deepEqual(workers.map((w) => w.port).sort(), [base, base + 1]);
    const status = await confctl(['--socket', d.socket, 'status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`media: +UDP\\+TCP ports ${base}, ${base + 1} \\(one per worker\\)`));

    // Three rooms over the two workers, each peer with a send and a receive transport.
    for (const room of ['one', 'two', 'three']) {
      const a = await joinPeer(d.http, { room, peerId: `${room}-a`, produce: ['audio', 'video'], consume: true });
      const b = await joinPeer(d.http, { room, peerId: `${room}-b`, produce: ['audio'], consume: true });
      clients.push(a, b);
    }
    await Promise.all(clients.map((c) => receiving(c, c.peerId.endsWith('-a') ? 1 : 2)));
    const rooms = (await d.admin('GET', '/v1/rooms')).body.rooms;
    assert.equal(new Set(rooms.map((r: any) => r.workerPid)).size, 2, 'the rooms are spread over both workers');

    for (const c of clients) {
      const ports = candidatePorts(c);
      assert.equal(ports.length, 4, `${c.peerId}: a UDP and a TCP candidate for each of its two transports`);
      for (const p of ports) assert.ok(p.port === base || p.port === base + 1, `${c.peerId}: candidate ${JSON.stringify(p)} is on a worker's port`);
    }
    // One socket carries every peer of a worker: its receive buffer is raised (up to the kernel's cap).
    const cap = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    for (const w of workers) {
      const ss = execFileSync('ss', ['-uanmH', 'sport', '=', `:${w.port}`], { encoding: 'utf8' });
      const rb = Number(/skmem:\([^)]*\brb(\d+)/.exec(ss)?.[1]);
      // Linux doubles what setsockopt asks for (bookkeeping) and caps the request at rmem_max.
      assert.equal(rb, 2 * Math.min(4 * 1024 * 1024, cap), `worker ${w.pid} UDP receive buffer: ${ss}`);
    }
    for (const w of workers) {
      const s = socketsOf(w.pid);
      assert.deepEqual(s.udp, [w.port], `worker ${w.pid}: its only UDP socket is port ${w.port}`);
      assert.deepEqual(s.tcpListen, [w.port], `worker ${w.pid}: its only listening TCP socket is port ${w.port}`);
      for (const p of s.tcpOther) assert.equal(p, w.port, `worker ${w.pid}: a TCP connection on another port`);
    }

    // A dead worker's replacement listens on the same port again, and media flows through it.
    const victim = workers.find((w) => w.port === base)!;
    process.kill(victim.pid, 'SIGKILL');
    await until(async () => {
      const now = await workersOf(d);
      return now.length === 2 && !now.some((w) => w.pid === victim.pid);
    }, 'a replacement worker', 20_000);
    const replacement = (await workersOf(d)).find((w) => w.pid !== victim.pid && w.port === base);
    assert.ok(replacement, `a new worker on port ${base}: ${JSON.stringify(await workersOf(d))}`);
    assert.ok(!pidAlive(victim.pid));
    const s = socketsOf(replacement.pid);
    assert.deepEqual(s.udp, [base]);
    assert.deepEqual(s.tcpListen, [base]);
    const x = await joinPeer(d.http, { room: 'after', peerId: 'after-x', produce: ['audio'], consume: true });
    const y = await joinPeer(d.http, { room: 'after', peerId: 'after-y', produce: ['audio'], consume: true });
    clients.push(x, y);
    await Promise.all([receiving(x, 1), receiving(y, 1)]);
  });

  test('mediasoup.port null: a port per transport from portRange (what the check above tells apart)', async () => {
    const d = await startConfd({ config: { mediasoup: { workers: 1, port: null, portRange: [62300, 62399], listenIp: '127.0.0.1' } } });
    daemons.push(d);
    const [w] = await workersOf(d);
    assert.equal(w!.port, null);
    const a = await joinPeer(d.http, { room: 'r', peerId: 'range-a', produce: ['audio'], consume: true });
    const b = await joinPeer(d.http, { room: 'r', peerId: 'range-b', produce: ['audio'], consume: true });
    clients.push(a, b);
    await Promise.all([receiving(a, 1), receiving(b, 1)]);
    const s = socketsOf(w!.pid);
    assert.equal(s.udp.length, 4, `four transports, four UDP ports: ${JSON.stringify(s)}`);
    for (const p of [...s.udp, ...s.tcpListen]) assert.ok(p >= 62300 && p <= 62399, `port ${p} in portRange`);
  });

  test('mediasoup.announcedAddress is what the ICE candidates carry (a server behind NAT), for UDP and TCP', async () => {
    const d = await startConfd({ config: { mediasoup: { workers: 1, listenIp: '127.0.0.1', announcedAddress: 'media.example.org' } } });
    daemons.push(d);
    const c = await connect(d.http, { room: 'nat', peerId: 'nat-a' });
    clients.push(c);
    const t = await c.request('createWebRtcTransport', { producing: false, consuming: true });
    const [w] = await workersOf(d);
    assert.deepEqual(
      t.iceCandidates.map((x: any) => [x.protocol, x.address, x.port]).sort(),
      [['tcp', 'media.example.org', w!.port], ['udp', 'media.example.org', w!.port]],
    );
  });

  test('a media port already taken: confd refuses to start and names the port and the key', async () => {
    const base = await freeMediaPort(1, '127.0.0.1');
    const { createSocket } = await import('node:dgram');
    const squatter = createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(base, '127.0.0.1', r));
    try {
      await assert.rejects(
        startConfd({ config: { mediasoup: { workers: 1, port: base, listenIp: '127.0.0.1' } } }),
        (e: any) => e.code === 1 && new RegExp(`media port ${base} .*in use.*mediasoup\\.port`).test(e.stderr),
      );
    } finally {
      squatter.close();
    }
  });
});
