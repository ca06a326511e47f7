import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_BURST, CHAT_HISTORY, CHAT_TEXT_MAX } from '../protocol/limits.ts';
import { CHAT_ADDRESS_BURST, ChatAllowances, ChatBucket, checkChatText, Ring } from './chat-rules.ts';

test('chat text: kept as typed, line ends normalised, surrounding blanks trimmed', () => {
  assert.deepEqual(checkChatText('hello'), { ok: true, text: 'hello' });
  assert.deepEqual(checkChatText('  two\r\nlines\rhere \n'), { ok: true, text: 'two\nlines\nhere' });
  // Markup is just text: the page renders it with textContent.
  assert.deepEqual(checkChatText('<img src=x onerror=alert(1)><b>bold</b>'), { ok: true, text: '<img src=x onerror=alert(1)><b>bold</b>' });
  // Emoji with zero-width joiners and non-Latin scripts are left alone.
  assert.deepEqual(checkChatText('👩‍💻 שלום 你好'), { ok: true, text: '👩‍💻 שלום 你好' });
});

test('chat text: control and bidi override characters are taken out', () => {
  assert.deepEqual(checkChatText('a\u0000b\u0007c\u001bd\u007fe\u0085f\tg'), { ok: true, text: 'abcdef\tg' });
  assert.deepEqual(checkChatText('evil\u202egnp.exe\u2066x\u2069'), { ok: true, text: 'evilgnp.exex' });
});

test('chat text: empty, blank or too long is refused', () => {
  for (const t of ['', '   ', '\n\t\r\n', '\u202e\u0000']) {
    const r = checkChatText(t);
    assert.equal(r.ok, false, JSON.stringify(t));
    assert.equal(!r.ok && r.code, 'bad_request');
  }
  assert.equal(checkChatText('x'.repeat(CHAT_TEXT_MAX)).ok, true);
  const r = checkChatText('x'.repeat(CHAT_TEXT_MAX + 1));
  assert.ok(!r.ok && r.code === 'payload_too_large' && r.message.includes(String(CHAT_TEXT_MAX)), JSON.stringify(r));
});

test('chat bucket: a burst of CHAT_BURST, then refused with a wait; refills over time', () => {
  let now = 0;
  const b = new ChatBucket({ now: () => now });
  for (let i = 0; i < CHAT_BURST; i++) assert.deepEqual(b.take(), { ok: true }, `message ${i + 1}`);
  const refused = b.take();
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.retryInSeconds, 1);
  // 5 per 5 s: one token per second.
  now += 999;
  assert.equal(b.take().ok, false);
  now += 2;
  assert.equal(b.take().ok, true);
  assert.equal(b.take().ok, false);
  // A long pause refills to the burst, never beyond.
  now += 60_000;
  for (let i = 0; i < CHAT_BURST; i++) assert.equal(b.take().ok, true);
  assert.equal(b.take().ok, false);
});

test('chat bucket: a steady one message per second is never refused', () => {
  let now = 0;
  const b = new ChatBucket({ now: () => now });
  for (let i = 0; i < 100; i++, now += 1000) assert.equal(b.take().ok, true, `message ${i}`);
});

test('chat bucket: the wait it names is long enough', () => {
  let now = 0;
  const b = new ChatBucket({ burst: 2, refillSeconds: 10, now: () => now });
  b.take();
  b.take();
  const r = b.take();
  assert.ok(!r.ok);
  assert.equal(r.retryInSeconds, 5);
  now += r.retryInSeconds * 1000;
  assert.equal(b.take().ok, true);
});

test('ring: keeps the last N, oldest first', () => {
  const r = new Ring<number>(3);
  assert.deepEqual(r.list(), []);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.list(), [3, 4, 5]);
  assert.equal(r.size, 3);
  const copy = r.list();
  copy.push(99);
  assert.deepEqual(r.list(), [3, 4, 5], 'list() is a copy');
  assert.equal(new Ring().capacity, CHAT_HISTORY);
  const none = new Ring<number>(0);
  none.push(1);
  assert.deepEqual(none.list(), []);
  assert.throws(() => new Ring(-1), RangeError);
});

test('chat allowances: per peer id (a new connection does not refill it) and per address (new ids share it)', () => {
  let now = 0;
  const a = new ChatAllowances({ now: () => now });
  for (let i = 0; i < CHAT_BURST; i++) assert.deepEqual(a.take('p', '198.51.100.1'), { ok: true });
  assert.equal(a.take('p', '198.51.100.1').ok, false, 'the same peer id, whatever its connection');
  assert.equal(a.take('p', '198.51.100.2').ok, false, 'nor from another address');
  // Other ids from that address: the address's allowance, less what p took.
  let sent = 0;
  for (let i = 0; i < 100; i++) if (a.take(`n${i}`, '198.51.100.1').ok) sent++;
  assert.equal(sent, CHAT_ADDRESS_BURST - CHAT_BURST);
  // A refused message takes nothing: another address is untouched, and the allowance comes back in time.
  assert.deepEqual(a.take('q', '198.51.100.3'), { ok: true });
  now += 5_000;
  assert.deepEqual(a.take('p', '198.51.100.1'), { ok: true });
});

test('chat allowances: a sweep forgets the refilled buckets of those who stopped chatting, and only those', () => {
  let t = 0;
  const a = new ChatAllowances({ now: () => t });
  for (let i = 0; i < 100; i++) a.take(`gone-${i}`, `198.51.100.${i}`);
  assert.equal(a.size, 200, 'a bucket per peer id and per address');
  t = 100;
  a.sweep();
  assert.equal(a.size, 200, 'nothing is refilled yet');
  t = 60_000;
  for (let i = 0; i < CHAT_BURST; i++) assert.equal(a.take('busy', '203.0.113.1').ok, true);
  a.sweep();
  assert.equal(a.size, 2, 'only the buckets still counting stay');
  assert.equal(a.take('busy', '203.0.113.1').ok, false, 'and they still count');
});
