/**
 * Chat on the web page, in headless Debian Chromium (one browser, two pages, each its own context):
 * a message typed in one page shows in the other with the sender's name; a message full of HTML is
 * shown as the text it is (no element made from it, no dialog); an oversized one is refused with a
 * visible error and reaches nobody, as is one past the rate limit. The server's side of the rules is test/chat.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, closePage, HAVE_CHROMIUM, joined, launchChromium, openPage, skipWithoutChromium, visible } from './helpers/browser.ts';
import { CHAT_TEXT_MAX, USER_MESSAGES } from '../src/protocol/index.ts';
import { sleep, waitFor } from './helpers/wait.ts';

announceMissingChromium('browser chat tests');

const HTML = '<img src=x onerror=alert(1)><b>bold</b>';

describe('chat, in the browser', { concurrency: false, timeout: 120_000 }, () => {
  let d: RunningDaemon | undefined;
  let browser: Browser | undefined;
  let ann: Page | undefined;
  let bob: Page | undefined;
  const problems: string[] = [];
  const dialogs: string[] = [];

  before(async () => {
    if (!HAVE_CHROMIUM) return;
    [d, browser] = await Promise.all([startConfd({ config: { mediasoup: { workers: 1 } } }), launchChromium()]);
    // No camera or microphone: this is about the text.
    ann = await openPage(browser, `${d.http}/join/talk?name=Ann&audio=0&video=0`, 'ann', problems);
    await joined(ann, 0);
    bob = await openPage(browser, `${d.http}/join/talk?name=Bob&audio=0&video=0`, 'bob', problems);
    await joined(bob, 1);
    await joined(ann, 1);
    for (const p of [ann, bob]) p.on('dialog', (dlg) => void (dialogs.push(dlg.message()), dlg.dismiss()));
  });

  after(async () => {
    for (const p of [ann, bob]) if (p) await closePage(p).catch(() => {});
    await browser?.close().catch(() => {});
    if (d) {
      await d.stop();
      cleanup(dirname(d.dataDir));
    }
  });

  /** Opens the panel, types, sends with Enter. */
  async function say(p: Page, text: string): Promise<void> {
    if (!(await visible(p, '#chat'))) await p.click('#btn-chat');
    await p.fill('#chat-input', text);
    await p.press('#chat-input', 'Enter');
  }

  const texts = (p: Page) => p.locator('#chat-log .chat-msg:not(.chat-system) .chat-text').allInnerTexts();

  test('a message typed in one page shows in the other with the sender\'s name', async (t) => {
    if (skipWithoutChromium(t)) return;
    assert.equal(await visible(bob!, '#chat'), false, 'the panel starts closed');
    await say(ann!, 'Hello Bob, can you read me?');
    // Unread count on Bob's closed panel's button, then the message with Ann's name.
    await waitFor('Bob\'s unread count', () => bob!.locator('#btn-chat').innerText(), (s) => s === 'Chat (1)');
    await bob!.click('#btn-chat');
    const msg = bob!.locator('#chat-log .chat-msg').last();
    await waitFor('the message on Bob\'s page', () => msg.locator('.chat-text').innerText(), (s) => s === 'Hello Bob, can you read me?');
    assert.equal(await msg.locator('.chat-from').innerText(), 'Ann');
    assert.equal(await bob!.locator('#btn-chat').innerText(), 'Chat');
    // Ann sees her own message, marked as hers; the box is empty again.
    await waitFor('Ann\'s own copy', () => texts(ann!), (l) => l.includes('Hello Bob, can you read me?'));
    assert.equal(await ann!.locator('#chat-log .chat-msg.mine .chat-from').last().innerText(), 'Ann');
    assert.equal(await ann!.inputValue('#chat-input'), '');
  });

  test('a message full of HTML is shown as literal text: no element made from it, no dialog', async (t) => {
    if (skipWithoutChromium(t)) return;
    await say(bob!, HTML);
    const last = ann!.locator('#chat-log .chat-msg').last();
    await waitFor('the HTML message on Ann\'s page', () => last.locator('.chat-text').innerText(), (s) => s === HTML);
    assert.equal(await last.locator('.chat-from').innerText(), 'Bob');
    for (const p of [ann!, bob!]) {
      const made = await p.evaluate(() => ({
        imgs: document.querySelectorAll('#chat img, img[src="x"]').length,
        bolds: document.querySelectorAll('#chat b').length,
        children: [...document.querySelectorAll('#chat .chat-text')].map((e) => e.children.length),
      }));
      assert.deepEqual({ imgs: made.imgs, bolds: made.bolds }, { imgs: 0, bolds: 0 });
      assert.ok(made.children.every((n) => n === 0), 'message texts are text nodes only');
    }
    await sleep(500); // an onerror would have fired by now
    assert.deepEqual(dialogs, []);
  });

  test('an oversized message is refused with a visible error and reaches nobody', async (t) => {
    if (skipWithoutChromium(t)) return;
    const before = (await texts(bob!)).length;
    await say(ann!, 'z'.repeat(CHAT_TEXT_MAX + 1));
    await waitFor('the error under Ann\'s box', () => visible(ann!, '#chat-error'), Boolean, 5000);
    const err = await ann!.locator('#chat-error').innerText();
    assert.ok(err.includes(USER_MESSAGES.chatTooLong(CHAT_TEXT_MAX)), err);
    assert.equal((await ann!.inputValue('#chat-input')).length, CHAT_TEXT_MAX + 1, 'the text stays in the box to be shortened');
    assert.match(await ann!.locator('#chat-count').innerText(), new RegExp(`^${CHAT_TEXT_MAX + 1} / ${CHAT_TEXT_MAX}$`));
    // Shortened, it goes; the error goes away.
    await ann!.fill('#chat-input', 'short again');
    await ann!.press('#chat-input', 'Enter');
    await waitFor('the short one on Bob\'s page', () => texts(bob!), (l) => l.at(-1) === 'short again');
    assert.equal((await texts(bob!)).length, before + 1, 'only the short one arrived');
    assert.equal(await visible(ann!, '#chat-error'), false);
  });

  test('the server\'s refusal is shown too: past the chat rate limit', async (t) => {
    if (skipWithoutChromium(t)) return;
    // (The server refuses an oversized message as well, for clients that skip the page's check: test/chat.test.ts.)
    for (let i = 0; i < 8 && !(await visible(ann!, '#chat-error')); i++) {
      await ann!.fill('#chat-input', `quick ${i}`);
      await ann!.press('#chat-input', 'Enter');
      await waitFor('the box to empty or an error', async () => ({ v: await ann!.inputValue('#chat-input'), e: await visible(ann!, '#chat-error') }), (x) => x.v === '' || x.e, 5000);
    }
    const err = await ann!.locator('#chat-error').innerText();
    assert.match(err, /^Not sent: Too many chat messages: at most 5 every 5 s\. Try again in \d+ s\.$/);
    assert.deepEqual(problems, []);
  });
});
