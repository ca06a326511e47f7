/**
 * Active speaker in real pages: Chromium's fake microphone reads a WAV file given at launch
 * (--use-file-for-fake-audio-capture; without one it beeps, which would make everyone a speaker). One
 * browser "speaks" (speech-like bursts of a voiced tone), another is silent (a file of zeros). Pages on
 * the speaking browser start muted where they should not speak yet, and unmute to take the floor.
 *
 * Checked in the DOM: the speaking indicator (class, data-speaking, the badge, the tile's accessible
 * name), the speaker layout (grid data-layout, the featured tile), our own tile never featured for us,
 * a grid until someone spoke, and the layout following the next speaker with no flapping in between.
 * Set CONFD_SCREENSHOT_DIR to keep a screenshot of the speaker layout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, closePage, joined, launchChromium, openPage, peerId, skipWithoutChromium } from './helpers/browser.ts';
import { sleep, waitFor } from './helpers/wait.ts';

const RATE = 48_000;

/** A 16-bit mono PCM WAV of `seconds`, sample i = f(i / RATE) in [-1, 1]. */
function wav(seconds: number, f: (t: number) => number): Buffer {
  const n = Math.round(seconds * RATE);
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(RATE, 24);
  b.writeUInt32LE(RATE * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(Math.max(-1, Math.min(1, f(i / RATE))) * 32767), 44 + i * 2);
  return b;
}

/**
 * Speech-like: "syllables" of a voiced sound (a gliding fundamental with harmonics) with a smooth
 * envelope, 180-380 ms long, with 80-200 ms pauses. Not stationary, so the browser's noise suppression
 * lets it through, and its level varies as mediasoup's speaker detection expects of a voice.
 */
function speech(seconds: number): Buffer {
  const syllables: { start: number; end: number; f0: number }[] = [];
  let t = 0;
  for (let k = 0; t < seconds; k++) {
    const len = 0.18 + ((k * 37) % 21) / 100;
    syllables.push({ start: t, end: Math.min(seconds, t + len), f0: 120 + ((k * 53) % 90) });
    t += len + 0.08 + ((k * 29) % 13) / 100;
  }
  return wav(seconds, (x) => {
    const s = syllables.find((y) => x >= y.start && x < y.end);
    if (!s) return 0;
    const p = (x - s.start) / (s.end - s.start);
    const env = Math.sin(Math.PI * p);
    const f0 = s.f0 * (1 + 0.15 * p);
    let v = 0;
    for (let h = 1; h <= 6; h++) v += Math.sin(2 * Math.PI * f0 * h * x) / h;
    return 0.45 * env * v;
  });
}

announceMissingChromium('active speaker page tests');

