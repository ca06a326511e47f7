/**
 * Chat against a real daemon (host.protected on, a host logged in), with signalling-only clients:
 * to everyone and private (a third peer gets nothing), the sender named by the server (a client's own
 * `from` is refused, its display name is the one the server knows), oversized and blank messages
 * refused, the per-peer rate limit, a host turning chat off and on, the last public messages (never
 * private ones) handed to late joiners, and a guest still waiting for the host refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, joinPeer, RequestFailed, type SfuClient } from './helpers/sfu-client.ts';
import { CHAT_BURST, CHAT_TEXT_MAX, USER_MESSAGES } from '../src/protocol/index.ts';
import { login } from './helpers/login.ts';
import { sleep } from './helpers/wait.ts';

const PW = 'chat-host-password-1';

describe('chat', { concurrency: false, timeout: 90_000 }, () => {
  let d: RunningDaemon;
  let hostToken: string;
  const opened: SfuClient[] = [];

  before(async () => {
    d = await startConfd({ config: { host: { protected: true }, mediasoup: { workers: 1 } } });
    const r = await confctl(['--socket', d.socket, 'user', 'add', 'alice', '--password-stdin'], { input: PW });
    assert.equal(r.code, 0, r.stderr);
    hostToken = await login(d, 'alice', PW);
  });

  after(async () => {
    await Promise.all(opened.filter((c) => c.open).map((c) => c.close()));
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  const join = async (room: string, peerId: string, name: string, host = false) => {
    const c = await joinPeer(d.http, { room, peerId, name, ...(host ? { query: { host: hostToken } } : {}) });
    opened.push(c);
    return c;
  };

  /** The request's error (it must fail). */
  const refused = async (c: SfuClient, method: string, data: unknown): Promise<RequestFailed> => {
    try {
      await c.request(method, data);
    } catch (e) {
      assert.ok(e instanceof RequestFailed, String(e));
      return e;
    }
    assert.fail(`${method} ${JSON.stringify(data).slice(0, 80)} should have been refused`);
  };

  const chats = (c: SfuClient) => c.notifications('chatMessage');

  test('to everyone, privately (a third peer gets nothing), sender named by the server', async () => {
    const hana = await join('r1', 'hana', 'Hana', true);
    const gus = await join('r1', 'gus', 'Gus');
    const ida = await join('r1', 'ida', 'Ida');

    const sent = await gus.request('chat', { text: '  hello everyone \r\n' });
    assert.match(sent.id, /^[0-9a-f-]{36}$/);
    for (const c of [hana, gus, ida]) {
      const m = await c.waitForNotification('chatMessage', (x) => x.id === sent.id);
      assert.deepEqual(m, { id: sent.id, from: { peerId: 'gus', displayName: 'Gus', role: 'guest' }, to: 'all', private: false, text: 'hello everyone', at: sent.at });
    }
    const fromHost = await hana.request('chat', { text: 'welcome' });
    assert.deepEqual((await gus.waitForNotification('chatMessage', (x) => x.id === fromHost.id)).from, { peerId: 'hana', displayName: 'Hana', role: 'host' });
    await ida.waitForNotification('chatMessage', (x) => x.id === fromHost.id);

    // Private: to its recipient and back to its sender, nobody else.
    const before = chats(ida).length;
    const p = await gus.request('chat', { text: 'psst, Hana', to: 'hana' });
    const got = await hana.waitForNotification('chatMessage', (x) => x.id === p.id);
    assert.deepEqual(got, { id: p.id, from: { peerId: 'gus', displayName: 'Gus', role: 'guest' }, to: 'hana', private: true, text: 'psst, Hana', at: p.at });
    assert.deepEqual(await gus.waitForNotification('chatMessage', (x) => x.id === p.id), got);
    // A public message after it: once Ida has that one, she would have had the private one before it.
    const marker = await hana.request('chat', { text: 'marker' });
    await ida.waitForNotification('chatMessage', (x) => x.id === marker.id);
    assert.deepEqual(chats(ida).slice(before).map((m) => m.text), ['marker'], 'Ida saw no private message');

    // Spoofing: a client's own sender fields are refused, not relayed.
    for (const extra of [{ from: { peerId: 'hana', displayName: 'Hana', role: 'host' } }, { displayName: 'Hana' }, { peerId: 'hana' }, { private: false }]) {
      const e = await refused(gus, 'chat', { text: 'I am the host', ...extra });
      assert.equal(e.errorCode, 400);
      assert.match(e.errorReason, /unknown field/);
    }
    // The name is the one the server holds for the connection, and follows a rename.
    await gus.request('changeDisplayName', { displayName: 'Gustav' });
    const renamed = await gus.request('chat', { text: 'new name' });
    assert.equal((await ida.waitForNotification('chatMessage', (x) => x.id === renamed.id)).from.displayName, 'Gustav');
    assert.ok(!chats(ida).some((m) => m.text === 'I am the host'));

    // Private to someone not in the room, or to oneself.
    assert.equal((await refused(ida, 'chat', { text: 'x', to: 'nobody' })).errorCode, 404);
    assert.equal((await refused(ida, 'chat', { text: 'x', to: 'ida' })).errorCode, 400);
  });

  test('oversized, blank and markup: bounds on the server, markup relayed as the text it is', async () => {
    const a = await join('r2', 'a2', 'A', true);
    const b = await join('r2', 'b2', 'B');
    const tooLong = await refused(a, 'chat', { text: 'x'.repeat(CHAT_TEXT_MAX + 1) });
    assert.equal(tooLong.errorCode, 400);
    assert.ok(tooLong.errorReason.includes(USER_MESSAGES.chatTooLong(CHAT_TEXT_MAX)), tooLong.errorReason);
    for (const text of ['', '   ', '\u0000\u202e\n']) assert.equal((await refused(a, 'chat', { text })).errorCode, 400, JSON.stringify(text));
    const max = await a.request('chat', { text: 'y'.repeat(CHAT_TEXT_MAX) });
    assert.equal((await b.waitForNotification('chatMessage', (x) => x.id === max.id)).text.length, CHAT_TEXT_MAX);
    const html = '<img src=x onerror=alert(1)><b>bold</b>';
    const h = await a.request('chat', { text: html });
    assert.equal((await b.waitForNotification('chatMessage', (x) => x.id === h.id)).text, html);
    assert.equal(chats(b).filter((m) => m.from.peerId === 'a2').length, 2, 'refused messages went nowhere');
  });

  test('rate limit: a burst of CHAT_BURST, then 429 with a clear message; other peers unaffected', async () => {
    const a = await join('r3', 'a3', 'A', true);
    const b = await join('r3', 'b3', 'B');
    const results = await Promise.allSettled(Array.from({ length: CHAT_BURST + 3 }, (_, i) => b.request('chat', { text: `m${i}` })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const errs = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as RequestFailed);
    assert.equal(ok, CHAT_BURST);
    assert.equal(errs.length, 3);
    for (const e of errs) {
      assert.equal(e.errorCode, 429);
      assert.match(e.errorReason, /^Too many chat messages: at most 5 every 5 s\. Try again in \d+ s\.$/);
    }
    assert.equal(b.open, true, 'the connection stays open');
    await a.request('chat', { text: 'the host still talks' });
    await a.waitForNotification('chatMessage', (x) => x.text === 'm4');
    assert.ok(!chats(a).some((m) => /^m[5-7]$/.test(m.text)), 'refused ones were not relayed');
    // One token per second comes back.
    await sleep(1100);
    await b.request('chat', { text: 'after a second' });
  });

  test('rate limit: reconnecting does not refill it (per peer id), nor do new peer ids from one address', async () => {
    await join('r3b', 'h3b', 'Hana', true);
    let b = await join('r3b', 'b3b', 'B');
    for (let i = 0; i < CHAT_BURST; i++) await b.request('chat', { text: `burst ${i}` });
    // The same tab comes back on a new connection (issue 21: each connection used to get a fresh bucket).
    await b.close();
    b = await join('r3b', 'b3b', 'B');
    const again = await refused(b, 'chat', { text: 'after a reconnect' });
    assert.equal(again.errorCode, 429);
    assert.match(again.errorReason, /^Too many chat messages/);
    // Ever new peer ids from the same address share the address's allowance.
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => join('r3b', `n3b-${i}`, `N${i}`)));
    const results = await Promise.allSettled(many.flatMap((c, i) => Array.from({ length: CHAT_BURST }, (_, k) => c.request('chat', { text: `n${i}-${k}` }))));
    const limited = results.filter((r) => r.status === 'rejected' && (r.reason as RequestFailed).errorCode === 429).length;
    assert.ok(limited >= results.length / 2, `${limited} of ${results.length} refused (the address's allowance is CHAT_ADDRESS_BURST)`);
    await Promise.all(many.map((c) => c.close()));
  });

  test('a host turns chat off (refused for everyone, peers told, late joiners see it) and on again', async () => {
    const host = await join('r4', 'h4', 'Hana', true);
    const guest = await join('r4', 'g4', 'Gus');
    const e = await refused(guest, 'hostSetChat', { enabled: false });
    assert.equal(e.errorCode, 403);
    assert.match(e.errorReason, /only a host/);

    assert.deepEqual(await host.request('hostSetChat', { enabled: false }), { enabled: false });
    for (const c of [host, guest]) assert.deepEqual(await c.waitForNotification('chatState'), { enabled: false, by: { peerId: 'h4', displayName: 'Hana' } });
    for (const c of [guest, host]) {
      const off = await refused(c, 'chat', { text: 'anyone?' });
      assert.equal(off.errorCode, 403);
      assert.equal(off.errorReason, USER_MESSAGES.chatOff);
    }
    const late = await join('r4', 'l4', 'Late');
    const lateJoin = late.messages.find((m) => m.response && m.ok && m.data?.chat);
    assert.deepEqual(lateJoin?.data.chat, { enabled: false, history: [] });

    // Turning it off again changes nothing and tells nobody.
    await host.request('hostSetChat', { enabled: false });
    assert.deepEqual(await host.request('hostSetChat', { enabled: true }), { enabled: true });
    await late.waitForNotification('chatState', (x) => x.enabled === true);
    assert.equal(guest.notifications('chatState').length, 2);
    await guest.request('chat', { text: 'back on' });
  });

  test('late joiners get the last public messages (never private ones) in their join response', async () => {
    const a = await join('r5', 'a5', 'Ann', true);
    const b = await join('r5', 'b5', 'Bob');
    await a.request('chat', { text: 'first' });
    await b.request('chat', { text: 'secret for Ann', to: 'a5' });
    await b.request('chat', { text: 'second' });
    const c = await connect(d.http, { room: 'r5', peerId: 'c5', name: 'Cy' });
    opened.push(c);
    await c.request('getRouterRtpCapabilities', {});
    const joined = await c.request('join', { displayName: 'Cy', rtpCapabilities: { codecs: [] } });
    assert.equal(joined.chat.enabled, true);
    assert.deepEqual(
      joined.chat.history.map((m: any) => [m.from.peerId, m.from.displayName, m.to, m.private, m.text]),
      [
        ['a5', 'Ann', 'all', false, 'first'],
        ['b5', 'Bob', 'all', false, 'second'],
      ],
    );
    assert.ok(joined.chat.history.every((m: any) => typeof m.id === 'string' && Number.isFinite(m.at)));
    assert.equal(chats(c).length, 0, 'history comes in the join response, not again as notifications');
  });

  test('only joined peers chat: a guest waiting for the host, and a connection that has not joined, are refused', async () => {
    // No host in r6: the guest waits (host.protected).
    const waiting = await connect(d.http, { room: 'r6', peerId: 'w6', name: 'Wanda' });
    opened.push(waiting);
    assert.deepEqual(await waiting.hello, { role: 'guest', waiting: true });
    const e = await refused(waiting, 'chat', { text: 'let me in' });
    assert.ok(e.errorCode >= 400 && e.errorCode < 500, String(e.errorCode));
    assert.equal(waiting.open, true);

    // In r7 with a host, but not joined yet.
    const host = await join('r7', 'h7', 'Hana', true);
    const early = await connect(d.http, { room: 'r7', peerId: 'e7', name: 'Early' });
    opened.push(early);
    const notJoined = await refused(early, 'chat', { text: 'hi' });
    assert.equal(notJoined.errorCode, 403);
    assert.equal(notJoined.errorReason, USER_MESSAGES.chatNotJoined);
    assert.equal(chats(host).length, 0);
  });
});
