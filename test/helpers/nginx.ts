/**
 * A real nginx for the reverse-proxy tests, configured from the recipe users copy
 * (config/nginx/confd.conf): its server blocks are used as they are, with only the listen ports, the
 * server name, the certificate paths and the upstream substituted. If the recipe changes shape so that
 * a substitution no longer applies, startNginx throws rather than test something else.
 *
 * nginx runs in the foreground (`daemon off`) with every path it writes (pid, logs, temp files) in a
 * temp dir, on free loopback ports, with a throwaway self-signed certificate from openssl.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './daemon.ts';
import { freePort } from './net.ts';
import { sleep } from './wait.ts';
import { killOnExit } from './children.ts';

export const RECIPE = join(ROOT, 'config/nginx/confd.conf');
export const NGINX = process.env.CONFD_TEST_NGINX ?? '/usr/sbin/nginx';
export const OPENSSL = process.env.CONFD_TEST_OPENSSL ?? '/usr/bin/openssl';

/** nginx and openssl are required (test/apt-packages.txt): a missing one is a failure, never a skip. */
export function requireNginx(): void {
  const missing = [NGINX, OPENSSL].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(`the reverse-proxy tests need ${missing.join(' and ')}: apt-get install --no-install-recommends nginx openssl (see test/apt-packages.txt; npm test installs them)`);
  }
}

/** Everything started here goes when the test process exits, even after a failed test. */
const running = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const p of running) {
    try {
      process.kill(-p.pid!, 'SIGKILL'); // its own process group: the master and its workers
    } catch {
      /* already gone */
    }
  }
  if (process.env.CONFD_TEST_KEEP) return;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}


export interface TestCert {
  dir: string;
  cert: string;
  key: string;
  pem: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo, for Chromium's --ignore-certificate-errors-spki-list. */
  spki: string;
}

