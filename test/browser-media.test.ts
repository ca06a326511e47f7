/**
 * The guest web page in a real browser against a real daemon: Debian's Chromium (apt, see
 * test/apt-packages.txt) driven by playwright-core, with fake camera and microphone, media going
 * through the daemon's mediasoup SFU over loopback.
 *
 * Every page gets its own browser context (its own storage, like a separate browser profile); the
 * browser itself starts on a fresh temporary user data dir that playwright creates and removes.
 * Set CONFD_SCREENSHOT_DIR to keep a screenshot of a two-person room.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { CHROMIUM, closePage, type PeerStats, HAVE_CHROMIUM, joined, launchChromium, openPage as openPageIn, peerId, peers, peerStats, receivingFrom, stalled, state, stats } from './helpers/browser.ts';
import { sleep, waitFor } from './helpers/wait.ts';

/** Debian's browsers (Chromium's launch is test/helpers/browser.ts's); CONFD_TEST_FIREFOX points elsewhere (or at nothing, to try the skip). */
const FIREFOX = process.env.CONFD_TEST_FIREFOX ?? '/usr/bin/firefox-esr';
const HAVE_FIREFOX = existsSync(FIREFOX);

if (!HAVE_CHROMIUM) {
  console.log(`\n########## SKIPPED: browser-media tests need ${CHROMIUM} (apt-get install chromium; see test/apt-packages.txt) ##########\n`);
}

function skipped(t: TestContext): boolean {
  if (HAVE_CHROMIUM) return false;
  console.log(`SKIPPED (no ${CHROMIUM}): ${t.name}`);
  t.skip(`${CHROMIUM} is not installed`);
  return true;
}

/**
 * Firefox ESR through WebDriver BiDi, spoken directly: playwright-core's Firefox driver needs
 * Playwright's own Firefox build, and its BiDi driver sends commands Firefox ESR does not know yet
 * (emulation.setMediaFeaturesOverride), so it cannot open a page there.
 */
class BidiFirefox {
  #proc: ChildProcess;
  #ws!: WebSocket;
  #profile: string;
  #nextId = 0;
  #pending = new Map<number, (m: any) => void>();
  context = '';
  readonly errors: string[] = [];

  private constructor(proc: ChildProcess, profile: string) {
    this.#proc = proc;
    this.#profile = profile;
  }

