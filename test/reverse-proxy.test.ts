/**
 * confd behind a real nginx configured from the shipped recipe (config/nginx/confd.conf, see
 * test/helpers/nginx.ts for the substitutions), over TLS with a throwaway certificate:
 *
 * - what the recipe forwards (Host, X-Forwarded-For, X-Forwarded-Proto, the WebSocket upgrade), read
 *   by a small upstream that records it, and its port-80 redirect;
 * - headless Chromium through nginx: the host logs in on /login, signalling runs over wss through
 *   nginx, a host and a guest page exchange audio and video;
 * - the client address comes from X-Forwarded-For only because nginx is in server.trustProxy (requests
 *   from 127.0.0.2 and 127.0.0.3: Linux routes all of 127/8 to lo), a forged X-Forwarded-For is
 *   ignored, and without trustProxy confd sees only the proxy;
 * - a Host that is not confd's is answered 421 through the proxy (the DNS-rebinding guard).
 *
 * nginx and openssl are required (test/apt-packages.txt): without them the tests fail with the apt
 * command. Without Chromium only the browser test is skipped, loudly, as in the other browser tests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, closePage, HAVE_CHROMIUM, launchChromium, hostView, joined, openPage, peerId, receivingFrom, skipWithoutChromium } from './helpers/browser.ts';
import { freePort } from './helpers/net.ts';
import { makeCert, removeCert, requireNginx, startNginx, type RunningNginx, type TestCert } from './helpers/nginx.ts';
import { waitFor } from './helpers/wait.ts';

announceMissingChromium('the reverse-proxy tests in Chromium');

const USER = 'alice';
const PW = 'alice-host-password-1';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTPS request to nginx on 127.0.0.1:PORT, the certificate checked against the test's own
 * (no "ignore errors"), from the given source address.
 */
function viaProxy(nx: RunningNginx, cert: TestCert, o: { method?: string; path: string; from?: string; headers?: Record<string, string>; body?: unknown }): Promise<Answer> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string | number> = { host: `localhost:${nx.port}`, ...o.headers };
  if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: nx.port, servername: 'localhost', ca: cert.pem, method: o.method ?? 'GET', path: o.path, headers, localAddress: o.from ?? '127.0.0.1', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const login = (nx: RunningNginx, cert: TestCert, from: string, headers: Record<string, string> = {}) =>
  viaProxy(nx, cert, { method: 'POST', path: '/login', from, headers, body: { username: USER, password: PW } });

type IpEntry = { ip: string; user: string };
const ips = async (d: RunningDaemon) => ((await d.admin('GET', '/v1/ips')).body as { ips: IpEntry[] }).ips;
/** The address of every successful host login, oldest first (the audit trail is in time order). */
const loginIps = async (d: RunningDaemon) => {
  const events = ((await d.admin('GET', '/v1/audit?limit=1000')).body as { events: { type: string; ip?: string }[] }).events;
  return events.filter((e) => e.type === 'login.ok').map((e) => e.ip);
};

/** A daemon with host protection behind nginx on `port` (its own port is any free one: d.listening). */
async function startProtected(port: number, trustProxy: string[]): Promise<{ d: RunningDaemon; upstream: string }> {
  const d = await startConfd({
    config: {
      server: { listen: '127.0.0.1', publicUrl: `https://localhost:${port}`, trustProxy },
      host: { protected: true },
      mediasoup: { workers: 1 }, // single-port media; startConfd picks a free mediasoup.port
    },
  });
  const r = await confctl(['--socket', d.socket, 'user', 'add', USER, '--password-stdin'], { input: PW });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(d.http, `https://localhost:${port}`);
  assert.match(d.listening, /^http:\/\/127\.0\.0\.1:\d+$/);
  return { d, upstream: d.listening };
}

async function stopDaemon(d: RunningDaemon | undefined): Promise<void> {
  if (!d) return;
  await d.stop();
  cleanup(dirname(d.dataDir));
}

