/**
 * Simulcast, adaptive stream and dynacast with real Chromium pages against a real daemon (issue 13,
 * points 1-3): a sender's webcam goes out as three VP8 layers; a receiver whose tile is small gets
 * layer 0 and one whose tile is large layer 2 (read from the server, GET /v1/rooms, and from the
 * receiving <video>); a hidden tab's consumer is paused at the server and resumed when shown, without
 * resuming what the sender paused; when nobody receives the top layers the sender stops encoding them
 * (outbound-rtp of rid r2 stops growing), and starts again when a large tile comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, HAVE_CHROMIUM, joined, launchChromium, peerId, peerStats, skipWithoutChromium } from './helpers/browser.ts';
import { sleep, waitFor } from './helpers/wait.ts';
import { exclusive } from './helpers/exclusive.ts';

announceMissingChromium('adaptive media tests');

type Consumer = { id: string; fromPeer: string; source: string; type: string; paused: boolean; producerPaused: boolean; preferredSpatialLayer: number | null; currentSpatialLayer: number | null; view: unknown };
type Encoding = { rid: string | null; active: boolean; bytesSent: number; frameWidth: number; frameHeight: number };

let browser: Browser | undefined;
let daemon: RunningDaemon | undefined;
const problems: string[] = [];

async function open(url: string, label: string, deviceScaleFactor = 1): Promise<Page> {
  // bypassCSP: the test lays tiles out with its own style sheet (the page's CSP allows none inline).
  const context = await browser!.newContext({ viewport: { width: 1280, height: 720 }, deviceScaleFactor, bypassCSP: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${label}: uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`${label}: console error ${m.text()}`);
  });
  await page.goto(url);
  return page;
}

/** The server's view of `peer`'s video consumer of `from`'s webcam. */
async function consumerOf(room: string, peer: string, from: string): Promise<Consumer | undefined> {
  const rooms = (await daemon!.admin('GET', '/v1/rooms')).body.rooms as { name: string; peers: { id: string; videoConsumers?: Consumer[] }[] }[];
  return rooms.find((r) => r.name === room)?.peers.find((p) => p.id === peer)?.videoConsumers?.find((c) => c.fromPeer === from && c.source === 'webcam');
}

/** The sender page's webcam encodings, lowest first. */
async function webcamEncodings(page: Page): Promise<Encoding[]> {
  const a = (await page.evaluate(() => window.confd.adaptive())) as { sending: { source: string; encodings: Encoding[] }[] };
  return a.sending.find((s) => s.source === 'webcam')?.encodings ?? [];
}

/** The height of the picture a page shows in `from`'s tile (the layer it receives). */
const shownHeight = (page: Page, from: string) => page.evaluate((id) => (document.querySelector(`.tile[data-tile="${id}"] video`) as HTMLVideoElement | null)?.videoHeight ?? 0, from);

/** Fakes the tab being hidden or shown (headless pages are always visible). */
// A string, not a function: tsx would wrap a function's inner arrows in a __name() the page lacks.
const setTabHidden = (page: Page, hidden: boolean) =>
  page.evaluate(
    `${hidden ? "Object.defineProperty(document, 'visibilityState', { configurable: true, value: 'hidden' })" : 'delete document.visibilityState'}; document.dispatchEvent(new Event('visibilitychange'))`,
  );