/** A throwaway self-signed certificate for localhost and 127.0.0.1, valid one day. */
export function makeCert(): TestCert {
  requireNginx();
  const dir = tempDir('confd-cert-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync(
    OPENSSL,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl req failed (${r.status}):\n${r.stderr}`);
  const pem = readFileSync(cert, 'utf8');
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return { dir, cert, key, pem, spki: createHash('sha256').update(der).digest('base64') };
}

export interface NginxOptions {
  /** e.g. http://127.0.0.1:41234: replaces the recipe's http://127.0.0.1:3010. */
  upstream: string;
  cert: TestCert;
  /** The TLS port (replaces 443); a free one when not given. */
  port?: number;
  /** Replaces meet.example.org (default localhost). */
  serverName?: string;
}

export interface RunningNginx {
  /** https://NAME:PORT */
  url: string;
  port: number;
  /** The plain-HTTP port of the recipe's redirect server (replaces 80). */
  httpPort: number;
  dir: string;
  /** The config nginx runs with (the recipe after substitution is in DIR/confd.conf). */
  config: string;
  errorLog: () => string;
  accessLog: () => string;
  stop(): Promise<void>;
}

/**
 * The recipe's text with the test's ports, name, certificate and upstream; every substitution must
 * match exactly as often as the recipe is written, and nothing of the production values may be left.
 */
export function deriveFromRecipe(recipe: string, o: { port: number; httpPort: number; serverName: string; cert: string; key: string; upstream: string }): string {
  let text = recipe.replace(/(^|\s)#.*$/gm, '$1'); // comments (they mention the production values too)
  const sub = (what: RegExp, to: string, times: number) => {
    const n = text.match(new RegExp(what.source, 'gm'))?.length ?? 0;
    if (n !== times) throw new Error(`${RECIPE}: expected ${times} match(es) of ${what} to substitute, found ${n}; update test/helpers/nginx.ts with the recipe`);
    text = text.replace(new RegExp(what.source, 'gm'), to);
  };
  // Loopback only, IPv4 only (a test machine may have no IPv6).
  sub(/^\s*listen \[::\]:443 ssl http2;\s*$/, '', 1);
  sub(/^\s*listen \[::\]:80;\s*$/, '', 1);
  sub(/^(\s*)listen 443 ssl http2;$/, `$1listen 127.0.0.1:${o.port} ssl http2;`, 1);
  sub(/^(\s*)listen 80;$/, `$1listen 127.0.0.1:${o.httpPort};`, 1);
  sub(/^(\s*)server_name meet\.example\.org;$/, `$1server_name ${o.serverName};`, 2);
  sub(/return 301 https:\/\/meet\.example\.org\$request_uri;/, `return 301 https://${o.serverName}:${o.port}$request_uri;`, 1);
  sub(/^(\s*)ssl_certificate \/etc\/letsencrypt\/live\/meet\.example\.org\/fullchain\.pem;$/, `$1ssl_certificate ${o.cert};`, 1);
  sub(/^(\s*)ssl_certificate_key \/etc\/letsencrypt\/live\/meet\.example\.org\/privkey\.pem;$/, `$1ssl_certificate_key ${o.key};`, 1);
  sub(/proxy_pass http:\/\/127\.0\.0\.1:3010;/, `proxy_pass ${o.upstream};`, 2);
  for (const left of [/meet\.example\.org/, /:3010\b/, /listen\s+(\S*:)?(443|80)\b/, /\[::\]/]) {
    if (left.test(text)) throw new Error(`${RECIPE}: ${left} still matches the derived config; update test/helpers/nginx.ts with the recipe:\n${text}`);
  }
  return text;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Starts nginx from the recipe; resolves when both its ports accept connections. */
export async function startNginx(opts: NginxOptions): Promise<RunningNginx> {
  requireNginx();
  const dir = tempDir('confd-nginx-');
  // Workers run as nobody when nginx is started by root: they must reach their temp dirs below.
  chmodSync(dir, 0o711);
  const port = opts.port ?? (await freePort());
  const httpPort = await freePort();
  const serverName = opts.serverName ?? 'localhost';
  const recipe = readFileSync(RECIPE, 'utf8');
  writeFileSync(join(dir, 'confd.conf'), deriveFromRecipe(recipe, { port, httpPort, serverName, cert: opts.cert.cert, key: opts.cert.key, upstream: opts.upstream }));
  const errorLog = join(dir, 'error.log');
  const accessLog = join(dir, 'access.log');
  // What Debian's /etc/nginx/nginx.conf sets around sites-enabled, minus everything outside the temp dir.
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    [
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'worker_processes 1;',
      'events { worker_connections 256; }',
      'http {',
      '  default_type application/octet-stream;',
      `  access_log ${accessLog};`,
      `  client_body_temp_path ${join(dir, 'client_body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      `  include ${join(dir, 'confd.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  // -e: the log for messages before the config is read (the compiled-in one is under /var/log).
  const proc = killOnExit(spawn(NGINX, ['-p', dir, '-e', errorLog, '-c', config, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
  running.add(proc);
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => (running.delete(proc), r(code))));
  const readLog = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await exited;
      throw new Error(`nginx exited (${proc.exitCode ?? proc.signalCode}) before listening:\n${out}\n${readLog(errorLog)}`);
    }
    if ((await portOpen(port)) && (await portOpen(httpPort))) break;
    if (Date.now() > deadline) {
      process.kill(-proc.pid!, 'SIGKILL');
      await exited;
      throw new Error(`nginx did not listen on 127.0.0.1:${port} and :${httpPort} in time:\n${out}\n${readLog(errorLog)}`);
    }
    await sleep(50);
  }

  return {
    url: `https://${serverName}:${port}`,
    port,
    httpPort,
    dir,
    config,
    errorLog: () => readLog(errorLog),
    accessLog: () => readLog(accessLog),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        process.kill(-proc.pid!, 'SIGTERM'); // fast shutdown of the master and its workers
        const timer = setTimeout(() => {
          try {
            process.kill(-proc.pid!, 'SIGKILL');
          } catch {
            /* gone meanwhile */
          }
        }, 5_000);
        await exited;
        clearTimeout(timer);
      }
      if (!process.env.CONFD_TEST_KEEP) {
        rmSync(dir, { recursive: true, force: true });
        dirs.delete(dir);
      }
    },
  };
}

/** Removes a certificate made by makeCert. */
export function removeCert(c: TestCert): void {
  rmSync(c.dir, { recursive: true, force: true });
  dirs.delete(c.dir);
}
