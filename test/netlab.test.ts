/**
 * The network lab (test/helpers/netlab.ts) itself: namespaces and veths made and removed (also when
 * the process dies), only 198.18.0.0/15 used and no route out, tc shaping that really caps a TCP
 * transfer in each direction with a bounded queue, and a real confd with a Chromium page inside a
 * namespace and one in the root namespace exchanging audio and video through the shaped link.
 * Needs root and iproute2: without them these tests fail, saying so (they are not skipped).
 * Throughput figures are behaviour checks with wide margins, not timings of confd's code.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createNetLab, type NetLab, type NetPeer } from './helpers/netlab.ts';
import { cleanup, startConfd, tempDir, type RunningDaemon } from './helpers/daemon.ts';
import { closePage, joined, launchChromium, openPage, peerId, receivingFrom } from './helpers/browser.ts';
import { sleep, waitFor } from './helpers/wait.ts';

const HELPER = join(import.meta.dirname, 'helpers/netlab.ts');

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const nsList = () => sh('ip', ['netns', 'list']);
const linkExists = (dev: string) => {
  try {
    execFileSync('ip', ['link', 'show', 'dev', dev], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
/** 198.18.0.0/15: 198.18.x.y and 198.19.x.y. */
const inBenchRange = (addr: string) => /^198\.1[89]\.\d+\.\d+$/.test(addr);

/** A tiny HTTP server inside the namespace: GET /N answers N bytes, POST counts what it got. */
const SERVER = `
const http = require('node:http');
const chunk = Buffer.alloc(16384, 120);
const srv = http.createServer((req, res) => {
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => res.end(String(n)));
    return;
  }
  let left = Number(req.url.slice(1)) || 0;
  res.writeHead(200, { 'content-length': left });
  const more = () => {
    while (left > 0) {
      const c = chunk.subarray(0, Math.min(left, chunk.length));
      left -= c.length;
      if (!res.write(c)) return res.once('drain', more);
    }
    res.end();
  };
  more();
});
srv.listen(0, '0.0.0.0', () => console.log('port', srv.address().port));
`;

async function startServerIn(peer: NetPeer): Promise<string> {
  const child = peer.spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('exit', (code) => reject(new Error(`server in ${peer.ns} exited (${code}): ${out}`)));
  });
  return `http://${peer.ip}:${port}`;
}

const BYTES = 200_000;
/**
 * One HTTP request on a fresh connection (no keep-alive: a connection that lost packets under an
 * earlier cap would carry its shrunken congestion window into the next measurement); resolves with
 * the response body's length and the elapsed ms.
 */