// The suite's time includes waiting for the lock (adaptive-shaped may hold it for minutes).
describe('simulcast, adaptive stream and dynacast in Chromium', { concurrency: false, timeout: 540_000 }, () => {
  let release: (() => void) | undefined;
  before(async () => {
    if (!HAVE_CHROMIUM) return;
    release = await exclusive('adaptive-layers', 300_000);
    [daemon, browser] = await Promise.all([startConfd(), launchChromium()]);
  });
  after(async () => {
    await browser?.close().catch(() => {});
    if (daemon) {
      await daemon.stop();
      cleanup(dirname(daemon.dataDir));
    }
    release?.();
  });

  test('small tile gets layer 0, large tile layer 2; a hidden tab is paused and resumed; dynacast turns the top layers off and on', async (t) => {
    if (skipWithoutChromium(t)) return;
    const room = 'adapt';
    // Receivers send nothing (less CPU on a shared machine); the sender only video.
    const sender = await open(`${daemon!.http}/join/${room}?name=Sender&audio=0`, 'sender');
    const small = await open(`${daemon!.http}/join/${room}?name=Small&audio=0&video=0`, 'small');
    // 160×90 CSS px remote tiles.
    await small.addStyleTag({ content: '.tile:not(.local) { width: 160px !important; height: 90px !important; aspect-ratio: auto !important; justify-self: start; }' });
    // A ~620×350 CSS px tile on a 2× screen: ~1240×700 device px, the top layer.
    const large = await open(`${daemon!.http}/join/${room}?name=Large&audio=0&video=0`, 'large', 2);
    const pages = [sender, small, large];
    try {
      await Promise.all(pages.map((p) => joined(p, 2)));
      const [s, sm, lg] = (await Promise.all(pages.map(peerId))) as [string, string, string];

      // Simulcast: three encodings, lowest first, ≈180p/360p/720p.
      const enc = await waitFor('three webcam encodings sending', () => webcamEncodings(sender), (e) => e.length === 3 && e.every((x) => x.bytesSent > 0 && x.frameHeight > 0), 30_000);
      assert.deepEqual(enc.map((e) => e.rid), ['r0', 'r1', 'r2']);
      assert.deepEqual(enc.map((e) => e.frameHeight), [180, 360, 720], 'the fake camera captures 1280×720');

      // Adaptive stream: each consumer settles on the layer its tile needs.
      const smallC = await waitFor('the small tile\'s consumer on layer 0', () => consumerOf(room, sm, s), (c) => c?.type === 'simulcast' && c.preferredSpatialLayer === 0 && c.currentSpatialLayer === 0, 30_000);
      const largeC = await waitFor('the large tile\'s consumer on layer 2', () => consumerOf(room, lg, s), (c) => c?.preferredSpatialLayer === 2 && c.currentSpatialLayer === 2, 30_000);
      assert.deepEqual(smallC!.view, { width: 160, height: 90, visible: true });
      assert.equal(largeC!.paused, false);
      await waitFor('the small page to show 180p', () => shownHeight(small, s), (h) => h === 180);
      await waitFor('the large page to show 720p', () => shownHeight(large, s), (h) => h === 720);

      // The large tab hidden: its consumer pauses at the server and no video bytes arrive.
      await setTabHidden(large, true);
      await waitFor('the hidden tab\'s consumer to pause', () => consumerOf(room, lg, s), (c) => c?.paused === true && (c.view as { visible: boolean }).visible === false);
      await sleep(800);
      const b1 = (await peerStats(large))[s]!.videoBytesReceived;
      await sleep(1500);
      assert.equal((await peerStats(large))[s]!.videoBytesReceived, b1, 'no video bytes for a hidden tab');

      // Dynacast: only the 160×90 tile receives, so the sender stops encoding r1 and r2.
      await waitFor('the sender to switch r1 and r2 off', () => webcamEncodings(sender), (e) => e.map((x) => x.active).join() === 'true,false,false', 15_000);
      await sleep(800);
      const r2a = (await webcamEncodings(sender))[2]!.bytesSent;
      const r0a = (await webcamEncodings(sender))[0]!.bytesSent;
      await sleep(1500);
      const after1 = await webcamEncodings(sender);
      assert.equal(after1[2]!.bytesSent, r2a, 'r2 sends nothing while nobody wants it');
      await waitFor('r0 to keep going for the small tile', () => webcamEncodings(sender), (e) => e[0]!.bytesSent > r0a);
      assert.equal((await consumerOf(room, sm, s))?.currentSpatialLayer, 0, 'the small tile is still served');

      // Shown again: resumed, the top layer is encoded again and the large tile gets it.
      await setTabHidden(large, false);
      await waitFor('the consumer to resume', () => consumerOf(room, lg, s), (c) => c?.paused === false);
      await waitFor('the sender to switch r2 back on', () => webcamEncodings(sender), (e) => e.every((x) => x.active), 10_000);
      const r2b = (await webcamEncodings(sender))[2]!.bytesSent;
      await waitFor('r2 bytes to grow again', () => webcamEncodings(sender), (e) => e[2]!.bytesSent > r2b + 10_000);
      await waitFor('the large tile back on layer 2', () => consumerOf(room, lg, s), (c) => c?.currentSpatialLayer === 2, 20_000);
      const b2 = (await peerStats(large))[s]!.videoBytesReceived;
      await waitFor('video bytes to flow to the large tab again', () => peerStats(large), (st) => st[s]!.videoBytesReceived > b2 + 20_000);

      // Separate reasons: the sender stops its camera while the tab is hidden; showing the tab resumes
      // the consumer at the server, not the sender's pause.
      await setTabHidden(large, true);
      await waitFor('paused again', () => consumerOf(room, lg, s), (c) => c?.paused === true);
      await sender.click('#btn-cam');
      await waitFor('the producer paused', () => consumerOf(room, lg, s), (c) => c?.producerPaused === true);
      await setTabHidden(large, false);
      const c3 = await waitFor('the consumer resumed at the server', () => consumerOf(room, lg, s), (c) => c?.paused === false);
      assert.equal(c3!.producerPaused, true, 'the sender\'s pause stays');
      await sleep(800);
      const b3 = (await peerStats(large))[s]!.videoBytesReceived;
      await sleep(1500);
      assert.equal((await peerStats(large))[s]!.videoBytesReceived, b3, 'nothing flows while the sender has its camera off');
      // A tile taken off the layout (display: none) counts as not visible.
      await sender.click('#btn-cam');
      await waitFor('the producer resumed', () => consumerOf(room, lg, s), (c) => c?.producerPaused === false && c.paused === false);
      await large.addStyleTag({ content: '.tile:not(.local) { display: none !important; }' });
      await waitFor('the undisplayed tile\'s consumer to pause', () => consumerOf(room, lg, s), (c) => c?.paused === true);
    } finally {
      await Promise.all(pages.map((p) => p.context().close()));
    }
  });

  test('no page threw or logged an error', (t) => {
    if (skipWithoutChromium(t)) return;
    assert.deepEqual(problems, []);
  });
});
