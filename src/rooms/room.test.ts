/**
 * The room's rules in-process: no daemon, no sockets; a real mediasoup worker (the room opens media
 * when a peer enters) and channels that record what the room says to each connection.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Admission } from '../auth/admission.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import { startWorkerPool, type WorkerPool } from '../sfu/worker-pool.ts';
import type { Entrant, PeerChannel } from './peer.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { createRoom, KICK_BAN_MS, MAX_WAITING, type AdmitResult, type Room, type RoomSettings } from './room.ts';

const log = pino({ level: 'silent' });
let pool: WorkerPool;
before(async () => {
  pool = await startWorkerPool({ workers: 1, media: { ip: '127.0.0.1', announcedAddress: null, port: null, portRange: [62200, 62299] }, log, onWorkerDied: () => {} });
});
after(() => pool.close());

const SETTINGS: RoomSettings = { hostProtected: true, lobby: false, maxPeers: 3, dynacast: true, peersPerRouter: 20, reserveIdMs: 10_000, iceServers: () => [] };

interface Recorder extends PeerChannel {
  said: { how: string; what: unknown }[];
  closedWith: () => { how: string; what: unknown } | undefined;
}
function channel(): Recorder {
  const said: { how: string; what: unknown }[] = [];
  return {
    said,
    notify: (method, data) => void said.push({ how: `notify:${method}`, what: data }),
    request: async () => ({}),
    close: (reason, message) => void said.push({ how: `close:${reason}`, what: message }),
    refuse: (code, message) => void said.push({ how: `refuse:${code}`, what: message }),
    closedWith: () => said.find((s) => s.how.startsWith('close:') || s.how.startsWith('refuse:')),
  };
}

function admission(role: 'host' | 'guest', over: Partial<Admission> & { rights?: { live: boolean } } = {}): Admission {
  const rights = over.rights ?? { live: role === 'host' };
  return { role, hostKey: role === 'host' ? 'session-1' : null, credential: null, closeOnRevoke: false, hasHostRights: () => rights.live, stillValid: () => true, ...over };
}

let n = 0;
function entrant(role: 'host' | 'guest', over: Partial<Entrant> = {}, adm: Partial<Admission> & { rights?: { live: boolean } } = {}): Entrant & { channel: Recorder } {
  n++;
  return {
    peerId: `p${n}`,
    displayName: `P${n}`,
    ipKey: `198.51.100.${n}`,
    sessionHash: `s${n}`,
    admission: admission(role, adm),
    roomPassword: null,
    channel: channel(),
    quota: { take: () => null, release: () => {} },
    ...over,
  } as Entrant & { channel: Recorder };
}

function room(settings: Partial<RoomSettings> = {}): { r: Room; events: string[] } {
  const events: string[] = [];
  const r = createRoom({
    name: `r${++n}`,
    pool,
    settings: { ...SETTINGS, ...settings },
    log,
    events: { hostPresent: (k) => events.push(`present:${k}`), hostLeft: (k) => events.push(`left:${k}`), hostEnded: (by, peers) => events.push(`ended:${by}:${peers}`), idle: () => events.push('idle') },
  });
  return { r, events };
}

test('admit: a guest waits for the host, is let in when one enters, and host presence is reported', async () => {
  const { r, events } = room();
  const g = entrant('guest');
  const waiting = await r.admit(g);
  assert.equal(waiting.kind, 'waiting');
  assert.equal(r.peers.size, 0, 'a waiting guest takes no seat and opens no media');
  const h = await r.admit(entrant('host'));
  assert.equal(h.kind, 'entered');
  const peer = await (waiting as Extract<typeof waiting, { kind: 'waiting' }>).admitted;
  assert.equal(peer?.id, g.peerId);
  assert.ok(g.channel.said.some((s) => s.how === 'notify:admitted'));
  assert.deepEqual(events, ['present:session-1']);
  r.leave(peer!);
  r.leave((h as Extract<typeof h, { kind: 'entered' }>).peer);
  assert.deepEqual(events.slice(0, 2), ['present:session-1', 'left:session-1']);
});

test('lock and password: refused with their codes; hosts still enter; a full room refuses guests, not hosts', async () => {
  const { r } = room({ hostProtected: false });
  const host = await r.admit(entrant('host'));
  assert.equal(host.kind, 'entered');
  const hp = (host as Extract<typeof host, { kind: 'entered' }>).peer;
  await r.handle(hp, 'hostLockRoom', { locked: true });
  const locked = await r.admit(entrant('guest'));
  assert.deepEqual([locked.kind, locked.kind === 'refused' && locked.code], ['refused', CLOSE_CODES.locked]);
  await r.handle(hp, 'hostLockRoom', { locked: false });
  await r.handle(hp, 'hostSetRoomPassword', { password: 'sesame' });
  const wrong = await r.admit(entrant('guest', { roomPassword: 'nope' }));
  assert.equal(wrong.kind === 'refused' && wrong.code, CLOSE_CODES.passwordRequired);
  assert.equal((await r.admit(entrant('guest', { roomPassword: 'sesame' }))).kind, 'entered');
  assert.equal((await r.admit(entrant('guest', { roomPassword: 'sesame' }))).kind, 'entered');
  const full = await r.admit(entrant('guest', { roomPassword: 'sesame' }));
  assert.equal(full.kind === 'refused' && full.code, CLOSE_CODES.forbidden, 'three seats taken, joined or not');
  assert.equal((await r.admit(entrant('host'))).kind, 'entered', 'a host is never locked out');
  r.close('shutdown', 'bye', false);
});

test('takeover: the same tab replaces its connection; another tab is refused, also while the id is reserved', async () => {
  const { r } = room({ hostProtected: false });
  const first = entrant('guest', { peerId: 'same', sessionHash: 'tab-a' });
  const a = await r.admit(first);
  assert.equal(a.kind, 'entered');
  const other = await r.admit(entrant('guest', { peerId: 'same', sessionHash: 'tab-b' }));
  assert.equal(other.kind === 'refused' && other.code, CLOSE_CODES.conflict);
  const again = await r.admit(entrant('guest', { peerId: 'same', sessionHash: 'tab-a' }));
  assert.equal(again.kind, 'entered');
  assert.equal(first.channel.closedWith()?.how, 'close:replaced');
  r.leave((again as Extract<typeof again, { kind: 'entered' }>).peer);
  const squat = await r.admit(entrant('guest', { peerId: 'same', sessionHash: 'tab-b' }));
  assert.equal(squat.kind === 'refused' && squat.code, CLOSE_CODES.conflict, 'a reload must not hand the id to another tab');
  assert.equal(r.idle(), false, 'a reservation keeps the room record');
});

test('revoke: a revoked credential closes what needed it, demotes a host who could stay, and frees waiting guests', async () => {
  const { r } = room();
  const rights = { live: true };
  const presenter = entrant('host', {}, { credential: 'token:P', hostKey: 'token:P', closeOnRevoke: true, rights });
  const login = entrant('host', {}, { credential: 'sess-L', hostKey: 'sess-L', closeOnRevoke: false });
  await r.admit(presenter);
  const l = await r.admit(login);
  const waiter = entrant('guest', {}, { credential: 'token:G', closeOnRevoke: true });
  // A host is in: guests enter. Take the hosts' presence away first so the guest waits.
  r.credentialEnded({ keys: ['sess-L'], kind: 'revoked' });
  const lp = (l as Extract<typeof l, { kind: 'entered' }>).peer;
  assert.equal(lp.role, 'guest', 'host rights taken, connection kept (it would be let in as a guest)');
  assert.ok(login.channel.said.some((s) => s.how === 'notify:role'));
  r.credentialEnded({ keys: ['token:P'], kind: 'revoked' });
  assert.equal(presenter.channel.closedWith()?.how, 'close:revoked');
  assert.equal(r.peers.size, 1);
  const w = await r.admit(waiter);
  assert.equal(w.kind, 'waiting');
  r.credentialEnded({ keys: ['token:G'], kind: 'revoked' });
  assert.equal(waiter.channel.closedWith()?.how, 'close:revoked');
  assert.equal(await (w as Extract<typeof w, { kind: 'waiting' }>).admitted, null);
  r.close('shutdown', 'bye', false);
});

test('host leaves: guests who come later wait again; expiry demotes without closing', async () => {
  const { r } = room();
  const rights = { live: true };
  const h = await r.admit(entrant('host', {}, { credential: 'sess-X', hostKey: 'sess-X', rights }));
  const hp = (h as Extract<typeof h, { kind: 'entered' }>).peer;
  assert.equal((await r.admit(entrant('guest'))).kind, 'entered');
  rights.live = false;
  r.credentialEnded({ keys: ['sess-X'], kind: 'expired' });
  assert.equal(hp.role, 'guest');
  assert.equal((await r.admit(entrant('guest'))).kind, 'waiting', 'no live host: the next guest waits');
  r.close('shutdown', 'bye', false);
});

test('kick: a guest is removed and its address refused for a while; a host is not banned', async () => {
  const { r } = room({ hostProtected: false });
  const g = entrant('guest', { ipKey: '203.0.113.9' });
  await r.admit(g);
  assert.equal(r.kick(g.peerId, 'bye'), true);
  assert.equal(g.channel.closedWith()?.how, 'close:kicked');
  const back = await r.admit(entrant('guest', { ipKey: '203.0.113.9' }));
  assert.equal(back.kind === 'refused' && back.code, CLOSE_CODES.forbidden);
  assert.equal((await r.admit(entrant('host', { ipKey: '203.0.113.9' }))).kind, 'entered', 'hosts are not banned');
  r.close('shutdown', 'bye', false);
});

type Waiting = Extract<AdmitResult, { kind: 'waiting' }>;
type Entered = Extract<AdmitResult, { kind: 'entered' }>;

test('lobby: a guest waits for the host first, then knocks; a host admits or denies (4425); hosts skip it; a let-in tab does not knock again', async () => {
  const { r } = room({ lobby: true });
  const ann = entrant('guest', { displayName: 'Ann' });
  const w = (await r.admit(ann)) as Waiting;
  assert.equal(w.kind, 'waiting');
  assert.equal(w.why(), 'host', 'no host yet: waiting for the host, not in the lobby');
  assert.deepEqual(r.lobby(), { enabled: true, waiting: [] });
  const host = (await r.admit(entrant('host'))) as Entered;
  assert.equal(host.kind, 'entered', 'a host never knocks');
  assert.equal(w.why(), 'lobby', 'the host is here: the guest knocks');
  const told = ann.channel.said.filter((s) => s.how === 'notify:waiting').at(-1);
  assert.match((told?.what as { message: string }).message, /"Ann"/, 'the lobby message names the guest');
  assert.deepEqual(r.lobby().waiting.map((e) => [e.peerId, e.displayName]), [[ann.peerId, 'Ann']]);
  assert.equal(r.peers.size, 1, 'a guest in the lobby holds no seat');

  await assert.rejects(r.handle(host.peer, 'hostAdmit', { peerId: 'nobody' }), /no guest nobody is waiting/);
  assert.deepEqual(await r.handle(host.peer, 'hostAdmit', { peerId: ann.peerId }), { enabled: true, waiting: [] });
  const annPeer = await w.admitted;
  assert.equal(annPeer?.id, ann.peerId);
  assert.ok(ann.channel.said.some((s) => s.how === 'notify:admitted'));
  await assert.rejects(r.handle(annPeer!, 'hostSetLobby', { enabled: false }), /only a host/);
  await assert.rejects(r.handle(annPeer!, 'hostAdmitAll', {}), /only a host/);

  // Reload: the same tab comes back within its reservation and goes straight in.
  r.leave(annPeer!);
  const back = await r.admit(entrant('guest', { peerId: ann.peerId, sessionHash: ann.sessionHash }));
  assert.equal(back.kind, 'entered', 'let in once, the tab is not sent back to the lobby');
  // Another tab taking a free id knocks like anyone.
  const bob = entrant('guest', { displayName: 'Bob' });
  const wb = (await r.admit(bob)) as Waiting;
  assert.equal(wb.why(), 'lobby');
  await r.handle(host.peer, 'hostDeny', { peerId: bob.peerId });
  assert.deepEqual(bob.channel.closedWith(), { how: `refuse:${CLOSE_CODES.lobbyDenied}`, what: USER_MESSAGES.lobbyDenied });
  assert.equal(await wb.admitted, null);
  assert.deepEqual(r.lobby().waiting, []);
  r.close('shutdown', 'bye', false);
});

test('lobby: admit all, off lets everyone in, waiting guests are bounded; a lobby set otherwise than the config keeps the room', async () => {
  const { r } = room({ hostProtected: false, lobby: true, maxPeers: 1000 });
  const host = (await r.admit(entrant('host'))) as Entered;
  const two = [entrant('guest'), entrant('guest')];
  const ws = (await Promise.all(two.map((e) => r.admit(e)))) as Waiting[];
  assert.deepEqual(ws.map((w) => w.why()), ['lobby', 'lobby']);
  const all = (await r.handle(host.peer, 'hostAdmitAll', {})) as { admitted: string[] };
  assert.deepEqual(all.admitted, two.map((e) => e.peerId));
  assert.deepEqual((await Promise.all(ws.map((w) => w.admitted))).map((p) => p?.id), two.map((e) => e.peerId));

  const many: Waiting[] = [];
  for (let i = 0; i < MAX_WAITING; i++) many.push((await r.admit(entrant('guest'))) as Waiting);
  assert.ok(many.every((w) => w.kind === 'waiting'));
  const over = await r.admit(entrant('guest'));
  assert.deepEqual([over.kind, over.kind === 'refused' && over.message], ['refused', USER_MESSAGES.tooManyWaiting]);
  assert.equal(r.lobby().waiting.length, MAX_WAITING);
  // Off: everyone waiting goes in.
  assert.deepEqual(await r.handle(host.peer, 'hostSetLobby', { enabled: false }), { enabled: false, waiting: [] });
  assert.equal((await Promise.all(many.map((w) => w.admitted))).filter(Boolean).length, MAX_WAITING);
  r.close('shutdown', 'bye', false);

  const { r: empty } = room({ hostProtected: false, lobby: false });
  assert.equal(empty.idle(), true);
  empty.setLobby(true, 'admin');
  assert.equal(empty.idle(), false, 'the admin set the lobby before anyone came: kept');
  empty.setLobby(false, 'admin');
  assert.equal(empty.idle(), true);
});

const JOIN = { rtpCapabilities: { codecs: [] } };

test('size: one rule at the door; a host entering a full room also joins it (hosts are never refused as full)', async () => {
  const { r } = room({ hostProtected: false, maxPeers: 2 });
  const first = (await r.admit(entrant('host'))) as Entered;
  const guest = (await r.admit(entrant('guest'))) as Entered;
  await r.handle(first.peer, 'join', JOIN);
  await r.handle(guest.peer, 'join', JOIN);
  const refused = await r.admit(entrant('guest'));
  assert.deepEqual([refused.kind, refused.kind === 'refused' && refused.message], ['refused', USER_MESSAGES.roomFull(2)]);
  const second = (await r.admit(entrant('host'))) as Entered;
  assert.equal(second.kind, 'entered');
  const joined = (await r.handle(second.peer, 'join', JOIN)) as { peers: unknown[] };
  assert.equal(joined.peers.length, 2, 'the second host joins the full room and sees both');
  r.close('shutdown', 'bye', false);
});

test('end: everyone seated or waiting is told once and let go, recording stops, media closes; a closed room admits nobody', async () => {
  const { r, events } = room({ hostProtected: true });
  const host = entrant('host');
  const h = (await r.admit(host)) as Entered;
  await r.handle(h.peer, 'join', JOIN);
  const guest = entrant('guest');
  assert.equal((await r.admit(guest)).kind, 'entered');
  const ended: string[] = [];
  r.recording.attach({ producer: () => {}, ended: (why) => void ended.push(why) });
  assert.ok(r.summary().routers.length > 0, 'media is open');
  assert.deepEqual(r.end(), { peers: 2 });
  for (const e of [host, guest]) {
    const closes = e.channel.said.filter((s) => s.how.startsWith('close:'));
    assert.deepEqual(closes, [{ how: 'close:room_closed', what: USER_MESSAGES.meetingEnded }], 'told once that the meeting ended (not kicked)');
  }
  assert.deepEqual(ended, ['room_closed'], 'the recorder hears the room closed, once, not "room empty"');
  assert.equal(r.closed, true);
  assert.deepEqual([r.peers.size, r.summary().routers], [0, []]);
  assert.ok(events.includes(`left:${host.admission.hostKey}`), 'host presence ends with the room');
  const late = await r.admit(entrant('guest'));
  assert.deepEqual([late.kind, late.kind === 'refused' && late.code], ['refused', CLOSE_CODES.room_closed]);
  r.close('shutdown', 'again', true);
  assert.equal(host.channel.said.filter((s) => s.how.startsWith('close:')).length, 1, 'closing twice tells nobody twice');
  assert.equal(r.idle(), true, 'a closed room may be forgotten');
});

test('close: guests waiting for the host are told and released with the room', async () => {
  const { r } = room({ hostProtected: true });
  const g = entrant('guest');
  const w = (await r.admit(g)) as Waiting;
  assert.equal(w.kind, 'waiting');
  r.close('shutdown', USER_MESSAGES.shutdown, true);
  assert.deepEqual(g.channel.closedWith(), { how: 'close:shutdown', what: USER_MESSAGES.shutdown });
  assert.equal(await w.admitted, null);
});

test('dispatch: a host command from a guest, or from a host whose rights ended, is refused; a removed peer can do nothing', async () => {
  const { r } = room({ hostProtected: false });
  const rights = { live: true };
  const h = (await r.admit(entrant('host', {}, { rights }))) as Entered;
  const g = (await r.admit(entrant('guest'))) as Entered;
  await assert.rejects(r.handle(g.peer, 'hostKickPeer', { peerId: h.peer.id }), /only a host/);
  rights.live = false;
  await assert.rejects(r.handle(h.peer, 'hostMutePeer', { peerId: g.peer.id, kind: 'audio' }), /only a host/, 'rights are checked at each command');
  rights.live = true;
  await assert.rejects(r.handle(h.peer, 'hostKickPeer', { peerId: h.peer.id }), /use leave/);
  assert.deepEqual(await r.handle(h.peer, 'hostKickPeer', { peerId: g.peer.id }), {});
  await assert.rejects(r.handle(g.peer, 'changeDisplayName', { displayName: 'x' }), /left the room/);
  r.close('shutdown', 'bye', false);
});

test('mute: a host mute belongs to the participant, so the same tab back (a reload) is still muted and told so', async () => {
  const { r } = room({ hostProtected: false });
  const h = (await r.admit(entrant('host'))) as Entered;
  const tab = entrant('guest', { peerId: 'muted-one', sessionHash: 'tab-m' });
  const first = (await r.admit(tab)) as Entered;
  await r.handle(h.peer, 'hostMutePeer', { peerId: 'muted-one', kind: 'audio' });
  const back = entrant('guest', { peerId: 'muted-one', sessionHash: 'tab-m' });
  const again = (await r.admit(back)) as Entered;
  assert.equal(tab.channel.closedWith()?.how, 'close:replaced');
  assert.notEqual(again.peer, first.peer);
  assert.deepEqual([...again.peer.mutedByHost], ['audio'], 'the new connection is muted');
  await r.handle(again.peer, 'join', JOIN);
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(back.channel.said.filter((s) => s.how === 'notify:mutedByHost').map((s) => s.what), [{ kind: 'audio' }], 'told on join');
  // Left and back within its reservation: still muted; a host lifting it lifts it for good.
  r.leave(again.peer);
  const third = (await r.admit(entrant('guest', { peerId: 'muted-one', sessionHash: 'tab-m' }))) as Entered;
  assert.deepEqual([...third.peer.mutedByHost], ['audio']);
  await r.handle(h.peer, 'hostUnmutePeer', { peerId: 'muted-one', kind: 'audio' });
  r.leave(third.peer);
  const fourth = (await r.admit(entrant('guest', { peerId: 'muted-one', sessionHash: 'tab-m' }))) as Entered;
  assert.deepEqual([...fourth.peer.mutedByHost], []);
  r.close('shutdown', 'bye', false);
});

test('returning: a participant who dropped comes back past the lock and the password, not past a kick ban; strangers and other tabs do not', async () => {
  const { r } = room({ hostProtected: false });
  const h = (await r.admit(entrant('host'))) as Entered;
  const tab = { peerId: 'back-one', sessionHash: 'tab-r', ipKey: '203.0.113.40' };
  const first = (await r.admit(entrant('guest', tab))) as Entered;
  await r.handle(h.peer, 'hostLockRoom', { locked: true });
  await r.handle(h.peer, 'hostSetRoomPassword', { password: 'sesame' });
  r.leave(first.peer);
  const back = await r.admit(entrant('guest', tab));
  assert.equal(back.kind, 'entered', 'the same tab within its reservation comes back in');
  // Still connected (its network changed): the same tab replaces itself, lock or not.
  const again = await r.admit(entrant('guest', tab));
  assert.equal(again.kind, 'entered');
  const stranger = await r.admit(entrant('guest', { ipKey: '203.0.113.40' }));
  assert.equal(stranger.kind === 'refused' && stranger.code, CLOSE_CODES.locked);
  const otherTab = await r.admit(entrant('guest', { ...tab, sessionHash: 'tab-x' }));
  assert.equal(otherTab.kind === 'refused' && otherTab.code, CLOSE_CODES.conflict);
  r.kick(tab.peerId, 'bye');
  const kicked = await r.admit(entrant('guest', tab));
  assert.equal(kicked.kind === 'refused' && kicked.code, CLOSE_CODES.forbidden, 'a kick ban holds');
  await r.handle(h.peer, 'hostLockRoom', { locked: false });
  r.close('shutdown', 'bye', false);
});

test('returning: a kicked participant, its ban over, is a stranger to the lock', async () => {
  let t = 1_000_000;
  const events: string[] = [];
  const r = createRoom({ name: `r${++n}`, pool, settings: { ...SETTINGS, hostProtected: false, reserveIdMs: 600_000 }, log, now: () => t, events: { hostPresent: () => {}, hostLeft: () => {}, hostEnded: () => {}, idle: () => events.push('idle') } });
  const h = (await r.admit(entrant('host'))) as Entered;
  const tab = { peerId: 'kicked-one', sessionHash: 'tab-k', ipKey: '203.0.113.41' };
  await r.admit(entrant('guest', tab));
  await r.handle(h.peer, 'hostLockRoom', { locked: true });
  r.kick(tab.peerId, 'bye');
  t += KICK_BAN_MS + 1;
  const back = await r.admit(entrant('guest', tab));
  assert.equal(back.kind === 'refused' && back.code, CLOSE_CODES.locked);
  r.close('shutdown', 'bye', false);
});

test('end by a host: answered first, then everyone (the lobby too) is told room_closed; reported for the audit; a guest cannot', async () => {
  const { r, events } = room({ hostProtected: false, lobby: true });
  const h = (await r.admit(entrant('host'))) as Entered;
  const seated = entrant('guest');
  r.setLobby(false, 'admin');
  const g = (await r.admit(seated)) as Entered;
  r.setLobby(true, 'admin');
  const knocking = entrant('guest');
  const w = (await r.admit(knocking)) as Waiting;
  assert.equal(w.why(), 'lobby');
  await assert.rejects(r.handle(g.peer, 'hostEndMeeting', {}), /only a host/);
  assert.deepEqual(await r.handle(h.peer, 'hostEndMeeting', {}), {});
  assert.equal(r.closed, false, 'the answer goes out before the room closes');
  await new Promise((res) => setImmediate(res));
  assert.equal(r.closed, true);
  for (const e of [seated, knocking]) assert.deepEqual(e.channel.closedWith(), { how: 'close:room_closed', what: USER_MESSAGES.meetingEnded });
  assert.equal(await w.admitted, null);
  assert.ok(events.includes(`ended:host ${h.peer.id}:2`), events.join());
});

test('lobby names: the name a host let in is the name that enters; join cannot change it, nor a rename while the lobby is on', async () => {
  const { r } = room({ hostProtected: false, lobby: true, maxPeers: 10 });
  const host = entrant('host');
  const h = (await r.admit(host)) as Entered;
  await r.handle(h.peer, 'join', JOIN);
  const ann = entrant('guest', { displayName: 'Ann' });
  const w = (await r.admit(ann)) as Waiting;
  assert.equal(w.why(), 'lobby');
  await r.handle(h.peer, 'hostAdmit', { peerId: ann.peerId });
  const annPeer = (await w.admitted)!;
  await r.handle(annPeer, 'join', { ...JOIN, displayName: 'Host (the real one)' });
  assert.equal(annPeer.displayName, 'Ann', 'join does not rename a guest let in from the lobby');
  const seen = host.channel.said.find((s) => s.how === 'notify:newPeer' && (s.what as { id: string }).id === ann.peerId);
  assert.equal((seen?.what as { displayName: string }).displayName, 'Ann', 'the hosts see the name they admitted');
  assert.equal(r.summary().peers.find((p) => p.id === ann.peerId)?.name, 'Ann');
  await assert.rejects(r.handle(annPeer, 'changeDisplayName', { displayName: 'Host' }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'forbidden');
    assert.equal(e.message, USER_MESSAGES.nameKeptWhileLobby('Ann'));
    return true;
  });
  assert.equal(host.channel.said.filter((s) => s.how === 'notify:peerDisplayNameChanged').length, 0, 'nobody was told of a rename');

  // A reload within its reservation, with another name in its URL: it enters under the admitted one.
  r.leave(annPeer);
  const back = (await r.admit(entrant('guest', { peerId: ann.peerId, sessionHash: ann.sessionHash, displayName: 'Admin' }))) as Entered;
  assert.equal(back.kind, 'entered');
  assert.equal(back.peer.displayName, 'Ann');
  await r.handle(back.peer, 'join', { ...JOIN, displayName: 'Admin' });
  assert.equal(back.peer.displayName, 'Ann');

  // Turned off while a guest knocks: it enters under the name the hosts saw in the lobby.
  const bob = entrant('guest', { displayName: 'Bob' });
  const wb = (await r.admit(bob)) as Waiting;
  await r.handle(h.peer, 'hostSetLobby', { enabled: false });
  const bobPeer = (await wb.admitted)!;
  await r.handle(bobPeer, 'join', { ...JOIN, displayName: 'Admin' });
  assert.equal(bobPeer.displayName, 'Bob');
  // With the lobby off, anyone may come in under any name: a rename is allowed and everyone is told.
  assert.deepEqual(await r.handle(back.peer, 'changeDisplayName', { displayName: 'Ann Lee' }), {});
  assert.equal(back.peer.displayName, 'Ann Lee');
  assert.ok(host.channel.said.some((s) => s.how === 'notify:peerDisplayNameChanged' && (s.what as { displayName: string }).displayName === 'Ann Lee'));
  // A guest who never passed the lobby names itself in join, as before.
  const carl = (await r.admit(entrant('guest', { displayName: 'Carl' }))) as Entered;
  await r.handle(carl.peer, 'join', { ...JOIN, displayName: 'Carl B' });
  assert.equal(carl.peer.displayName, 'Carl B');
  r.close('shutdown', 'bye', false);
});
