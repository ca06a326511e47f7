/**
 * A real coturn `turnserver` (Debian package coturn, listed in test/apt-packages.txt) on free loopback
 * ports, configured from the recipe users copy, config/coturn/turnserver.conf: every line of it is
 * kept except the few a test has to substitute (ports, secret, realm, where it logs and keeps its pid
 * and database, TLS), and the loopback allowances a test on 127.0.0.1 needs are added (see LOOPBACK).
 *
 *   const turn = await startCoturn({ secret });
 *   ... turn:127.0.0.1:${turn.port}?transport=udp ...
 *   await turn.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './daemon.ts';
import { freePort } from './net.ts';
import { binding } from './turn-client.ts';
import { sleep } from './wait.ts';
import { killOnExit } from './children.ts';

export const RECIPE = join(ROOT, 'config/coturn/turnserver.conf');
export const TURNSERVER = process.env.CONFD_TEST_TURNSERVER ?? 'turnserver';

/** Recipe lines replaced by the test's own values (the recipe's are placeholders for a real deployment). */
const SUBSTITUTED = new Set([
  'static-auth-secret', // the test's secret
  'realm',
  'listening-port', // a free loopback port instead of 3478
  'tls-listening-port', // no TLS here: the recipe's cert/pkey paths do not exist on a test machine
  'cert',
  'pkey',
  'min-port', // a relay port window of its own
  'max-port',
  'allowed-peer-ip', // the recipe's placeholder media address; the test's media server is on 127.0.0.1
  'syslog', // logs go to the test (stdout), not to the machine's system log
  'log-file',
  'pidfile',
  'userdb',
]);

/** Lines the recipe must have for the substitution above to mean anything (a renamed key fails loudly). */
const EXPECTED = ['use-auth-secret', 'static-auth-secret', 'realm', 'listening-port', 'min-port', 'max-port', 'allowed-peer-ip', 'denied-peer-ip', 'no-cli', 'fingerprint'];

export interface RecipeLine {
  key: string;
  value: string | null;
  line: string;
}

/** The recipe's settings: `key=value` or bare flags, comments and blank lines dropped. */
export function readRecipe(file = RECIPE): RecipeLine[] {
  const out: RecipeLine[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    out.push(eq < 0 ? { key: line, value: null, line } : { key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line });
  }
  return out;
}

export interface CoturnOptions {
  /** static-auth-secret (default: 32 random hex bytes). */
  secret?: string;
  realm?: string;
}

export interface Coturn {
  proc: ChildProcess;
  /** UDP and TCP listening port on 127.0.0.1. */
  port: number;
  host: '127.0.0.1';
  secret: string;
  realm: string;
  /** The relay port window [min, max]. */
  relayPorts: [number, number];
  /** The config file the server runs with (derived from the recipe). */
  config: string;
  dir: string;
  /** Everything it printed so far (its log goes to stdout). */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// A test that throws half-way must not leave a turnserver behind.
process.on('exit', () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** Fails loudly (never skips) when coturn is not installed. */
export function requireTurnserver(): void {
  const r = spawnSync(TURNSERVER, ['-h'], { stdio: 'ignore' });
  if (r.error) {
    throw new Error(`${TURNSERVER} (coturn) is not installed or not on PATH (${(r.error as NodeJS.ErrnoException).code}): apt-get install coturn (it is in test/apt-packages.txt; npm test installs it)`);
  }
}

/**
 * Ports above Linux's ephemeral range (32768-60999: no outgoing socket takes one between the check and
 * the bind) and away from the 20000-32767 that test/helpers/daemon.ts gives mediasoup: the listening
 * port in 61000-61999, the relay window in 62000-65499.
 */
const PORTS = [61_000, 62_000] as const;

export function deriveConfig(o: { port: number; secret: string; realm: string; relayPorts: [number, number]; dir: string }): string {
  const recipe = readRecipe();
  const keys = new Set(recipe.map((l) => l.key));
  const missing = EXPECTED.filter((k) => !keys.has(k));
  if (missing.length) throw new Error(`${RECIPE} lacks ${missing.join(', ')}: test/helpers/coturn.ts derives the test config from it`);
  const kept = recipe.filter((l) => !SUBSTITUTED.has(l.key)).map((l) => l.line);
  return [
    `# Derived by test/helpers/coturn.ts from ${RECIPE}: its lines except ${[...SUBSTITUTED].join(', ')}.`,
    ...kept,
    '',
    '# ---- substituted for the test ----',
    `static-auth-secret=${o.secret}`,
    `realm=${o.realm}`,
    'listening-ip=127.0.0.1',
    `listening-port=${o.port}`,
    // Relayed addresses on loopback too, so that they reach the test's media server on 127.0.0.1.
    'relay-ip=127.0.0.1',
    `min-port=${o.relayPorts[0]}`,
    `max-port=${o.relayPorts[1]}`,
    // Plain TURN (UDP, TCP) only: the recipe's TLS certificate does not exist here.
    'no-tls',
    // The test's media server (confd's mediasoup) listens on 127.0.0.1, which the recipe denies twice:
    // coturn refuses loopback peers outright unless allow-loopback-peers is set (checked before any
    // allow/deny list), and the recipe's denied-peer-ip (every address) needs this one
    // address allowed back, exactly as a deployment allows its media server's address.
    'allow-loopback-peers',
    'allowed-peer-ip=127.0.0.1',
    'log-file=stdout',
    // Session events (allocations with their usernames) in the log, which the tests read.
    'verbose',
    `pidfile=${join(o.dir, 'turnserver.pid')}`,
    // Its SQLite user database (unused with use-auth-secret, but opened anyway) in the temp dir, not /var/lib/turn.
    `userdb=${join(o.dir, 'turndb')}`,
    '',
  ].join('\n');
}

/** Starts turnserver on free loopback ports and waits until it answers STUN on UDP and TCP. */
export async function startCoturn(opts: CoturnOptions = {}): Promise<Coturn> {
  requireTurnserver();
  const secret = opts.secret ?? randomBytes(32).toString('hex');
  const realm = opts.realm ?? 'confd.test';
  const dir = tempDir('confd-coturn-');
  // coturn moves on to another port of the window when one is taken.
  const relayBase = randomInt(62_000, 65_300);
  const relayPorts: [number, number] = [relayBase, relayBase + 199];
  const port = await freePort(PORTS);
  const config = join(dir, 'turnserver.conf');
  writeFileSync(config, deriveConfig({ port, secret, realm, relayPorts, dir }), { mode: 0o600 });

  const proc = killOnExit(spawn(TURNSERVER, ['-c', config, '--pidfile', join(dir, 'turnserver.pid'), '--log-file', 'stdout'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
  running.add(proc);
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let spawnError: Error | null = null;
  proc.once('error', (e) => (spawnError = e));

  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(proc);
    if (!process.env.CONFD_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (spawnError || proc.exitCode !== null || proc.signalCode !== null) {
      await stop();
      throw new Error(`turnserver exited before it listened (${spawnError ?? `code ${proc.exitCode}, signal ${proc.signalCode}`}):\n${out}`);
    }
    try {
      await binding('udp', '127.0.0.1', port, 300);
      await binding('tcp', '127.0.0.1', port, 300);
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`turnserver did not answer STUN on 127.0.0.1:${port} (UDP and TCP) in time:\n${out}`);
      }
      await sleep(100);
    }
  }
  return { proc, port, host: '127.0.0.1', secret, realm, relayPorts, config, dir, log: () => out, stop };
}
