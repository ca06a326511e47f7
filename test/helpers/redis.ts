/**
 * A real `redis-server` (Debian package redis-server, listed in test/apt-packages.txt) for the cluster
 * tests: on a free loopback port, with its data in a temp dir, durable the way docs/cluster.md asks
 * (`appendonly yes`, `appendfsync always`: an acknowledged write survives a SIGKILL), in the foreground.
 *
 *   const redis = await startRedis();
 *   ... cluster: { redis: redis.url } ...
 *   await redis.kill();     // SIGKILL
 *   await redis.restart();  // same port, same data dir: the AOF is replayed
 *   await redis.stop();
 *
 * Whatever is still running when the test process exits is killed; the temp dir goes then too
 * (daemon.ts's tempDir; CONFD_TEST_KEEP=1 keeps it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ROOT, tempDir } from './daemon.ts';
import { freePort } from './net.ts';
import { sleep } from './wait.ts';
import { killOnExit } from './children.ts';

export const REDIS_SERVER = process.env.CONFD_TEST_REDIS_SERVER ?? '/usr/bin/redis-server';
export const REDIS_CLI = process.env.CONFD_TEST_REDIS_CLI ?? '/usr/bin/redis-cli';

/** redis-server and redis-cli are required: a missing one is a failure, never a skip. */
export function requireRedis(): void {
  const missing = [
    [REDIS_SERVER, 'redis-server'],
    [REDIS_CLI, 'redis-tools'],
  ].filter(([bin]) => !existsSync(bin!));
  if (missing.length > 0) {
    throw new Error(
      `the cluster tests need ${missing.map(([bin, pkg]) => `${bin} (Debian package ${pkg})`).join(' and ')}: apt-get install --no-install-recommends redis-server redis-tools (see test/apt-packages.txt; npm test installs them)`,
    );
  }
}

export interface RedisOptions {
  /** requirepass: the url then carries it (redis://:PASSWORD@127.0.0.1:PORT), and cli() uses it. */
  password?: string;
  /** Lines appended to the generated redis.conf. */
  extraConfig?: string[];
}

export interface RunningRedis {
  /** redis://127.0.0.1:PORT (redis://:PASSWORD@127.0.0.1:PORT with a password) */
  readonly url: string;
  readonly port: number;
  readonly host: '127.0.0.1';
  /** Its data dir (the AOF is in DIR/appendonlydir) and redis.conf. */
  readonly dir: string;
  readonly config: string;
  /** The current process's pid (a restart changes it). */
  readonly pid: number;
  /** Everything the current process printed (its log goes to stdout). */
  log(): string;
  /** SIGTERM (Redis flushes the AOF and exits) and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and waits for the exit: only what was fsynced survives. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data dir (stopping it first if it runs) and waits for PING. */
  restart(): Promise<void>;
  /** Runs redis-cli against it; resolves with its trimmed stdout, rejects on an error reply or exit code. */
  cli(...args: string[]): Promise<string>;
}

const running = new Set<ChildProcess>();
// A test that throws half-way must not leave a redis-server behind.
process.on('exit', () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/**
 * A loopback port below Linux's ephemeral range (32768-60999: no outgoing socket, such as a client's
 * reconnect, takes it while the server is down for a restart) and away from the ranges the other
 * helpers use (mediasoup 20000-32767 in daemon.ts, coturn 61000-65499).
 */
const PORTS = [16_000, 20_000] as const;

const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** A PING (after AUTH) over a fresh connection: true on +PONG (not while Redis is still loading its AOF). */
function ping(port: number, password: string | undefined, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const lines = password === undefined ? 1 : 2;
    let reply = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write((password === undefined ? '' : resp('AUTH', password)) + resp('PING')));
    sock.setEncoding('utf8').on('data', (s: string) => {
      reply += s;
      const got = reply.split('\r\n');
      if (got.length > lines) done(got[lines - 1] === '+PONG');
    });
  });
}

/** The recipe docs/cluster.md gives for a cluster's Redis: every test Redis runs with it. */
export const REDIS_RECIPE = join(ROOT, 'config/redis/confd-redis.conf');

export function redisConfig(o: { port: number; dir: string; extra?: string[] }): string {
  return [
    '# Written by test/helpers/redis.ts: the recipe, then what a test Redis needs of its own.',
    `include ${REDIS_RECIPE}`,
    'bind 127.0.0.1',
    `port ${o.port}`,
    'daemonize no',
    `dir ${o.dir}`,
    // Its log to stdout, which the helper keeps for error messages.
    'logfile ""',
    ...(o.extra ?? []),
    '',
  ].join('\n');
}

/** Starts redis-server on a free loopback port with a temp data dir and waits until it answers PING. */
export async function startRedis(opts: RedisOptions = {}): Promise<RunningRedis> {
  requireRedis();
  const dir = tempDir('confd-redis-');
  const port = await freePort(PORTS);
  const config = join(dir, 'redis.conf');
  const extra = [...(opts.password === undefined ? [] : [`requirepass "${opts.password.replace(/[\\"]/g, '\\$&')}"`]), ...(opts.extraConfig ?? [])];
  writeFileSync(config, redisConfig({ port, dir, extra }), { mode: 0o600 });

  let proc!: ChildProcess;
  let out = '';
  let exited!: Promise<void>;
  const alive = () => proc.exitCode === null && proc.signalCode === null;

  async function launch(): Promise<void> {
    out = '';
    proc = killOnExit(spawn(REDIS_SERVER, [config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    running.add(proc);
    const p = proc;
    exited = new Promise<void>((r) => p.once('exit', () => r()));
    let spawnError: Error | null = null;
    p.once('error', (e) => (spawnError = e));
    p.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (spawnError || !alive()) {
        await exited.catch(() => {});
        running.delete(p);
        throw new Error(`redis-server exited before it answered PING (${spawnError ?? `code ${p.exitCode}, signal ${p.signalCode}`}):\n${out}`);
      }
      if (await ping(port, opts.password)) return;
      if (Date.now() > deadline) {
        await end('SIGKILL');
        throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} in time:\n${out}`);
      }
      await sleep(50);
    }
  }

  async function end(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    if (alive()) {
      proc.kill(signal);
      // A SIGTERM'd Redis writes its AOF and exits within moments; never wait for ever.
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(proc);
  }

  await launch();
  return {
    url: opts.password === undefined ? `redis://127.0.0.1:${port}` : `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${port}`,
    port,
    host: '127.0.0.1',
    dir,
    config,
    get pid() {
      return proc.pid!;
    },
    log: () => out,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    async restart() {
      await end('SIGTERM');
      await launch();
    },
    cli: (...args) =>
      new Promise<string>((resolve, reject) => {
        // -e: an error reply is exit code 1 (redis-cli exits 0 on one otherwise).
        const env = opts.password === undefined ? process.env : { ...process.env, REDISCLI_AUTH: opts.password };
        const c = spawn(REDIS_CLI, ['-e', '-h', '127.0.0.1', '-p', String(port), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        c.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
        c.once('error', reject);
        c.once('close', (code) => {
          if (code === 0) resolve(stdout.trim());
          else reject(new Error(`redis-cli ${args.join(' ')} failed (code ${code}): ${(stderr || stdout).trim()}`));
        });
      }),
  };
}
