/**
 * Network lab for tests and benches: peers (Chromium, or any process such as a werift/Node client) in
 * their own Linux network namespaces, joined to the daemon in the root namespace over links shaped
 * with `tc` (tbf; netem is not available on these machines). Needs root and iproute2 (`ip`, `tc`;
 * test/apt-packages.txt); createNetLab() throws, naming the reason, when either is missing.
 *
 *   const lab = await createNetLab();             // a bridge in the root namespace, 198.18.X.1/24
 *   const d = await startConfd({ config: lab.daemonConfig() });      // HTTP + media on 198.18.X.1
 *   const url = lab.url(d);                         // http://198.18.X.1:PORT
 *   const weak = await lab.addPeer();               // namespace confd-<pid>-<k>; the lab's n-th peer is 198.18.X.(n+1)
 *   const b = await weak.launchChromium(lab.chromiumArgs(url));      // Chromium inside that namespace
 *   const local = await launchChromium(lab.chromiumArgs(url));       // root namespace, unshaped (loopback)
 *   await weak.shape({ downKbit: 300 });            // toward the peer capped; may change mid-call
 *   await weak.shape({ downKbit: 300, upKbit: 500 });
 *   await weak.unshape();
 *   const w = weak.spawn(process.execPath, ['--import', 'tsx', 'peer.mts', url]);  // e.g. a werift peer
 *   (await weak.qdiscStats()).down                  // {kind: 'tbf', sentBytes, sentPackets, dropped}
 *   await lab.close();                              // also done on process exit (sync), see below
 *
 * Layout, and why: one bridge `cfbr<X>` in the root namespace holds 198.18.X.1/24 (X is a free /24 of
 * the benchmarking range 198.18.0.0/15, claimed by creating the bridge: the name is the lock, so test
 * files running side by side get different subnets). Each peer is a namespace with one veth pair:
 * `cf<X>h<n>` stays in the root namespace as a bridge port, `cf<X>p<n>` moves into the namespace with
 * 198.18.X.(n+1)/24. A single subnet means the daemon listens on one address (server.listen and
 * mediasoup.listenIp = 198.18.X.1, no announcedAddress) that every namespace reaches directly, and the
 * daemon is reachable nowhere else; per-link /30s would need a routed or announced address instead.
 * Shaping is per veth, so every peer has its own link: down (toward the peer) is the egress qdisc of
 * `cf<X>h<n>`, up (from the peer) the egress qdisc of `cf<X>p<n>` inside the namespace.
 * The root namespace's own pages reach 198.18.X.1 over loopback, unshaped; traffic between two
 * namespaces crosses the sender's up and the receiver's down qdisc.
 *
 * Nothing leaves the machine: a namespace has only its /24 route (no default route, no NAT), IPv6 is
 * off on every interface the lab makes (no link-local addresses), and 198.18/15 is used only on them.
 * Cleanup: close() kills the processes the lab spawned, deletes the veths, namespaces and the bridge;
 * the same runs synchronously on process exit (and on SIGINT/SIGTERM/SIGHUP), and createNetLab()
 * first removes what labs of dead processes left (a SIGKILLed test run).
 *
 * Chromium in a namespace runs through a wrapper script `exec ip netns exec <ns> chromium "$@"` passed
 * as playwright's executablePath: `ip netns exec` execs in the same process, so playwright's pid and
 * its --remote-debugging-pipe fds (3 and 4) reach Chromium unchanged. http://198.18.X.1:PORT is not a
 * secure context, so pages need lab.chromiumArgs(url) (--unsafely-treat-insecure-origin-as-secure)
 * for getUserMedia.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium } from './browser.ts';
import { pidAlive, sleep } from './wait.ts';

const run = promisify(execFile);

export interface Shape {
  /** Cap toward the peer (root -> namespace), kbit/s; omitted = that direction unshaped. */
  downKbit?: number;
  /** Cap from the peer (namespace -> root), kbit/s; omitted = unshaped. */
  upKbit?: number;
  /** tbf bucket in bytes; default max(2 full frames, 20 ms at the rate). */
  burstBytes?: number;
  /** Longest a packet may wait in the queue before it is dropped (tbf latency), ms; default 200. */
  queueMs?: number;
}

export interface QdiscStats {
  /** The shaping qdisc ('tbf'), or null when that direction is unshaped. */
  kind: string | null;
  sentBytes: number;
  sentPackets: number;
  dropped: number;
}