function request(url: string, body?: Buffer): Promise<{ bytes: number; text: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: body ? 'POST' : 'GET', agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const all = Buffer.concat(parts);
        resolve({ bytes: all.length, text: all.length < 100 ? all.toString() : '', ms: performance.now() - t0 });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
/** kbit/s of a POST of BYTES to the namespace (root -> peer: "down"). */
async function upload(base: string): Promise<number> {
  const r = await request(`${base}/`, Buffer.alloc(BYTES, 1));
  assert.equal(r.text, String(BYTES));
  return (BYTES * 8) / r.ms; // bits per ms = kbit/s
}
/** kbit/s of a GET of BYTES from the namespace (peer -> root: "up"). */
async function download(base: string): Promise<number> {
  const r = await request(`${base}/${BYTES}`);
  assert.equal(r.bytes, BYTES);
  return (BYTES * 8) / r.ms;
}

describe('network lab', { concurrency: false }, () => {
  const labs: NetLab[] = [];
  after(async () => {
    for (const l of labs) await l.close();
  });
  const newLab = async () => {
    const l = await createNetLab(); // throws (failing the test) without root or iproute2
    labs.push(l);
    return l;
  };

  test('namespaces and veths are made with 198.18/15 addresses only, no route out, and removed on close', async () => {
    const lab = await newLab();
    const [a, b] = [await lab.addPeer(), await lab.addPeer()];
    assert.match(lab.hostIp, /^198\.18\.\d+\.1$/);
    const listed = nsList();
    for (const p of [a, b]) {
      assert.match(p.ns, new RegExp(`^confd-${process.pid}-\\d+$`));
      assert.ok(listed.includes(p.ns), `${p.ns} in ip netns list:\n${listed}`);
      assert.ok(linkExists(p.hostVeth), p.hostVeth);
      // Inside: loopback and the veth's one 198.18 address; no IPv6 at all; only the lab's /24 route.
      const addrs = sh('ip', ['-n', p.ns, '-o', 'addr', 'show']);
      const inet = [...addrs.matchAll(/^\d+: (\S+)\s+(inet6?) ([^/\s]+)\/(\d+)/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}/${m[4]}`);
      assert.deepEqual(inet.sort(), [`${p.nsVeth} inet ${p.ip}/24`, 'lo inet 127.0.0.1/8'], addrs);
      assert.ok(inBenchRange(p.ip));
      const routes = sh('ip', ['-n', p.ns, 'route', 'show']).trim().split('\n');
      assert.equal(routes.length, 1, routes.join('\n'));
      assert.match(routes[0]!, new RegExp(`^${lab.subnet.replace(/\./g, '\\.')} dev ${p.nsVeth}`));
      assert.equal(sh('ip', ['-n', p.ns, '-6', 'route', 'show']).trim(), '', 'no IPv6 routes');
      for (const dest of ['192.0.2.2', '1.1.1.1', '10.0.0.1']) {
        assert.throws(() => execFileSync('ip', ['-n', p.ns, 'route', 'get', dest], { stdio: 'pipe' }), /unreachable/i, `${dest} unreachable from ${p.ns}`);
      }
    }
    // Root namespace: the bridge has the lab's one address; its ports none; no IPv6 on any of them.
    const bridgeAddrs = sh('ip', ['-o', 'addr', 'show', 'dev', lab.bridge]);
    assert.deepEqual([...bridgeAddrs.matchAll(/inet6? (\S+)/g)].map((m) => m[1]), [`${lab.hostIp}/24`], bridgeAddrs);
    for (const p of [a, b]) assert.equal(sh('ip', ['-o', 'addr', 'show', 'dev', p.hostVeth]).trim(), '', `${p.hostVeth} has no address`);
    // Every 198.18/15 address of the root namespace is a lab's (this one's, or a lab of another test file).
    for (const m of sh('ip', ['-o', '-4', 'addr', 'show']).matchAll(/^\d+: (\S+)\s+inet (198\.1[89]\.[\d.]+)/gm)) assert.match(m[1]!, /^cfbr\d+$/, `${m[2]} is on ${m[1]}`);
    // The peers reach the host side and each other over the bridge.
    const base = await startServerIn(a);
    assert.equal((await request(`${base}/5`)).bytes, 5);
    await b.exec(process.execPath, ['-e', `fetch(${JSON.stringify(base + '/7')}).then(r => r.arrayBuffer()).then(b => { if (b.byteLength !== 7) process.exit(1) })`]);

    await lab.close();
    const listedAfter = nsList();
    for (const p of [a, b]) {
      assert.ok(!listedAfter.includes(p.ns), `${p.ns} removed`);
      assert.ok(!linkExists(p.hostVeth), `${p.hostVeth} removed`);
    }
    assert.ok(!linkExists(lab.bridge), `${lab.bridge} removed`);
    assert.doesNotMatch(sh('ip', ['-o', 'addr', 'show']), new RegExp(` ${lab.hostIp.replace(/\./g, '\\.')}/`));
  });

  test('a process that dies leaves nothing: exit hook on a crash, sweep after SIGKILL', async () => {
    const dir = tempDir('confd-netlab-test-');
    const script = join(dir, 'child.mts'); // an ES module wherever it lies (top-level await)
    writeFileSync(
      script,
      `import { createNetLab } from ${JSON.stringify(HELPER)};
const lab = await createNetLab();
const p = await lab.addPeer();
const child = process.argv[2] === 'crash' ? p.spawn('sleep', ['600'], { stdio: 'ignore' }) : null;
console.log(JSON.stringify({ ns: p.ns, veth: p.hostVeth, bridge: lab.bridge, sleeper: child?.pid ?? 0 }));
if (process.argv[2] === 'crash') setTimeout(() => { throw new Error('crash on purpose'); }, 100);
else setInterval(() => {}, 1000);
`,
    );
    const runChild = (mode: string) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', script, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      proc.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
      const made = new Promise<{ ns: string; veth: string; bridge: string; sleeper: number }>((resolve, reject) => {
        proc.stdout.on('data', () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) resolve(JSON.parse(line));
        });
        proc.once('exit', (code) => reject(new Error(`child exited (${code}) before making its lab: ${out}`)));
      });
      const exited = new Promise((r) => proc.once('exit', r));
      return { proc, made, exited };
    };
    const gone = (m: { ns: string; veth: string; bridge: string }) => !nsList().includes(m.ns) && !linkExists(m.veth) && !linkExists(m.bridge);

    const crash = runChild('crash');
    const m1 = await crash.made;
    assert.ok(!gone(m1), 'made');
    await crash.exited;
    assert.ok(gone(m1), `an uncaught exception's exit removed ${JSON.stringify(m1)}`);
    // ...and killed the process it ran in the namespace (gone, or a zombie waiting for init to reap it).
    const state = () => (existsSync(`/proc/${m1.sleeper}/stat`) ? readFileSync(`/proc/${m1.sleeper}/stat`, 'utf8').replace(/^.*\) /, '')[0] : 'gone');
    await waitFor('the process in the namespace to die', async () => state(), (s) => s === 'gone' || s === 'Z', 5000);

    const killed = runChild('hang');
    const m2 = await killed.made;
    killed.proc.kill('SIGKILL'); // the child this test spawned
    await killed.exited;
    assert.ok(!gone(m2), 'SIGKILL leaves it');
    await newLab(); // sweeps labs of processes that are gone
    assert.ok(gone(m2), `the next createNetLab() swept ${JSON.stringify(m2)}`);
    cleanup(dir);
  });

  test('tc caps each direction separately, with a bounded queue that drops, and are replaced in place', async () => {
    const lab = await newLab();
    const p = await lab.addPeer();
    const base = await startServerIn(p);
    const fast = 5_000; // kbit/s: unshaped veth transfers run at hundreds of Mbit/s
    const slow = 1_000; // a 300 kbit/s cap must keep a transfer well below this

    const free = { down: await upload(base), up: await download(base) };
    console.log(`unshaped: down ${free.down.toFixed(0)} kbit/s, up ${free.up.toFixed(0)} kbit/s`);
    assert.ok(free.down > fast && free.up > fast, JSON.stringify(free));

    await p.shape({ downKbit: 300 });
    // While the capped direction is saturated, a small request waits behind a queue of at most ~200 ms
    // (not the seconds a default 1000-packet queue would hold at this rate); a request on a new
    // connection crosses it twice (SYN, then the request): sample a few, expect well under 1.5 s.
    const probe = (async () => {
      await sleep(1500);
      const rtts: number[] = [];
      for (let i = 0; i < 5; i++) {
        rtts.push((await request(`${base}/1`)).ms);
        await sleep(200);
      }
      return rtts.sort((x, y) => x - y);
    })();
    const capped = { down: await upload(base), up: await download(base) };
    const rtts = await probe;
    const st = await p.qdiscStats();
    console.log(`down capped at 300: down ${capped.down.toFixed(0)} kbit/s, up ${capped.up.toFixed(0)} kbit/s; round trips under load ${rtts.map((r) => r.toFixed(0)).join(' ')} ms; down qdisc ${JSON.stringify(st.down)}`);
    assert.ok(capped.down < slow && capped.down > 100, `down capped: ${capped.down}`);
    assert.ok(capped.up > fast, `up not capped: ${capped.up}`);
    assert.equal(st.down.kind, 'tbf');
    assert.equal(st.up.kind, null, 'up unshaped');
    assert.ok(st.down.dropped > 0, 'a full queue drops (TCP overran it)');
    assert.ok(rtts[2]! < 1500, `median round trip under load ${rtts[2]} ms`);

    await p.shape({ upKbit: 300 }); // replaced: down free again, up capped
    const swapped = { down: await upload(base), up: await download(base) };
    console.log(`up capped at 300: down ${swapped.down.toFixed(0)} kbit/s, up ${swapped.up.toFixed(0)} kbit/s`);
    assert.ok(swapped.down > fast, `down uncapped: ${swapped.down}`);
    assert.ok(swapped.up < slow && swapped.up > 100, `up capped: ${swapped.up}`);

    await p.unshape();
    const again = { down: await upload(base), up: await download(base) };
    assert.ok(again.down > fast && again.up > fast, JSON.stringify(again));
    assert.deepEqual((await p.qdiscStats()).down.kind, null);
  });

  test('confd: Chromium pages inside a namespace and in the root namespace, and a werift peer in another namespace, exchange media', async () => {
    const lab = await newLab();
    const [p, q] = [await lab.addPeer(), await lab.addPeer()];
    let d: RunningDaemon | undefined;
    const browsers: Browser[] = [];
    const pages: Page[] = [];
    const problems: string[] = [];
    try {
      d = await startConfd({ config: lab.daemonConfig() });
      const url = lab.url(d);
      // Generous caps: media crosses tbf queues in both directions (and their counters prove that
      // each namespaced peer's traffic took its own veth).
      await p.shape({ downKbit: 20_000, upKbit: 20_000 });
      await q.shape({ downKbit: 20_000, upKbit: 20_000 });
      browsers.push(await p.launchChromium(lab.chromiumArgs(url)), await launchChromium(lab.chromiumArgs(url)));
      pages.push(await openPage(browsers[0]!, `${url}/join/lab?name=Inside`, 'lab/Inside', problems));
      pages.push(await openPage(browsers[1]!, `${url}/join/lab?name=Outside`, 'lab/Outside', problems));
      const [inside, outside] = pages as [Page, Page];
      await Promise.all([joined(inside, 1), joined(outside, 1)]);
      const [idIn, idOut] = [await peerId(inside), await peerId(outside)];
      await Promise.all([receivingFrom(inside, [idOut]), receivingFrom(outside, [idIn])]);
      const st = await waitFor('media through the namespace link', () => p.qdiscStats(), (s) => s.down.sentBytes > 200_000 && s.up.sentBytes > 200_000);
      console.log(`namespace link after joining: ${JSON.stringify(st)}`);
      assert.equal(await inside.evaluate(() => location.origin), new URL(url).origin);

      // A Node peer (test/helpers/sfu-client.ts: werift via msc-node) in the second namespace, a child
      // process run with `ip netns exec`: both pages receive its audio and video.
      const script = join(tempDir('confd-netlab-test-'), 'werift-peer.mts');
      writeFileSync(
        script,
        `import { joinPeer } from ${JSON.stringify(join(import.meta.dirname, 'helpers/sfu-client.ts'))};
const c = await joinPeer(process.argv[2], { room: 'lab', peerId: 'werift-ns', name: 'werift', produce: ['audio', 'video'] });
console.log('joined', c.peerId);
setInterval(() => {}, 1000);
`,
      );
      const child = q.spawn(process.execPath, ['--import', 'tsx', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (t: string) => (out += t));
      child.stderr!.setEncoding('utf8').on('data', (t: string) => (out += t));
      await waitFor('the werift peer to join', async () => out, (o) => /joined werift-ns/.test(o) || child.exitCode !== null, 30_000);
      assert.match(out, /joined werift-ns/);
      await Promise.all([joined(inside, 2), joined(outside, 2)]);
      await Promise.all([receivingFrom(inside, ['werift-ns']), receivingFrom(outside, ['werift-ns'])]);
      // (its media took the namespace's link)
      await waitFor('media of the werift peer through its link', () => q.qdiscStats(), (sq) => sq.up.sentBytes > 30_000 && sq.down.sentBytes > 5_000, 10_000);
      child.kill('SIGTERM');
      assert.deepEqual(problems, []);
    } finally {
      for (const pg of pages) await closePage(pg).catch(() => {});
      for (const b of browsers) await b.close().catch(() => {});
      if (d) {
        await d.stop();
        cleanup(dirname(d.dataDir));
      }
    }
  });
});
