/**
 * The lobby in headless Debian Chromium against a real daemon (issue 14): a guest knocks and sees the
 * waiting message with its name; the host sees "NAME wants to join" and admits, denies (the guest is
 * told) or admits all; the host's lobby toggle. Lean: one browser, a host page and two or three guests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, closePage, HAVE_CHROMIUM, hostView, joined, launchChromium, openPage, peerId, skipWithoutChromium as skipped, state } from './helpers/browser.ts';
import { USER_MESSAGES } from '../src/protocol/user-messages.ts';
import { waitFor } from './helpers/wait.ts';

announceMissingChromium('browser lobby tests');

const USER = 'alice';
const PW = 'alice-lobby-password-1';
let browser: Browser | undefined;
const problems: string[] = [];
const page = (url: string | null, label: string) => openPage(browser!, url, label, problems);
const knockNotice = (p: Page, id: string) => p.locator(`.notice[data-key="lobby-${id}"]`);

describe('lobby, in the browser', { concurrency: false }, () => {
  let d: RunningDaemon | undefined;
  before(async () => {
    if (!HAVE_CHROMIUM) return;
    [d, browser] = await Promise.all([startConfd({ config: { host: { protected: false }, rooms: { lobby: true }, mediasoup: { workers: 1 } } }), launchChromium()]);
    assert.equal((await confctl(['--socket', d.socket, 'user', 'add', USER, '--password-stdin'], { input: PW })).code, 0);
  });
  after(async () => {
    await browser?.close().catch(() => {});
    if (d) {
      await d.stop();
      cleanup(dirname(d.dataDir));
    }
  });

  test('knock with the name shown; the host admits, denies (the guest is told), admits all; the lobby toggle', async (t) => {
    if (skipped(t)) return;
    const room = 'lobbyroom';
    const host = await page(`${d!.http}/login?next=${encodeURIComponent(`/join/${room}?name=Hana`)}`, 'host');
    const pages: Page[] = [host];
    try {
      await host.fill('#login-user', USER);
      await host.fill('#login-password', PW);
      await host.click('#login-submit');
      await host.waitForURL((u) => u.pathname === `/join/${room}`);
      await joined(host, 0);
      assert.equal((await hostView(host))?.role, 'host');
      await waitFor('the lobby toggle to say on', () => host.locator('#btn-lobby').innerText(), (s) => s === 'Lobby: on');

      // Knock: the guest waits with its name; the host is asked.
      const ann = await page(`${d!.http}/join/${room}?name=Ann`, 'ann');
      pages.push(ann);
      await waitFor('Ann to wait', () => state(ann), (s) => s === 'waiting');
      await waitFor('the waiting message with the name', () => ann.locator('.notice[data-key="waiting"] .notice-text').innerText(), (s) => s === USER_MESSAGES.lobbyWaiting('Ann'));
      const annId = await peerId(ann);
      await waitFor('"Ann wants to join"', () => knockNotice(host, annId).locator('.notice-text').innerText(), (s) => s === 'Ann wants to join');
      await knockNotice(host, annId).getByRole('button', { name: 'Admit', exact: true }).click();
      await Promise.all([joined(ann, 1), joined(host, 1)]);
      assert.equal(await knockNotice(host, annId).count(), 0, 'the notice goes once the guest is in');

      // Deny: the guest is told, and stays out.
      const bob = await page(`${d!.http}/join/${room}?name=Bob`, 'bob');
      pages.push(bob);
      const bobId = await peerId(bob);
      await knockNotice(host, bobId).getByRole('button', { name: 'Deny' }).click();
      await waitFor('Bob refused', () => state(bob), (s) => s === 'refused');
      await waitFor('the refusal in words', () => bob.locator('body').innerText(), (s) => s.includes(USER_MESSAGES.lobbyDenied));
      assert.equal((await host.evaluate(() => window.confd.peers())).length, 1, 'Bob never got in');

      // Admit all: two knock, one click lets both in.
      const [cy, dee] = [await page(`${d!.http}/join/${room}?name=Cy`, 'cy'), await page(`${d!.http}/join/${room}?name=Dee`, 'dee')];
      pages.push(cy, dee);
      const [cyId, deeId] = [await peerId(cy), await peerId(dee)];
      await waitFor('both knocks', async () => (await knockNotice(host, cyId).count()) + (await knockNotice(host, deeId).count()), (n) => n === 2);
      await waitFor('the toggle to count them', () => host.locator('#btn-lobby').innerText(), (s) => s === 'Lobby: on (2 waiting)');
      await knockNotice(host, cyId).getByRole('button', { name: 'Admit all' }).click();
      await Promise.all([joined(cy, 3), joined(dee, 3), joined(host, 3)]);

      // The toggle: off, a newcomer walks straight in.
      await host.click('#btn-lobby');
      await waitFor('the lobby toggle to say off', () => host.locator('#btn-lobby').innerText(), (s) => s === 'Lobby: off');
      await closePage(dee);
      const eve = await page(`${d!.http}/join/${room}?name=Eve`, 'eve');
      pages.push(eve);
      await joined(eve, 3);
      assert.deepEqual(problems, []);
    } finally {
      for (const p of pages) await closePage(p).catch(() => {});
    }
  });
});