export interface NetPeer {
  /** Namespace name, confd-<pid>-<n>. */
  readonly ns: string;
  /** The peer's address, 198.18.X.(n+1). */
  readonly ip: string;
  /** Veth end in the root namespace (bridge port; its egress = down). */
  readonly hostVeth: string;
  /** Veth end inside the namespace (its egress = up). */
  readonly nsVeth: string;
  /** Sets (or changes, `tc qdisc replace`) the caps; a direction left out is unshaped. */
  shape(s: Shape): Promise<void>;
  unshape(): Promise<void>;
  /** Byte, packet and drop counters of both directions' qdiscs. */
  qdiscStats(): Promise<{ down: QdiscStats; up: QdiscStats }>;
  /** Executable for playwright's executablePath: Chromium inside this namespace. */
  readonly chromiumExecutable: string;
  /** test/helpers/browser.ts's launchChromium, inside this namespace. */
  launchChromium(extraArgs?: readonly string[]): Promise<Browser>;
  /** Spawns a process inside the namespace (`ip netns exec`); killed by close() if still running. */
  spawn(command: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Runs a command inside the namespace to completion. */
  exec(command: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
}

export interface NetLab {
  /** The daemon's address on the bridge, 198.18.X.1. */
  readonly hostIp: string;
  /** 198.18.X.0/24 */
  readonly subnet: string;
  readonly bridge: string;
  readonly peers: readonly NetPeer[];
  /** A new namespace peer on its own (unshaped) link. */
  addPeer(): Promise<NetPeer>;
  /** Config to merge into startConfd's: HTTP and media bound to hostIp only. */
  daemonConfig(): { server: { listen: string }; mediasoup: { listenIp: string; announcedAddress: null } };
  /** The daemon's URL on the lab address (its port from RunningDaemon.listening). */
  url(daemon: { listening: string }): string;
  /** Chromium flags for pages on `url` (a plain-http origin treated as secure, for getUserMedia). */
  chromiumArgs(url: string): string[];
  close(): Promise<void>;
}

const PREFIX = 'confd-';
const ALIAS = 'confd-netlab pid=';
const live = new Set<Lab>();
let hooked = false;

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

function requirements(): { ip: string; tc: string } {
  if (process.platform !== 'linux') throw new Error(`the network lab needs Linux network namespaces (this is ${process.platform})`);
  if (process.getuid?.() !== 0) throw new Error(`the network lab needs root (uid ${process.getuid?.()}): it creates network namespaces, veths and tc qdiscs`);
  const ip = which('ip');
  const tc = which('tc');
  if (!ip || !tc) throw new Error(`the network lab needs iproute2's ${!ip ? '`ip`' : ''}${!ip && !tc ? ' and ' : ''}${!tc ? '`tc`' : ''} (apt-get install iproute2; see test/apt-packages.txt)`);
  return { ip, tc };
}

function quiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** Removes namespaces and bridges that labs of processes no longer running left behind. */
function sweepStale(ip: string): void {
  const nsList = execFileSync(ip, ['netns', 'list'], { encoding: 'utf8' });
  for (const line of nsList.split('\n')) {
    const m = /^(confd-(\d+)-\d+)\b/.exec(line);
    if (m && !pidAlive(Number(m[2]))) {
      quiet(ip, ['netns', 'del', m[1]!]);
    }
  }
  const links = execFileSync(ip, ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' });
  for (const line of links.split('\n')) {
    const name = /^\d+: (cfbr\d+)[:@]/.exec(line)?.[1];
    const pid = Number(/alias confd-netlab pid=(\d+)/.exec(line)?.[1] ?? NaN);
    if (!name || !Number.isFinite(pid) || pidAlive(pid)) continue;
    const ports = execFileSync(ip, ['-o', 'link', 'show', 'master', name], { encoding: 'utf8' });
    for (const p of ports.split('\n')) {
      const port = /^\d+: ([^:@]+)[:@]/.exec(p)?.[1];
      if (port) quiet(ip, ['link', 'del', port]);
    }
    quiet(ip, ['link', 'del', name]);
  }
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const lab of live) lab.closeSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      for (const lab of live) lab.closeSync();
      // Alone on this signal: do what the default would have done.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, onSignal);
  }
}

let labCount = 0;
let nsCount = 0;

/** IPv6 off on an interface of the root namespace (no link-local address); nothing to do without IPv6. */
function noIpv6(dev: string): void {
  const f = `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`;
  if (existsSync(f)) writeFileSync(f, '1');
}

class Lab implements NetLab {
  readonly hostIp: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly peers: Peer[] = [];
  readonly dir: string;
  readonly children = new Set<ChildProcess>();
  closed = false;

