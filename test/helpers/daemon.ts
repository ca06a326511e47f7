/**
 * Test harness: real confd processes on temp data dirs, real Unix sockets, real confctl runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { adminRequest, type AdminResponse } from '../../src/admin/client.ts';
import { canBind } from './net.ts';
import { killOnExit } from './children.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CONFD = join(ROOT, 'bin/confd');
export const CONFCTL = join(ROOT, 'bin/confctl');

const madeDirs = new Set<string>();
// A test that fails half-way (or forgets) must not leave data dirs behind in /tmp: each test file runs
// in its own process, so whatever is left when it exits goes. CONFD_TEST_KEEP=1 keeps them to look at.
process.on('exit', () => {
  if (process.env.CONFD_TEST_KEEP) return;
  for (const d of madeDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* e.g. still immutable after a failed test: nothing more to do at exit */
    }
  }
});

export function tempDir(prefix = 'confd-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

export interface RunningDaemon {
  proc: ChildProcess;
  dataDir: string;
  socket: string;
  /** e.g. http://127.0.0.1:41234 (server.publicUrl when one is set) */
  http: string;
  /** The address the daemon bound, e.g. http://127.0.0.1:41234, publicUrl or not. */
  listening: string;
  /** Every stdout line so far, parsed when it is JSON. */
  logs: any[];
  stdout: () => string;
  stderr: () => string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill9(): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  admin(method: string, path: string, body?: unknown): Promise<AdminResponse>;
}

export interface StartOptions {
  dataDir?: string;
  /** Written to DATA_DIR/../config.json and passed with --config. */
  config?: Record<string, unknown>;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Use --port 0 (default true). */
  anyPort?: boolean;
  timeoutMs?: number;
  /** Node options before the launcher, e.g. ['--import', PRELOAD] (npm run soak's probe). */
  nodeArgs?: string[];
}

function collect(proc: ChildProcess) {
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  return { out: () => out, err: () => err };
}

export function parseLogLines(text: string): any[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { raw: l };
      }
    });
}

/**
 * A base port whose next `count` ports are free on UDP and TCP, for `mediasoup.port` (worker i on
 * base + i): test daemons run side by side and must not all take the default 10000. Below the kernel's
 * ephemeral range (32768-60999), so outgoing connections don't take them between the check and the bind.
 */
export async function freeMediaPort(count = availableParallelism(), ip = '0.0.0.0'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 12000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = await canBind(base + i, ip);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free UDP+TCP ports found in 20000-32767`);
}

/** Spawns `confd start` and waits for its "confd ready" line. Rejects (with its output) if it exits first. */
/** Past the daemon's own per-step shutdown bound (12 s) with room for a slow machine. */
const STOP_DEADLINE_MS = 60_000;

export async function startConfd(opts: StartOptions = {}): Promise<RunningDaemon> {
  const dataDir = opts.dataDir ?? join(tempDir(), 'data');
  const args = ['start', '--data-dir', dataDir];
  if (opts.anyPort !== false) args.push('--port', '0');
  const ownConfig = (opts.args ?? []).includes('--config') || (opts.env?.CONFD_CONFIG ?? '') !== '';
  let config = opts.config;
  const media = (config?.mediasoup ?? {}) as Record<string, unknown>;
  if (!ownConfig && !('port' in media)) {
    const workers = typeof media.workers === 'number' ? media.workers : availableParallelism();
    config = { ...config, mediasoup: { ...media, port: await freeMediaPort(workers) } };
  }
  if (config) {
    const file = join(resolve(dataDir, '..'), 'config.json');
    writeFileSync(file, JSON.stringify(config));
    args.push('--config', file);
  }
  args.push(...(opts.args ?? []));
  const proc = killOnExit(spawn(process.execPath, [...(opts.nodeArgs ?? []), CONFD, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, CONFD_CONFIG: '', CONFD_SOCKET: '', CONFD_DATA_DIR: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const io = collect(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));

  const ready = await new Promise<any>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      // Not left running: its pipes would keep this test file alive after the failure.
      proc.kill('SIGKILL');
      reject(new Error(`confd did not become ready in time\nstdout:\n${io.out()}\nstderr:\n${io.err()}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = () => {
      const line = parseLogLines(io.out()).find((l) => l.msg === 'confd ready');
      if (line) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolvePromise(line);
      }
    };
    proc.stdout!.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`confd exited (code ${code}, signal ${signal}) before ready\nstdout:\n${io.out()}\nstderr:\n${io.err()}`), { code, stdout: io.out(), stderr: io.err() }));
    });
  });

  const d: RunningDaemon = {
    proc,
    dataDir,
    socket: ready.socket,
    http: ready.http,
    listening: ready.listening,
    get logs() {
      return parseLogLines(io.out());
    },
    stdout: io.out,
    stderr: io.err,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      // The daemon bounds each shutdown step itself; a process still here long after is a defect to
      // report, not a test run to hang.
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<null>((r) => (timer = setTimeout(() => r(null), STOP_DEADLINE_MS)));
      const done = await Promise.race([exited, hung]);
      clearTimeout(timer);
      if (done) return done.code;
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`confd did not exit within ${STOP_DEADLINE_MS / 1000} s of ${signal}; its last lines:\n${io.out().split('\n').slice(-15).join('\n')}`);
    },
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
    admin: (method, path, body) => adminRequest(ready.socket, method, path, body),
  };
  return d;
}

/** Expects `confd start` to fail; resolves with its exit code and output. */
export function runConfd(args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode(CONFD, args, opts);
}

export function confctl(args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode(CONFCTL, args, opts);
}

function runNode(script: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number }) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [script, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, CONFD_CONFIG: '', CONFD_SOCKET: '', CONFD_DATA_DIR: '', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const io = collect(proc);
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} timed out\nstdout:\n${io.out()}\nstderr:\n${io.err()}`));
    }, opts.timeoutMs ?? 30_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolvePromise({ code, stdout: io.out(), stderr: io.err() }));
    });
    // A command that exits at once (a usage error) may close its stdin before we write to it: EPIPE
    // then says nothing about the command, and must not fail the test as an unhandled error.
    proc.stdin!.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    proc.stdin!.end(opts.input ?? '');
  });
}

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
