/**
 * The soak's load: a host and a few Chromium pages that stay the whole run, and rounds of one fixed
 * pattern around them, repeated until the time is up. Every step waits for the state it needs (media
 * received, a notification, a file being written), never for a fixed time, so a slow or loaded machine
 * runs fewer rounds of the same pattern rather than a different one. The bound on each wait
 * (STATE_MS) only turns a hang into a failed round.
 *
 * One round:
 *  1. main room: two werift guests (from their own addresses) join with audio and video and receive
 *     each other and the pages; one mutes and unmutes itself, the host mutes the other (held on the
 *     server) and lifts it; one shares a screen (a second video producer) and stops; chat, public and
 *     private; both leave; every other round the room (the host and the pages) is then recorded:
 *     started, its files written to, stopped (and the files deleted);
 *  2. lobby room (lobby on, its own host): a guest knocks and is admitted, joins, and leaves (or, every
 *     other round, is kicked); another knocks and is denied;
 *  3. a new room each round: two guests exchange audio and leave, so the room is made and forgotten;
 *  4. every few rounds a page reloads (leaves and comes back as the same tab).
 * A round ends once the daemon counts only the peers that stay and the two rooms they are in.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CLOSE_CODES } from '../../src/protocol/close-codes.ts';
import type { LobbyState } from '../../src/protocol/messages.ts';
import type { RunningDaemon } from '../../test/helpers/daemon.ts';
import { closePage, launchChromium, openPage, peerId, state } from '../../test/helpers/browser.ts';
import { login } from '../../test/helpers/login.ts';
import { connect, joinPeer, type Kind, type SfuClient } from '../../test/helpers/sfu-client.ts';
import { readMetrics } from '../../test/helpers/metrics.ts';
import { until } from '../../test/helpers/wait.ts';
import { peerAddress } from '../load/peers.ts';

export const MAIN = 'soak-main';
export const LOBBY = 'soak-lobby';
/** A bound on one wait for a state, so that a hang fails its round instead of the run. */
const STATE_MS = 120_000;
/** Distinct guest addresses (127.0.1.1 ...) taken in turn: per-address state gets many keys, as from real guests. */
const ADDRESSES = 1000;
const RELOAD_EVERY = 6;
const USER = 'soak';
const PASSWORD = 'soak-host-password-0123';

export interface Tally {
  rounds: number;
  failedRounds: number;
  joins: number;
  leaves: number;
  mutes: number;
  hostMutes: number;
  screenShares: number;
  chats: number;
  knocks: number;
  admitted: number;
  denied: number;
  kicks: number;
  recordings: number;
  roomsOpened: number;
  reloads: number;
}

export interface Load {
  readonly tally: Tally;
  /** Peers and rooms the daemon holds between rounds (the hosts and pages that stay). */
  readonly base: { peers: number; rooms: number };
  round(): Promise<void>;
  /** Console errors and uncaught exceptions of the pages. */
  readonly problems: string[];
  close(): Promise<void>;
}

const liveConsumer = (c: SfuClient, from: string, kind: Kind) => {
  const s = [...c.consumersOf(from)].reverse().find((x) => x.kind === kind && !x.closed);
  if (!s) throw new Error(`${c.peerId} has no ${kind} consumer of ${from}`);
  return s.id;
};

