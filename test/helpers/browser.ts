/**
 * Headless Debian Chromium for the web-page tests (the same launch as test/browser-media.test.ts):
 * fake camera and microphone, one browser context per person, and small polling helpers that read the
 * page's `window.confd` debug object.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sleep, waitFor } from './wait.ts';

export const CHROMIUM = process.env.CONFD_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * Debian's Chromium, headless, with fake camera and microphone; `extraArgs` e.g. to accept a test certificate.
 * `executablePath` runs another binary with the same flags, e.g. test/helpers/netlab.ts's wrapper that
 * starts Chromium inside a network namespace.
 */
export function launchChromium(extraArgs: readonly string[] = [], executablePath: string = CHROMIUM): Promise<Browser> {
  return chromium.launch({ executablePath, args: [...ARGS, ...extraArgs], headless: true });
}

/** A loud line once per file, and `t.skip` per test, when Chromium is missing. */
export function announceMissingChromium(what: string): void {
  if (!HAVE_CHROMIUM) console.log(`\n########## SKIPPED: ${what} need ${CHROMIUM} (apt-get install chromium; see test/apt-packages.txt) ##########\n`);
}

export function skipWithoutChromium(t: TestContext): boolean {
  if (HAVE_CHROMIUM) return false;
  console.log(`SKIPPED (no ${CHROMIUM}): ${t.name}`);
  t.skip(`${CHROMIUM} is not installed`);
  return true;
}

export type PeerStats = Record<string, { audioBytesReceived: number; videoBytesReceived: number }>;
type Stats = { audioBytesReceived: number; videoBytesReceived: number; audioBytesSent: number; videoBytesSent: number };

/** Opens a page in a fresh context (its own storage, like another browser profile); records page errors. */
export async function openPage(browser: Browser, url: string | null, label: string, problems: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${label}: uncaught ${e.message}`));
  // Credentials never travel in the signalling URL (proxies log URLs): the page sends them in `hello`.
  page.on('websocket', (ws) => {
    if (/[?&](session|token|host|roomPassword)=/.test(ws.url())) problems.push(`${label}: a secret in the WebSocket URL ${ws.url()}`);
  });
  page.on('console', (m) => {
    // A 401/429 from fetch() is logged by Chromium as a failed resource load: expected on these pages.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`${label}: console error ${m.text()}`);
  });
  if (url) await page.goto(url);
  return page;
}

export async function closePage(page: Page): Promise<void> {
  await page.context().close();
}

export const state = (p: Page) => p.evaluate(() => window.confd.state);
export const peers = (p: Page) => p.evaluate(() => window.confd.peers());
export const peerId = (p: Page) => p.evaluate(() => window.confd.peerId as string);
export const stats = (p: Page) => p.evaluate(() => window.confd.stats()) as Promise<Stats>;
export const peerStats = (p: Page) => p.evaluate(() => window.confd.peerStats()) as Promise<PeerStats>;
export const hostView = (p: Page) => p.evaluate(() => window.confd.host());

export async function joined(page: Page, others: number): Promise<void> {
  await waitFor(`state joined with ${others} other(s)`, async () => ({ s: await state(page), n: (await peers(page)).length }), (v) => v.s === 'joined' && v.n === others);
}

/** Audio and video bytes from every listed peer are > 0, and still growing a moment later. */
export async function receivingFrom(page: Page, from: string[]): Promise<void> {
  const allPositive = (s: PeerStats) => from.every((id) => (s[id]?.audioBytesReceived ?? 0) > 0 && (s[id]?.videoBytesReceived ?? 0) > 0);
  const first = await waitFor(`media from ${from.join(', ')}`, () => peerStats(page), allPositive, 25_000);
  await waitFor(
    `media from ${from.join(', ')} to keep flowing`,
    async () => ({ per: await peerStats(page), total: await stats(page) }),
    ({ per, total }) =>
      from.every((id) => per[id]!.audioBytesReceived > first[id]!.audioBytesReceived && per[id]!.videoBytesReceived > first[id]!.videoBytesReceived) &&
      total.audioBytesSent > 0 &&
      total.videoBytesSent > 0,
    10_000,
  );
}

/** Bytes of one kind from one peer stay put over `ms` (the sender paused it). */
export async function stalled(page: Page, from: string, kind: 'audio' | 'video', ms = 1500): Promise<void> {
  const key = `${kind}BytesReceived` as const;
  await sleep(800); // packets already in flight land first
  const a = (await peerStats(page))[from]![key];
  await sleep(ms);
  const b = (await peerStats(page))[from]![key];
  assert.equal(b, a, `${kind} bytes from ${from} should stop growing while paused (${a} -> ${b})`);
}

/** Is an element on screen (present and visible)? */
export async function visible(page: Page, selector: string): Promise<boolean> {
  const l = page.locator(selector);
  return (await l.count()) > 0 && (await l.first().isVisible());
}