  readonly ipCmd: string;
  readonly tcCmd: string;
  readonly index: number;

  constructor(ipCmd: string, tcCmd: string, index: number) {
    this.ipCmd = ipCmd;
    this.tcCmd = tcCmd;
    this.index = index;
    this.hostIp = `198.18.${index}.1`;
    this.subnet = `198.18.${index}.0/24`;
    this.bridge = `cfbr${index}`;
    this.dir = mkdtempSync(join(tmpdir(), 'confd-netlab-'));
  }

  ip(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(this.ipCmd, args).catch((e: any) => {
      throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
    });
  }

  async addPeer(): Promise<NetPeer> {
    if (this.closed) throw new Error('the network lab is closed');
    const n = this.peers.length + 1;
    if (n > 250) throw new Error('at most 250 peers per lab');
    const peer = new Peer(this, n);
    this.peers.push(peer); // before it exists, so a half-made peer is cleaned up too
    await peer.create();
    return peer;
  }

  daemonConfig() {
    return { server: { listen: this.hostIp }, mediasoup: { listenIp: this.hostIp, announcedAddress: null } };
  }

  url(daemon: { listening: string }): string {
    const port = new URL(daemon.listening).port;
    return `http://${this.hostIp}:${port}`;
  }

  chromiumArgs(url: string): string[] {
    return [`--unsafely-treat-insecure-origin-as-secure=${new URL(url).origin}`];
  }