describe('active speaker in the page', { concurrency: false, timeout: 180_000 }, () => {
  let daemon: RunningDaemon | undefined;
  let talking: Browser | undefined;
  let silent: Browser | undefined;
  let dir = '';
  const problems: string[] = [];

  before(async (t) => {
    if (skipWithoutChromium(t as any)) return;
    dir = mkdtempSync(join(tmpdir(), 'confd-speaker-'));
    const speechFile = join(dir, 'speech.wav');
    const silenceFile = join(dir, 'silence.wav');
    writeFileSync(speechFile, speech(8));
    writeFileSync(silenceFile, wav(2, () => 0));
    [daemon, talking, silent] = await Promise.all([
      startConfd(),
      launchChromium([`--use-file-for-fake-audio-capture=${speechFile}`]),
      launchChromium([`--use-file-for-fake-audio-capture=${silenceFile}`]),
    ]);
  });
  after(async () => {
    await Promise.all([talking?.close().catch(() => {}), silent?.close().catch(() => {})]);
    if (daemon) {
      await daemon.stop();
      cleanup(dirname(daemon.dataDir));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What one page shows: the layout, the featured tile's peer, and who has the speaking indicator. */
  const view = (p: Page) =>
    p.evaluate(() => {
      const grid = document.getElementById('grid')!;
      const tiles = [...grid.querySelectorAll<HTMLElement>('.tile')];
      return {
        layout: grid.dataset.layout ?? null,
        featured: tiles.filter((t) => t.classList.contains('featured') && t.dataset.featured === 'true').map((t) => t.dataset.peer),
        speaking: tiles.filter((t) => t.classList.contains('speaking') && t.dataset.speaking === 'true').map((t) => t.dataset.peer),
        /** The speaking tiles' accessible names and whether their badge shows. */
        labels: tiles
          .filter((t) => t.classList.contains('speaking'))
          .map((t) => `${t.getAttribute('aria-label')}|${getComputedStyle(t.querySelector('.speaking-badge')!).display !== 'none'}`),
        localFeatured: tiles.some((t) => t.classList.contains('local') && t.classList.contains('featured')),
      };
    });

  /** Records, in the page, every change of the featured tile (to tell a clean hand-over from flapping). */
  const recordFeatured = (p: Page) =>
    p.evaluate(() => {
      const w = window as unknown as { featuredLog: string[] };
      w.featuredLog = [];
      const grid = document.getElementById('grid')!;
      let last = '';
      new MutationObserver(() => {
        const f = grid.querySelector<HTMLElement>('.tile.featured')?.dataset.peer ?? '';
        if (f !== last) w.featuredLog.push((last = f));
      }).observe(grid, { subtree: true, attributes: true, attributeFilter: ['class', 'data-featured'] });
    });

  test('the speaker is highlighted and shown large on the others; our own tile never; the layout follows the next speaker', async (t) => {
    if (skipWithoutChromium(t)) return;
    const url = (name: string, audio: boolean) => `${daemon!.http}/join/talk?name=${name}&video=0&audio=${audio ? 1 : 0}`;
    const carol = await openPage(silent!, url('Carol', true), 'talk/Carol', problems);
    const bob = await openPage(talking!, url('Bob', false), 'talk/Bob', problems);
    let ann: Page | undefined;
    try {
      await Promise.all([joined(carol, 1), joined(bob, 1)]);
      const [idc, idb] = [await peerId(carol), await peerId(bob)];
      // Nobody has spoken (Carol's microphone is silent, Bob's is off): a grid, nobody lit.
      await sleep(2500);
      for (const p of [carol, bob]) assert.deepEqual(await view(p), { layout: 'grid', featured: [], speaking: [], labels: [], localFeatured: false });

      await recordFeatured(carol);
      ann = await openPage(talking!, url('Ann', true), 'talk/Ann', problems);
      await joined(ann, 2);
      const ida = await peerId(ann);
      for (const p of [carol, bob]) {
        const v = await waitFor('Ann lit and shown large', () => view(p), (x) => x.layout === 'speaker' && x.featured[0] === ida && x.speaking.includes(ida), 30_000);
        assert.deepEqual(v.featured, [ida]);
        assert.deepEqual(v.labels, ['Ann, speaking|true'], 'the accessible name says it, the badge shows');
        const tile = p.locator(`.tile[data-peer="${ida}"]`);
        const [big, small] = await Promise.all([tile.boundingBox(), p.locator(`.tile[data-peer="${idc}"]`).boundingBox()]);
        assert.ok(big && small && big.width > small.width * 2, `the speaker's tile is the large one (${big?.width} vs ${small?.width})`);
      }
      if (process.env.CONFD_SCREENSHOT_DIR) await carol.screenshot({ path: join(process.env.CONFD_SCREENSHOT_DIR, 'confd-speaker.png') });
      // On Ann's own page: her tile shows she speaks, but is not enlarged; nobody else spoke, so a grid.
      const own = await waitFor('Ann sees herself speaking', () => view(ann!), (x) => x.speaking.includes(ida));
      assert.equal(own.layout, 'grid');
      assert.equal(own.localFeatured, false);
      assert.deepEqual(own.labels, ['Ann (you), speaking|true']);

      // Ann mutes, Bob unmutes: the floor goes to Bob on Carol's and Ann's pages (after the hold).
      await sleep(2500); // Ann has been shown longer than the hold
      await ann.click('#btn-mic');
      await bob.click('#btn-mic');
      for (const p of [carol, ann]) await waitFor('Bob lit and shown large', () => view(p), (x) => x.featured[0] === idb && x.speaking.includes(idb) && !x.speaking.includes(ida), 30_000);
      // Bob's own page: his tile never large; Ann, the last one who spoke, stays large.
      const bobs = await waitFor('Bob sees himself speaking', () => view(bob), (x) => x.speaking.includes(idb));
      assert.equal(bobs.localFeatured, false);
      assert.deepEqual(bobs.featured, [ida]);
      await sleep(3000);
      assert.deepEqual(await carol.evaluate(() => (window as unknown as { featuredLog: string[] }).featuredLog), [ida, idb], 'one hand-over, no flapping');
      assert.deepEqual(problems, []);
    } finally {
      await Promise.all([carol, bob, ann].filter((p): p is Page => p !== undefined).map(closePage));
    }
  });
});