  static async launch(): Promise<BidiFirefox> {
    const profile = mkdtempSync(join(tmpdir(), 'confd-firefox-'));
    const prefs: Record<string, unknown> = {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      'browser.shell.checkDefaultBrowser': false,
      'datareporting.policy.dataSubmissionEnabled': false,
      'toolkit.telemetry.reportingpolicy.firstRun': false,
      'browser.startup.homepage_override.mstone': 'ignore',
      'app.update.enabled': false,
      'network.captive-portal-service.enabled': false,
    };
    writeFileSync(join(profile, 'user.js'), Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n'));
    const proc = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' } });
    const ff = new BidiFirefox(proc, profile);
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`firefox-esr did not start its WebDriver BiDi server:\n${err}`)), 30_000);
      proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
        err += c;
        const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`firefox-esr exited (${code}):\n${err}`));
      });
    });
    ff.#ws = new WebSocket(`${url}/session`);
    await new Promise((resolve, reject) => ff.#ws.once('open', resolve).once('error', reject));
    ff.#ws.on('message', (raw) => {
      const m = JSON.parse(String(raw));
      if (typeof m.id === 'number') {
        ff.#pending.get(m.id)?.(m);
        ff.#pending.delete(m.id);
      } else if (m.method === 'log.entryAdded' && m.params?.level === 'error') {
        ff.errors.push(`${m.params.type}: ${m.params.text}`);
      }
    });
    await ff.send('session.new', { capabilities: {} });
    await ff.send('session.subscribe', { events: ['log.entryAdded'] });
    ff.context = (await ff.send('browsingContext.getTree', {})).contexts[0].context;
    return ff;
  }

  send(method: string, params: unknown): Promise<any> {
    return new Promise((resolve, reject) => {
      const id = ++this.#nextId;
      this.#pending.set(id, (m) => (m.type === 'error' ? reject(new Error(`${method}: ${m.error}: ${m.message}`)) : resolve(m.result)));
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async goto(url: string): Promise<void> {
    await this.send('browsingContext.navigate', { context: this.context, url, wait: 'complete' });
  }

  /** Evaluates an expression (awaiting promises) and returns its JSON-serialised value, parsed. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send('script.evaluate', { expression: `Promise.resolve(${expression}).then((v) => JSON.stringify(v))`, target: { context: this.context }, awaitPromise: true, resultOwnership: 'none' });
    if (r.type !== 'success') throw new Error(`evaluate failed: ${JSON.stringify(r.exceptionDetails)}`);
    return JSON.parse(r.result.value) as T;
  }

  async close(): Promise<void> {
    this.#ws?.close();
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) {
      const exited = new Promise((r) => this.#proc.once('exit', r));
      this.#proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (this.#proc.exitCode === null && this.#proc.signalCode === null) this.#proc.kill('SIGKILL');
    }
    rmSync(this.#profile, { recursive: true, force: true });
  }
}

/** Stops a daemon this file started and removes its temporary directory. */
async function stopDaemon(d: RunningDaemon): Promise<void> {
  await d.stop();
  cleanup(dirname(d.dataDir));
}

/** Firefox gathers no loopback ICE candidates, so for it the SFU must listen on a real interface. */
function nonLoopbackIpv4(): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

type Remote = { id: string; displayName: string; audio: string; video: string; screen: boolean };

let browser: Browser | undefined;
let daemon: RunningDaemon | undefined;
/** Messages from pages that must not happen: uncaught exceptions and console errors. */
const pageProblems: string[] = [];

const remote = (p: Page) => p.evaluate(() => window.confd.remote()) as Promise<Remote[]>;
const openPage = (url: string, label: string) => openPageIn(browser!, url, label, pageProblems);

test('web page HTTP: content types, caching and security headers', async () => {
  const d = await startConfd();
  try {
    const home = await fetch(`${d.http}/`);
    assert.equal(home.status, 200);
    assert.equal(home.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(home.headers.get('cache-control'), 'no-store');
    const csp = home.headers.get('content-security-policy') ?? '';
    for (const part of ["script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"]) assert.ok(csp.includes(part), `CSP has ${part}: ${csp}`);
    assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/);
    assert.equal(home.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(home.headers.get('x-content-type-options'), 'nosniff');
    const html = await home.text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script');
    const js = html.match(/src="(\/assets\/app\.js\?v=[^"]+)"/)?.[1];
    assert.ok(js, 'the page loads the bundle');

    const a = await fetch(`${d.http}${js}`);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(a.headers.get('cache-control') ?? '', /immutable/);
    const etag = a.headers.get('etag');
    assert.ok(etag && (await a.arrayBuffer()).byteLength > 10_000);
    const again = await fetch(`${d.http}/assets/app.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('cache-control'), 'no-cache', 'unversioned URLs revalidate');
    const css = await fetch(`${d.http}/assets/style.css`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');

    const room = await fetch(`${d.http}/join/standup?name=%3Cb%3E`);
    assert.equal(room.status, 200);
    assert.match(await room.text(), /data-room="standup"/);
    const query = await fetch(`${d.http}/join/?room=standup&audio=0`);
    assert.match(await query.text(), /data-room="standup"/);
    const bad = await fetch(`${d.http}/join/%3Cscript%3E`);
    assert.equal(bad.status, 400);
    assert.doesNotMatch(await bad.text(), /<script>/, 'the bad room name is escaped');
    const creds = await fetch(`${d.http}/join/standup?username=a&password=b`);
    assert.equal(creds.status, 400);
    assert.match(await creds.text(), /Credentials are not accepted in links/);
    assert.equal((await fetch(`${d.http}/nope`)).status, 404, 'other paths are left to other handlers');
  } finally {
    await stopDaemon(d);
  }
});

describe('guest web page with real browsers', { concurrency: false }, () => {
  before(async () => {
    if (!HAVE_CHROMIUM) return;
    [daemon, browser] = await Promise.all([startConfd(), launchChromium()]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    if (daemon) await stopDaemon(daemon);
  });

  test('home page renders and its form leads to /join/ROOM', async (t) => {
    if (skipped(t)) return;
    const page = await openPage(`${daemon!.http}/`, 'home');
    try {
      assert.equal(await page.locator('h1').innerText(), 'confd');
      const suggested = await page.locator('#home-room').inputValue();
      assert.match(suggested, /^room-[a-z0-9]+$/, 'a room name is suggested');
      await page.fill('#home-room', 'alpha-1');
      await page.fill('#home-name', 'Ann Lee');
      await page.click('#home-join');
      await page.waitForURL((u) => u.pathname === '/join/alpha-1');
      assert.equal(new URL(page.url()).searchParams.get('name'), 'Ann Lee');
      await joined(page, 0);
      assert.match(await page.locator('.tile.local .name').innerText(), /Ann Lee \(you\)/);
    } finally {
      await closePage(page);
    }
  });

  test('two pages exchange audio and video; pausing, reload and leaving are seen by the other', async (t) => {
    if (skipped(t)) return;
    const a = await openPage(`${daemon!.http}/join/duo?name=Ann`, 'duo/Ann');
    const b = await openPage(`${daemon!.http}/join/?room=duo&name=Bob&audio=1&video=true`, 'duo/Bob');
    try {
      await Promise.all([joined(a, 1), joined(b, 1)]);
      const [ida, idb] = [await peerId(a), await peerId(b)];
      assert.deepEqual(await peers(a), [idb]);
      assert.deepEqual(await peers(b), [ida]);
      await Promise.all([receivingFrom(a, [idb]), receivingFrom(b, [ida])]);
      assert.equal(await b.locator(`.tile[data-peer="${ida}"] .name`).innerText(), 'Ann');
      assert.equal(await b.locator(`.tile[data-peer="${ida}"]`).getAttribute('data-video'), 'on');

      if (process.env.CONFD_SCREENSHOT_DIR) await a.screenshot({ path: join(process.env.CONFD_SCREENSHOT_DIR, 'confd-2peer.png') });

      // Camera off on Ann's page: Bob's consumer is paused, his tile shows the avatar, bytes stop.
      await a.click('#btn-cam');
      await waitFor('the camera button to flip', () => a.locator('#btn-cam').innerText(), (v) => v === 'Start video');
      await waitFor('Bob to see Ann\'s camera paused', () => remote(b), (r) => r[0]?.video === 'paused');
      await waitFor('Bob\'s tile to show camera off', () => b.locator(`.tile[data-peer="${ida}"]`).getAttribute('data-video'), (v) => v === 'off');
      await stalled(b, ida, 'video');
      // Mic muted on Ann's page: same for audio, and the "muted" badge shows.
      await a.click('#btn-mic');
      await waitFor('Bob to see Ann muted', () => remote(b), (r) => r[0]?.audio === 'paused');
      assert.ok(await b.locator(`.tile[data-peer="${ida}"] .mic-off`).isVisible(), 'muted badge visible');
      await stalled(b, ida, 'audio');
      if (process.env.CONFD_SCREENSHOT_DIR) await b.screenshot({ path: join(process.env.CONFD_SCREENSHOT_DIR, 'confd-2peer-muted.png') });
      // Both back on: media flows again (the camera restarts with a new track).
      await a.click('#btn-cam');
      await a.click('#btn-mic');
      await waitFor('Bob to see Ann live again', () => remote(b), (r) => r[0]?.video === 'live' && r[0]?.audio === 'live');
      const before = (await peerStats(b))[ida]!;
      await waitFor('Ann\'s media to flow again', () => peerStats(b), (s) => s[ida]!.videoBytesReceived > before.videoBytesReceived + 5000 && s[ida]!.audioBytesReceived > before.audioBytesReceived);

      // A reload keeps the peer id (the server lets the same session replace its old connection).
      await b.reload();
      await joined(b, 1);
      assert.equal(await peerId(b), idb, 'same peer id after reload');
      await waitFor('Ann to see exactly one Bob', () => peers(a), (p) => p.length === 1 && p[0] === idb);
      await receivingFrom(a, [idb]);

      // Leaving: the other page sees the peer go.
      await b.click('#btn-leave');
      assert.equal(await state(b), 'left');
      assert.ok(await b.locator('#message').isVisible());
      await waitFor('Ann to see Bob leave', () => peers(a), (p) => p.length === 0);
      assert.equal(await a.locator(`.tile[data-peer="${idb}"]`).count(), 0, 'Bob\'s tile is gone');
    } finally {
      await Promise.all([closePage(a), closePage(b)]);
    }
  });

  test('three pages: each receives the other two; a kicked page says so', async (t) => {
    if (skipped(t)) return;
    const pages: Page[] = [];
    for (const name of ['Ann', 'Bob', 'Cy']) pages.push(await openPage(`${daemon!.http}/join/trio?name=${name}&notify=1`, `trio/${name}`));
    try {
      await Promise.all(pages.map((p) => joined(p, 2)));
      const ids = await Promise.all(pages.map(peerId));
      assert.equal(new Set(ids).size, 3);
      await Promise.all(pages.map((p, i) => receivingFrom(p, ids.filter((_, j) => j !== i))));
      assert.match(await pages[0]!.locator('.notice').first().innerText(), /Invite others with this link: .*\/join\/trio/);

      // Screen sharing (fake capture): the others get a separate screen tile, which goes when it stops.
      await pages[0]!.click('#btn-screen');
      await Promise.all(pages.slice(1).map((p) => waitFor('a screen tile', () => p.locator(`.tile.screen[data-peer="${ids[0]}"]`).count(), (n) => n === 1)));
      await waitFor('screen media', () => peerStats(pages[1]!), (st) => st[ids[0]!]!.videoBytesReceived > 0);
      await pages[0]!.click('#btn-screen');
      await Promise.all(pages.slice(1).map((p) => waitFor('the screen tile to go', () => p.locator(`.tile.screen[data-peer="${ids[0]}"]`).count(), (n) => n === 0)));

      const kicked = await daemon!.admin('POST', '/v1/rooms/trio/kick', { peer: ids[2] });
      assert.equal(kicked.status, 200, JSON.stringify(kicked.body));
      await waitFor('the kicked page to say so', () => state(pages[2]!), (s) => s === 'closed');
      assert.match(await pages[2]!.locator('#message-title').innerText(), /removed/i);
      await Promise.all(pages.slice(0, 2).map((p) => waitFor('the others to see the kicked peer go', () => peers(p), (l) => l.length === 1)));
    } finally {
      await Promise.all(pages.map(closePage));
    }
  });

  test('when the media worker dies, the pages rejoin by themselves and media flows again', async (t) => {
    if (skipped(t)) return;
    const a = await openPage(`${daemon!.http}/join/phoenix?name=Ann`, 'phoenix/Ann');
    const b = await openPage(`${daemon!.http}/join/phoenix?name=Bob`, 'phoenix/Bob');
    try {
      await Promise.all([joined(a, 1), joined(b, 1)]);
      const [ida, idb] = [await peerId(a), await peerId(b)];
      await receivingFrom(b, [ida]);
      const rooms = await daemon!.admin('GET', '/v1/rooms');
      const pid = (rooms.body as { rooms: { name: string; workerPid: number }[] }).rooms.find((r) => r.name === 'phoenix')?.workerPid;
      assert.ok(pid, JSON.stringify(rooms.body));
      process.kill(pid, 'SIGKILL'); // a worker of the daemon this test started
      await waitFor('a page to notice', () => state(a), (s) => s === 'reconnecting');
      assert.match(await a.locator('.notice').first().innerText(), /media server restarted/i);
      await Promise.all([joined(a, 1), joined(b, 1)]);
      assert.equal(await peerId(a), ida, 'same peer id after rejoining');
      await Promise.all([receivingFrom(a, [idb]), receivingFrom(b, [ida])]);
    } finally {
      await Promise.all([closePage(a), closePage(b)]);
    }
  });

  test('username/password in the link get a refusal page', async (t) => {
    if (skipped(t)) return;
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(`${daemon!.http}/join/r?name=x&username=alice&password=secret`);
      assert.equal(res?.status(), 400);
      assert.match(await page.locator('#message-title').innerText(), /Credentials are not accepted/);
      await waitFor('the credentials to leave the address bar', async () => page.url(), (u) => !u.includes('secret') && !u.includes('username'));
      assert.equal(new URL(page.url()).searchParams.get('name'), 'x');
    } finally {
      await context.close();
    }
  });

  test('a join token moves to sessionStorage.peer_token and out of the address bar', async (t) => {
    if (skipped(t)) return;
    const issued = await daemon!.admin('POST', '/v1/tokens', { room: 'tok' });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const token = (issued.body as { token: string }).token;
    const page = await openPage(`${daemon!.http}/join/tok?name=T&token=${encodeURIComponent(token)}&video=0`, 'tok');
    try {
      await joined(page, 0);
      const url = new URL(page.url());
      assert.equal(url.searchParams.has('token'), false, 'token removed from the URL');
      assert.equal(url.pathname, '/join/tok');
      assert.equal(url.searchParams.get('name'), 'T', 'other parameters stay');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('peer_token')), token);
      assert.deepEqual(await page.evaluate(() => window.confd.local()), { mic: true, webcam: false, screen: false }, 'video=0 starts with the camera off');
    } finally {
      await closePage(page);
    }
  });

  test('with user_auth, a bad or missing token shows a clear refusal on the page', async (t) => {
    if (skipped(t)) return;
    const strict = await startConfd({ config: { host: { user_auth: true } } });
    const page = await openPage(`${strict.http}/join/r?token=garbage&name=x`, 'strict');
    try {
      await waitFor('refusal', () => state(page), (s) => s === 'refused');
      assert.ok(await page.locator('#message').isVisible(), 'the message box is shown');
      assert.match(await page.locator('#message-title').innerText(), /Could not join/);
      assert.match(await page.locator('#message-text').innerText(), /damaged|token/i);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('peer_token')), 'garbage');
      // Without any token: the server's reason is shown too.
      await page.evaluate(() => sessionStorage.removeItem('peer_token'));
      await page.goto(`${strict.http}/join/r?name=x`);
      await waitFor('refusal without token', () => state(page), (s) => s === 'refused');
      assert.match(await page.locator('#message-text').innerText(), /needs .*join link/i);
    } finally {
      await closePage(page);
      await stopDaemon(strict);
    }
  });

  test('with host protection, a guest waits on the page and joins by itself when the host arrives', async (t) => {
    if (skipped(t)) return;
    const guarded = await startConfd({ config: { host: { protected: true } } });
    let host: Page | undefined;
    const guest = await openPage(`${guarded.http}/join/wr?name=Guest`, 'wr/Guest');
    try {
      await waitFor('the guest to wait', () => state(guest), (s) => s === 'waiting');
      assert.match(await guest.locator('.notice[data-key="waiting"]').innerText(), /host/i);
      const issued = await guarded.admin('POST', '/v1/tokens', { room: 'wr', presenter: true });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const token = (issued.body as { token: string }).token;
      host = await openPage(`${guarded.http}/join/wr?name=Host&token=${encodeURIComponent(token)}`, 'wr/Host');
      await Promise.all([joined(host, 1), joined(guest, 1)]);
      assert.equal(await guest.locator('.notice[data-key="waiting"]').count(), 0, 'the waiting notice is gone');
      await Promise.all([receivingFrom(guest, [await peerId(host)]), receivingFrom(host, [await peerId(guest)])]);
    } finally {
      await Promise.all([closePage(guest), host ? closePage(host) : null]);
      await stopDaemon(guarded);
    }
  });

  test('Firefox ESR: the pages load without script errors and media flows with Chromium', async (t) => {
    if (skipped(t)) return;
    if (!HAVE_FIREFOX) {
      console.log(`SKIPPED (no ${FIREFOX}; apt-get install firefox-esr): ${t.name}`);
      return t.skip(`${FIREFOX} is not installed`);
    }
    const ip = nonLoopbackIpv4();
    const d = ip ? await startConfd({ config: { mediasoup: { listenIp: ip } } }) : daemon!;
    const ff = await BidiFirefox.launch();
    let peer: Page | undefined;
    try {
      await ff.goto(`${d.http}/`);
      assert.equal(await ff.eval<string>('document.body.dataset.page'), 'home');
      assert.match(await ff.eval<string>('document.querySelector("#home-room").value'), /^room-/, 'the script ran');
      await ff.goto(`${d.http}/join/fox?name=Fox&token=`);
      await waitFor('Firefox to join', () => ff.eval<string>('window.confd.state'), (s) => s === 'joined');
      if (!ip) {
        console.log('NOTE: no non-loopback IPv4 address here: Firefox media exchange not checked (Firefox gathers no loopback ICE candidates)');
      } else {
        peer = await openPage(`${d.http}/join/fox?name=Chromium`, 'fox/Chromium');
        await joined(peer, 1);
        const ffId = await ff.eval<string>('window.confd.peerId');
        const chId = await peerId(peer);
        const ffStats = () => ff.eval<PeerStats>('window.confd.peerStats()');
        const first = await waitFor('Firefox to receive Chromium\'s media', ffStats, (s) => (s[chId]?.audioBytesReceived ?? 0) > 0 && (s[chId]?.videoBytesReceived ?? 0) > 0, 25_000);
        await waitFor('it to keep flowing', ffStats, (s) => s[chId]!.videoBytesReceived > first[chId]!.videoBytesReceived && s[chId]!.audioBytesReceived > first[chId]!.audioBytesReceived);
        await receivingFrom(peer, [ffId]);
      }
      assert.deepEqual(ff.errors, [], 'no script errors in Firefox');
    } finally {
      if (peer) await closePage(peer);
      await ff.close();
      if (d !== daemon) await stopDaemon(d);
    }
  });

  test('no page threw or logged an error', (t) => {
    if (skipped(t)) return;
    assert.deepEqual(pageProblems, []);
  });
});