describe('the nginx recipe (config/nginx/confd.conf)', { concurrency: false }, () => {
  let cert: TestCert | undefined;
  let nx: RunningNginx | undefined;
  let upstream: Server | undefined;
  const seen: { url: string; headers: IncomingHttpHeaders; peer: string }[] = [];

  before(async () => {
    requireNginx();
    cert = makeCert();
    upstream = createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers, peer: req.socket.remoteAddress! });
      req.resume();
      res.end('recorded');
    });
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
    nx = await startNginx({ upstream: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, cert });
  });
  after(async () => {
    await nx?.stop();
    if (cert) removeCert(cert);
    await new Promise((r) => (upstream ? upstream.close(r) : r(null)));
  });

  test('forwards the Host as sent, the client address appended to X-Forwarded-For, the scheme, and the WebSocket upgrade', async () => {
    const page = await viaProxy(nx!, cert!, { path: '/join/r?name=a', from: '127.0.0.2', headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(page.status, 200);
    assert.equal(page.body, 'recorded');
    assert.equal(page.headers['strict-transport-security'], 'max-age=63072000');
    const ws = await viaProxy(nx!, cert!, { path: '/ws?room=r', from: '127.0.0.3', headers: { host: 'Evil.Example:8443', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    assert.equal(ws.status, 200, 'the recorder answers the upgrade with a plain 200');

    assert.equal(seen.length, 2, JSON.stringify(seen));
    const [p, w] = seen;
    assert.equal(p!.url, '/join/r?name=a');
    assert.equal(p!.peer, '127.0.0.1', 'nginx connects from loopback: what server.trustProxy lists');
    assert.equal(p!.headers.host, `localhost:${nx!.port}`, 'the Host as the browser sent it, port included (the Origin check compares both)');
    assert.equal(p!.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.2', 'the client address appended on the right');
    assert.equal(p!.headers['x-forwarded-proto'], 'https');
    assert.equal(p!.headers.upgrade, undefined);

    assert.equal(w!.url, '/ws?room=r');
    assert.equal(w!.headers.host, 'Evil.Example:8443', 'any Host is passed on for confd to judge (421)');
    assert.equal(w!.headers['x-forwarded-for'], '127.0.0.3');
    assert.equal(w!.headers['x-forwarded-proto'], 'https');
    assert.equal(w!.headers.upgrade, 'websocket');
    assert.equal(w!.headers.connection, 'upgrade');
    assert.equal(w!.headers['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
  });

  test('plain http on the recipe\'s port-80 server is redirected to https', async () => {
    const res = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port: nx!.httpPort, path: '/join/r?name=a', headers: { host: 'evil.example' }, agent: false }, (r) => {
        r.resume();
        resolve({ status: r.statusCode!, location: r.headers.location });
      })
        .on('error', reject)
        .end();
    });
    assert.deepEqual(res, { status: 301, location: `https://localhost:${nx!.port}/join/r?name=a` });
    assert.equal(seen.length, 2, 'nothing reached the upstream');
  });
});

describe('confd behind nginx over TLS', { concurrency: false }, () => {
  let cert: TestCert | undefined;
  let d: RunningDaemon | undefined;
  let nx: RunningNginx | undefined;
  let browser: Browser | undefined;
  const problems: string[] = [];

  before(async () => {
    requireNginx();
    cert = makeCert();
    // confd's publicUrl names nginx's port, and nginx's upstream names confd's: the port first.
    const port = await freePort();
    const launch = HAVE_CHROMIUM
      ? // The throwaway certificate accepted by its key (as if a trusted CA issued it): ordinary https pages.
        launchChromium([`--ignore-certificate-errors-spki-list=${cert.spki}`])
      : undefined;
    const [started, launched] = await Promise.all([startProtected(port, ['127.0.0.1']), launch]);
    [d, browser] = [started.d, launched];
    nx = await startNginx({ upstream: started.upstream, cert, port });
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await nx?.stop();
    await stopDaemon(d);
    if (cert) removeCert(cert);
  });

  test('the host logs in on /login, signalling runs over wss through nginx, host and guest exchange audio and video', async (t) => {
    if (skipWithoutChromium(t)) return;
    const sockets: string[] = [];
    const host = await openPage(browser!, null, 'proxied/host', problems);
    host.on('websocket', (ws) => sockets.push(ws.url()));
    let guest: Page | undefined;
    try {
      const next = '/join/proxied?name=Hana';
      const res = await host.goto(`${nx!.url}/login?next=${encodeURIComponent(next)}`);
      assert.equal(res?.status(), 200);
      assert.equal(await host.evaluate(() => [location.origin, window.isSecureContext].join(' ')), `${nx!.url} true`);
      await host.fill('#login-user', USER);
      await host.fill('#login-password', PW);
      await host.click('#login-submit');
      await host.waitForURL((u) => u.pathname === '/join/proxied');
      await joined(host, 0);
      assert.equal((await hostView(host))?.role, 'host', 'host rights: the session and the address it logged in from agree through the proxy');

      guest = await openPage(browser!, null, 'proxied/guest', problems);
      guest.on('websocket', (ws) => sockets.push(ws.url()));
      await guest.goto(`${nx!.url}/join/proxied?name=Gus`);
      await Promise.all([joined(host, 1), joined(guest, 1)]);
      assert.equal((await hostView(guest))?.role, 'guest');
      const [hid, gid] = [await peerId(host), await peerId(guest)];
      await Promise.all([receivingFrom(host, [gid]), receivingFrom(guest, [hid])]);

      assert.equal(sockets.length, 2, JSON.stringify(sockets));
      for (const u of sockets) assert.ok(u.startsWith(`wss://localhost:${nx!.port}/ws?`), u);
      // The browser is on 127.0.0.1 like nginx: the authorised address is the one X-Forwarded-For names.
      assert.deepEqual((await ips(d!)).map((e) => [e.ip, e.user]), [['127.0.0.1', USER]]);
      assert.deepEqual(await loginIps(d!), ['127.0.0.1']);
    } finally {
      await Promise.all([closePage(host), guest ? closePage(guest) : null]);
    }
    assert.deepEqual(problems, []);
    // Both upgrades went through nginx, which saw them switch protocols (it logs a WebSocket when it closes).
    const upgraded = () => nx!.accessLog().split('\n').filter((l) => / "GET \/ws\?[^"]* HTTP\/1\.1" 101 /.test(l)).length;
    await waitFor('nginx to log both WebSockets', async () => upgraded(), (n) => n >= 2, 10_000);
    assert.equal(upgraded(), 2, nx!.accessLog());
  });

  test('the client address comes from X-Forwarded-For because nginx is trusted; a forged entry is ignored', async () => {
    const before = await loginIps(d!);
    const a = await login(nx!, cert!, '127.0.0.2');
    assert.equal(a.status, 200, a.body);
    assert.equal(JSON.parse(a.body).user, USER);
    const b = await login(nx!, cert!, '127.0.0.3', { 'x-forwarded-for': '203.0.113.9' });
    assert.equal(b.status, 200, b.body);
    assert.deepEqual(await loginIps(d!), [...before, '127.0.0.2', '127.0.0.3']);
    const table = (await ips(d!)).filter((e) => e.ip !== '127.0.0.1'); // the browser host's, if its grace has not run out
    assert.deepEqual(table.map((e) => [e.ip, e.user]).sort(), [
      ['127.0.0.2', USER],
      ['127.0.0.3', USER],
    ]);
    // The session is tied to that address: the same token from the proxy's own address is no host.
    const token = JSON.parse(a.body).token as string;
    const same = await viaProxy(nx!, cert!, { path: '/session', from: '127.0.0.2', headers: { authorization: `Bearer ${token}` } });
    assert.equal(same.status, 200, same.body);
    assert.equal(JSON.parse(same.body).user, USER);
    const other = await viaProxy(nx!, cert!, { path: '/session', from: '127.0.0.4', headers: { authorization: `Bearer ${token}` } });
    assert.equal(other.status, 401, other.body);
  });

  test('without server.trustProxy, behind the same recipe, confd records the proxy and ignores X-Forwarded-For', async () => {
    const port = await freePort();
    const { d: plain, upstream } = await startProtected(port, []);
    let nx2: RunningNginx | undefined;
    try {
      nx2 = await startNginx({ upstream, cert: cert!, port });
      const r = await login(nx2, cert!, '127.0.0.2', { 'x-forwarded-for': '203.0.113.9' });
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(await loginIps(plain), ['127.0.0.1']);
      assert.deepEqual((await ips(plain)).map((e) => [e.ip, e.user]), [['127.0.0.1', USER]]);
    } finally {
      await nx2?.stop();
      await stopDaemon(plain);
    }
  });

  test('a Host that is not publicUrl\'s is answered 421 through nginx, for the page and for the WebSocket', async () => {
    const misdirected = (host: string) => `this server does not answer to the name "${host}"; set server.publicUrl to the URL clients use (IP addresses and localhost always work)`;
    const ok = await viaProxy(nx!, cert!, { path: '/' });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /data-host-protected="1"/);
    for (const host of ['evil.example', `evil.example:${nx!.port}`, 'meet.example.org']) {
      const page = await viaProxy(nx!, cert!, { path: '/', headers: { host } });
      assert.equal(page.status, 421, `${host}: ${page.body}`);
      assert.deepEqual(JSON.parse(page.body), { error: { code: 'misdirected', message: misdirected(host) } });
      const login421 = await viaProxy(nx!, cert!, { method: 'POST', path: '/login', from: '127.0.0.5', headers: { host }, body: { username: USER, password: PW } });
      assert.equal(login421.status, 421, `${host}: ${login421.body}`);
      const ws = await viaProxy(nx!, cert!, {
        path: '/ws?room=r',
        headers: { host, origin: `https://${host}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      assert.equal(ws.status, 421, host);
    }
    assert.ok(!(await ips(d!)).some((e) => e.ip === '127.0.0.5'), 'no login got through under a foreign name');

    // HTTP/1.0 without any Host: nginx's $http_host is empty, so it sends none on, and confd refuses.
    const raw = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: nx!.port, servername: 'localhost', ca: cert!.pem }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
      let text = '';
      s.setEncoding('utf8').on('data', (c: string) => (text += c));
      s.on('end', () => resolve(text)).on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 421 Misdirected Request\r\n/, raw);
    assert.equal(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.message, misdirected(''));
  });
});

describe('a proxy that passes the name without the port (nginx $host on a port other than 443)', () => {
  let d: RunningDaemon | undefined;
  after(() => stopDaemon(d));

  test('an upgrade whose Origin is server.publicUrl\'s origin is accepted; any other port or scheme is 403', async () => {
    d = await startConfd({ config: { server: { publicUrl: 'https://localhost:8443' }, mediasoup: { workers: 1 } } });
    const upgrade = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(d!.listening);
        const req = httpRequest({
          host: u.hostname,
          port: Number(u.port),
          path: `/ws?room=r&peer=p1`,
          headers: { host: 'localhost', origin, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await upgrade('https://localhost:8443'), 101);
    for (const origin of ['https://localhost:9443', 'http://localhost:8443', 'https://evil.example:8443']) assert.equal(await upgrade(origin), 403, origin);
  });
});