export async function startLoad(d: RunningDaemon, o: { browsers: number; log: (m: string) => void }): Promise<Load> {
  const tally: Tally = { rounds: 0, failedRounds: 0, joins: 0, leaves: 0, mutes: 0, hostMutes: 0, screenShares: 0, chats: 0, knocks: 0, admitted: 0, denied: 0, kicks: 0, recordings: 0, roomsOpened: 0, reloads: 0 };
  const problems: string[] = [];
  let nextAddress = 0;
  const address = () => peerAddress(nextAddress++ % ADDRESSES);

  const added = await d.admin('POST', '/v1/users', { name: USER, password: PASSWORD });
  if (added.status !== 201) throw new Error(`could not add the soak's host user: ${JSON.stringify(added.body)}`);
  const hostToken = await login(d, USER, PASSWORD);

  // The hosts stay all run long: the main room's sends audio, the lobby's keeps the lobby on.
  const host = await connect(d.http, { room: MAIN, peerId: 'soak-host', name: 'Soak host', query: { host: hostToken } });
  const role = await host.hello;
  if (role instanceof Error || role.role !== 'host') throw new Error(`the soak's host did not get host rights: ${role instanceof Error ? role.message : JSON.stringify(role)}`);
  await host.joinWithMedia({ produce: ['audio'], displayName: 'Soak host' });
  const lobbyHost = await connect(d.http, { room: LOBBY, peerId: 'soak-lobby-host', name: 'Lobby host', query: { host: hostToken } });
  await lobbyHost.joinWithMedia({ displayName: 'Lobby host' });
  await lobbyHost.request('hostSetLobby', { enabled: true });

  let browser: Browser | null = null;
  const pages: Page[] = [];
  if (o.browsers > 0) {
    browser = await launchChromium();
    for (let i = 0; i < o.browsers; i++) {
      const page = await openPage(browser, `${d.http}/join/${MAIN}?name=${encodeURIComponent(`Browser ${i + 1}`)}`, `page ${i + 1}`, problems);
      await until(async () => (await state(page)) === 'joined', `page ${i + 1} joined`, STATE_MS, 250);
      pages.push(page);
    }
  }
  const base = { peers: 2 + pages.length, rooms: 2 };

  /** Waits until `c` receives packets of each kind from peer `from` (from a live consumer); says what it saw if not. */
  async function hears(c: SfuClient, sender: SfuClient | string, kinds: readonly Kind[], what: string): Promise<void> {
    const from = typeof sender === 'string' ? sender : sender.peerId;
    try {
      await until(() => kinds.every((k) => c.consumersOf(from).some((s) => s.kind === k && !s.closed && s.packets >= 10)), `${what}: ${c.peerId} receives ${kinds.join('+')} from ${from}`, STATE_MS, 100);
    } catch (e) {
      const had = c.consumersOf(from).map((s) => `${s.kind} ${s.closed ? 'closed' : 'open'} ${s.packets} packets`);
      const rooms = (await d.admin('GET', '/v1/rooms')).body.rooms as { name: string; peers: { id: string; producers: number; consumers: number; videoConsumers?: { fromPeer: string; paused: boolean; producerPaused: boolean }[] }[] }[];
      const seen = rooms.flatMap((r) => r.peers.filter((p) => p.id === from || p.id === c.peerId).map((p) => ({ room: r.name, ...p, videoConsumers: p.videoConsumers?.filter((v) => v.fromPeer === from) })));
      const transports = `recv ${c.recvTransport?.connectionState ?? '-'}, the sender's send ${typeof sender === 'string' ? '(a page)' : (sender.sendTransport?.connectionState ?? '-')}`;
      throw new Error(`${(e as Error).message} (its consumers of ${from}: ${had.join('; ') || 'none'}; its transports: ${transports}; the daemon has ${JSON.stringify(seen)})`);
    }
  }

  /** Main room: media both ways, mutes, a host's mute, a screen share, chat, maybe a recording; then both leave. */
  async function mainRoom(n: number, opened: SfuClient[]): Promise<void> {
    const join = async (label: string) => {
      const c = await joinPeer(d.http, { room: MAIN, name: `Guest ${n}${label}`, produce: ['audio', 'video'], consume: true, localAddress: address() });
      opened.push(c);
      tally.joins++;
      return c;
    };
    const a = await join('a');
    const b = await join('b');
    await hears(a, b, ['audio', 'video'], 'main');
    await hears(b, a, ['audio', 'video'], 'main');
    for (const page of pages) await hears(a, await peerId(page), ['audio', 'video'], 'main (from a page)');

    // a mutes and unmutes its microphone: b's consumer pauses and resumes.
    let since = b.messages.length;
    const aAudio = liveConsumer(b, a.peerId, 'audio');
    await a.request('pauseProducer', { producerId: a.producerIds.get('audio') });
    await b.waitForNotification('consumerPaused', (x) => x.consumerId === aAudio, STATE_MS, since);
    await a.request('resumeProducer', { producerId: a.producerIds.get('audio') });
    await b.waitForNotification('consumerResumed', (x) => x.consumerId === aAudio, STATE_MS, since);
    tally.mutes++;

    // The host mutes b (held on the server), then lets it unmute; b resumes.
    since = a.messages.length;
    const bSince = b.messages.length;
    const bAudio = liveConsumer(a, b.peerId, 'audio');
    await host.request('hostMutePeer', { peerId: b.peerId, kind: 'audio' });
    await b.waitForNotification('mutedByHost', () => true, STATE_MS, bSince);
    await a.waitForNotification('consumerPaused', (x) => x.consumerId === bAudio, STATE_MS, since);
    await host.request('hostUnmutePeer', { peerId: b.peerId, kind: 'audio' });
    await b.waitForNotification('unmutedByHost', () => true, STATE_MS, bSince);
    await b.request('resumeProducer', { producerId: b.producerIds.get('audio') });
    await a.waitForNotification('consumerResumed', (x) => x.consumerId === bAudio, STATE_MS, since);
    tally.hostMutes++;

    // a shares a screen (a second video producer) and stops.
    const screen = await a.shareScreen();
    await until(() => [...b.consumers.values()].some((s) => s.producerId === screen && s.packets >= 10), 'b receives a\'s screen', STATE_MS, 100);
    since = b.messages.length;
    const screenConsumer = [...b.consumers.values()].find((s) => s.producerId === screen)!.id;
    await a.request('closeProducer', { producerId: screen });
    a.generators.get(screen)?.stop();
    await b.waitForNotification('consumerClosed', (x) => x.consumerId === screenConsumer, STATE_MS, since);
    tally.screenShares++;

    // Chat: a to everyone, the host privately to b.
    since = host.messages.length;
    const pub = await a.request('chat', { text: `round ${n}: hello all` });
    await host.waitForNotification('chatMessage', (m) => m.id === pub.id, STATE_MS, since);
    const priv = await host.request('chat', { text: `round ${n}: hello b`, to: b.peerId });
    await b.waitForNotification('chatMessage', (m) => m.id === priv.id && m.private === true, STATE_MS, bSince);
    tally.chats += 2;

    since = host.messages.length;
    await a.close();
    await b.close();
    tally.leaves += 2;
    for (const c of [a, b]) await host.waitForNotification('peerClosed', (x) => x.peerId === c.peerId, STATE_MS, since);
    // Recorded once the guests left: ffmpeg cannot size their generated VP8 (see test/recording-guests.test.ts).
    if (n % 2 === 0) await record();
  }

  /**
   * A recording of the main room (the host's audio, the pages' camera and microphone): started, the
   * pages' files (or, without pages, the host's) written to, stopped; the room is told both.
   */
  async function record(): Promise<void> {
    const since = host.messages.length;
    const started = await d.admin('POST', `/v1/rooms/${MAIN}/recording`, {});
    if (started.status !== 201) throw new Error(`record start: ${started.status} ${JSON.stringify(started.body)}`);
    await host.waitForNotification('recording', (s) => s.active === true, STATE_MS, since);
    try {
      const watched = (started.body.files as { peerId: string; file: string }[]).filter((f) => pages.length === 0 || f.peerId !== host.peerId);
      const files = watched.map((f) => resolve(d.dataDir, 'recordings', f.file));
      if (files.length === 0) throw new Error(`record start: no file to watch in ${JSON.stringify(started.body.files)}`);
      await until(() => files.every((f) => existsSync(f) && statSync(f).size > 0), `the recording files written to (${files.join(', ')})`, STATE_MS, 250);
    } finally {
      const stopped = await d.admin('DELETE', `/v1/rooms/${MAIN}/recording`, {});
      if (stopped.status !== 200) throw new Error(`record stop: ${stopped.status} ${JSON.stringify(stopped.body)}`);
    }
    await host.waitForNotification('recording', (s) => s.active === false, STATE_MS, since);
    tally.recordings++;
    // Every file was finalised before the stop was answered: the disk stays as it was, round after round.
    const dir = resolve(d.dataDir, 'recordings');
    for (const f of readdirSync(dir)) rmSync(resolve(dir, f), { force: true });
  }

  /** Knocks at the lobby room: waits until its host sees it waiting. */
  async function knock(label: string, opened: SfuClient[]): Promise<SfuClient> {
    const since = lobbyHost.messages.length;
    const k = await connect(d.http, { room: LOBBY, name: label, localAddress: address() });
    opened.push(k);
    const hello = await k.hello;
    if (hello instanceof Error || !hello.waiting) throw new Error(`${label} was not made to wait: ${hello instanceof Error ? hello.message : JSON.stringify(hello)}`);
    await lobbyHost.waitForNotification('lobby', (s: LobbyState) => s.waiting.some((w) => w.peerId === k.peerId), STATE_MS, since);
    tally.knocks++;
    return k;
  }

  /** Lobby room: one guest admitted (then leaving, or kicked), one denied. */
  async function lobbyRoom(n: number, opened: SfuClient[]): Promise<void> {
    const k1 = await knock(`Knock ${n}a`, opened);
    let since = lobbyHost.messages.length;
    await lobbyHost.request('hostAdmit', { peerId: k1.peerId });
    await k1.waitForNotification('admitted', () => true, STATE_MS);
    await k1.joinWithMedia({ displayName: `Knock ${n}a` });
    await lobbyHost.waitForNotification('newPeer', (p) => p.id === k1.peerId, STATE_MS, since);
    tally.admitted++;
    tally.joins++;
    since = lobbyHost.messages.length;
    if (n % 2 === 1) {
      await lobbyHost.request('hostKickPeer', { peerId: k1.peerId });
      const closed = await k1.closed;
      if (closed.code !== CLOSE_CODES.kicked) throw new Error(`kicked guest closed with ${closed.code}`);
      tally.kicks++;
    } else {
      await k1.close();
    }
    tally.leaves++;
    await lobbyHost.waitForNotification('peerClosed', (x) => x.peerId === k1.peerId, STATE_MS, since);

    const k2 = await knock(`Knock ${n}b`, opened);
    await lobbyHost.request('hostDeny', { peerId: k2.peerId });
    const denied = await k2.closed;
    if (denied.code !== CLOSE_CODES.lobbyDenied) throw new Error(`denied guest closed with ${denied.code}`);
    tally.denied++;
  }

  /** A room of its own name: made by its first guest, forgotten after its last leaves. */
  async function passingRoom(n: number, opened: SfuClient[]): Promise<void> {
    const room = `soak-r${n}`;
    const e1 = await joinPeer(d.http, { room, produce: ['audio'], consume: true, localAddress: address() });
    opened.push(e1);
    const e2 = await joinPeer(d.http, { room, produce: ['audio'], consume: true, localAddress: address() });
    opened.push(e2);
    tally.joins += 2;
    tally.roomsOpened++;
    await hears(e1, e2, ['audio'], 'passing room');
    await hears(e2, e1, ['audio'], 'passing room');
    await e1.close();
    await e2.close();
    tally.leaves += 2;
  }

  async function reload(): Promise<void> {
    const page = pages[tally.reloads % Math.max(1, pages.length)];
    if (!page) return;
    await page.reload();
    await until(async () => (await state(page)) === 'joined', 'a reloaded page joined again', STATE_MS, 250);
    tally.reloads++;
  }

  /** Between rounds the daemon holds only what stays: the hosts, the pages, their two rooms. */
  async function settled(): Promise<void> {
    await until(
      async () => {
        const m = await readMetrics(d);
        return m.get('confd_peers') === base.peers && m.get('confd_rooms') === base.rooms;
      },
      `the daemon back to ${base.peers} peers in ${base.rooms} rooms`,
      STATE_MS,
      250,
    );
  }

  return {
    tally,
    base,
    problems,
    async round() {
      const n = tally.rounds + tally.failedRounds;
      const opened: SfuClient[] = [];
      try {
        await mainRoom(n, opened);
        await lobbyRoom(n, opened);
        await passingRoom(n, opened);
        if (n % RELOAD_EVERY === RELOAD_EVERY - 1) await reload();
        await settled();
        tally.rounds++;
      } catch (e) {
        tally.failedRounds++;
        o.log(`round ${n} failed: ${(e as Error).message}`);
        for (const c of opened) if (c.open) await c.close();
        await settled().catch((err: unknown) => o.log(`after round ${n}: ${(err as Error).message}`));
      } finally {
        // The hosts stay all run long: what they were told is not kept for ever.
        for (const h of [host, lobbyHost]) h.messages.splice(0);
      }
    },
    async close() {
      for (const page of pages) await closePage(page).catch(() => {});
      await browser?.close().catch(() => {});
      for (const h of [host, lobbyHost]) if (h.open) await h.close();
    },
  };
}