  /** Synchronous, for process exit; also what close() does. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const p of this.peers) {
      // Deleting one end of a veth deletes both, even while processes still hold the namespace.
      quiet(this.ipCmd, ['link', 'del', p.hostVeth]);
      quiet(this.ipCmd, ['netns', 'del', p.ns]);
    }
    quiet(this.ipCmd, ['link', 'del', this.bridge]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    const waits = [...this.children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.race([Promise.all(waits), sleep(3000)]);
    this.closeSync();
  }
}

function parseQdisc(text: string): QdiscStats {
  const kind = /^qdisc (\S+)/m.exec(text)?.[1] ?? null;
  const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+)/.exec(text);
  return {
    kind: kind === 'noqueue' ? null : kind,
    sentBytes: Number(m?.[1] ?? 0),
    sentPackets: Number(m?.[2] ?? 0),
    dropped: Number(m?.[3] ?? 0),
  };
}

class Peer implements NetPeer {
  readonly ns: string;
  readonly ip: string;
  readonly hostVeth: string;
  readonly nsVeth: string;
  readonly chromiumExecutable: string;

  readonly lab: Lab;

  constructor(lab: Lab, n: number) {
    this.lab = lab;
    this.ns = `${PREFIX}${process.pid}-${++nsCount}`;
    this.ip = `198.18.${lab.index}.${n + 1}`;
    // Interface names are at most 15 characters: cf + up to 3 + h/p + up to 3.
    this.hostVeth = `cf${lab.index}h${n}`;
    this.nsVeth = `cf${lab.index}p${n}`;
    this.chromiumExecutable = join(lab.dir, `chromium-${this.ns}`);
  }

  async create(): Promise<void> {
    const { lab, ns } = this;
    await lab.ip('netns', 'add', ns);
    // IPv6 off in the namespace before its veth arrives (the veth takes the namespace's default).
    await lab.ip('netns', 'exec', ns, 'sh', '-c', 'if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; fi');
    await lab.ip('link', 'add', this.hostVeth, 'type', 'veth', 'peer', 'name', this.nsVeth);
    noIpv6(this.hostVeth);
    await lab.ip('link', 'set', this.nsVeth, 'netns', ns);
    await lab.ip('link', 'set', this.hostVeth, 'master', lab.bridge);
    await lab.ip('link', 'set', this.hostVeth, 'up');
    await lab.ip('-n', ns, 'addr', 'add', `${this.ip}/24`, 'dev', this.nsVeth);
    await lab.ip('-n', ns, 'link', 'set', this.nsVeth, 'up');
    await lab.ip('-n', ns, 'link', 'set', 'lo', 'up');
    writeFileSync(this.chromiumExecutable, `#!/bin/sh\nexec ${lab.ipCmd} netns exec ${ns} ${CHROMIUM} "$@"\n`);
    chmodSync(this.chromiumExecutable, 0o755);
  }

  async #qdisc(dev: string, inNs: boolean, kbit: number | undefined, s: Shape): Promise<void> {
    const pre = inNs ? ['-n', this.ns] : [];
    if (kbit === undefined) {
      // Back to the veth's default (noqueue); "no qdisc to delete" is fine.
      await run(this.lab.tcCmd, [...pre, 'qdisc', 'del', 'dev', dev, 'root']).catch(() => {});
      return;
    }
    if (!(kbit > 0)) throw new Error(`rate must be > 0 kbit/s, got ${kbit}`);
    const burst = Math.round(s.burstBytes ?? Math.max(2 * 1514, (kbit * 1000) / 8 * 0.02));
    const queueMs = s.queueMs ?? 200;
    // tbf: a token bucket at `rate`, and a queue of at most `latency` worth of bytes at that rate;
    // what does not fit is dropped, like a weak real link (at 300 kbit/s: 7.5 KB, ~5 full packets).
    const args = [...pre, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', String(burst), 'latency', `${queueMs}ms`];
    await run(this.lab.tcCmd, args).catch((e: any) => {
      throw new Error(`tc ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
    });
  }

  async shape(s: Shape): Promise<void> {
    await this.#qdisc(this.hostVeth, false, s.downKbit, s);
    await this.#qdisc(this.nsVeth, true, s.upKbit, s);
  }

  unshape(): Promise<void> {
    return this.shape({});
  }

  async qdiscStats(): Promise<{ down: QdiscStats; up: QdiscStats }> {
    const [down, up] = await Promise.all([
      run(this.lab.tcCmd, ['-s', 'qdisc', 'show', 'dev', this.hostVeth, 'root']),
      run(this.lab.tcCmd, ['-n', this.ns, '-s', 'qdisc', 'show', 'dev', this.nsVeth, 'root']),
    ]);
    return { down: parseQdisc(down.stdout), up: parseQdisc(up.stdout) };
  }

  launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
    return launchChromium(extraArgs, this.chromiumExecutable);
  }

  spawn(command: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.lab.closed) throw new Error('the network lab is closed');
    const child = spawn(this.lab.ipCmd, ['netns', 'exec', this.ns, command, ...args], opts);
    this.lab.children.add(child);
    child.once('exit', () => this.lab.children.delete(child));
    return child;
  }

  exec(command: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    return run(this.lab.ipCmd, ['netns', 'exec', this.ns, command, ...args]);
  }
}

/**
 * A new lab: requirements checked (root, ip, tc; throws naming what is missing), leftovers of dead
 * processes' labs removed, a free 198.18.X.0/24 claimed with its bridge. No peers yet: addPeer().
 */
export async function createNetLab(): Promise<NetLab> {
  const { ip, tc } = requirements();
  sweepStale(ip);
  hookExit();
  labCount++;
  // Claim a /24: `ip link add` of an existing name fails, so two processes never share a subnet.
  // 198.18.1-254.0/24 (198.19/16 left for anything else); start somewhere pid-dependent.
  const start = (process.pid + labCount * 37) % 254;
  for (let i = 0; i < 254; i++) {
    const index = ((start + i) % 254) + 1;
    try {
      execFileSync(ip, ['link', 'add', `cfbr${index}`, 'type', 'bridge'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e: any) {
      if (/exists/i.test(String(e.stderr))) continue;
      throw new Error(`ip link add cfbr${index} type bridge failed: ${String(e.stderr || e.message).trim()}`);
    }
    // Some other interface of this machine may already use the subnet (then try the next).
    const used = execFileSync(ip, ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
    if (used.includes(` 198.18.${index}.`)) {
      quiet(ip, ['link', 'del', `cfbr${index}`]);
      continue;
    }
    const lab = new Lab(ip, tc, index);
    live.add(lab);
    try {
      await lab.ip('link', 'set', lab.bridge, 'alias', `${ALIAS}${process.pid}`);
      noIpv6(lab.bridge);
      await lab.ip('addr', 'add', `${lab.hostIp}/24`, 'dev', lab.bridge);
      await lab.ip('link', 'set', lab.bridge, 'up');
    } catch (e) {
      lab.closeSync();
      throw e;
    }
    return lab;
  }
  throw new Error('no free 198.18.X.0/24 for a network lab (254 in use?)');
}
