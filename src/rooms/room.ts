/**
 * One room: its peers, and the parts that hold the rest (model: Galene's group, mediasoup-demo's Room).
 * The room seats and unseats peers, owns the one way a room closes, and dispatches every client method
 * through one table of handlers that its parts provide:
 *
 *   door.ts           who enters, waits (host, lobby) or is refused; ids, bans, lock, password, lobby
 *   host-commands.ts  what a host may do from the page
 *   routers.ts        the room's routers, opened with the first peer and closed with the last
 *   media.ts          transports, producers, consumers (adaptive.ts: layers and dynacast)
 *   speakers.ts       active speaker and the consumer priorities that follow it
 *   chat.ts           chat; recording.ts: what a recorder sees and everyone is told of it
 *   names.ts          the name a peer joins under, and renames
 *
 * The signalling layer only parses, calls and turns the results into replies and close codes.
 */
import type { types } from 'mediasoup';
import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CredentialEnded } from '../auth/admission.ts';
import type { ClientMethod, ClientRequestData, IceServer, JoinResponse, ServerNotifications } from '../protocol/messages.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { PooledWorker, WorkerPool } from '../sfu/worker-pool.ts';
import type { RoomRouter } from '../sfu/router-set.ts';
import { addEntries, type PeerSummary, type RoomSummary, type StateEntries } from './view.ts';
import { seatRefusal } from './admission.ts';
import { createDoor, type AdmitResult, type LobbyControls, type Refusal, type Seating } from './door.ts';
import { createHostCommands } from './host-commands.ts';
import { createRoomRouters } from './routers.ts';
import { createRoomSpeakers } from './speakers.ts';
import { createRoomMedia } from './media.ts';
import { createRoomChat } from './chat.ts';
import { createRoomNames } from './names.ts';
import { createRecordingHooks, type RecordingTap } from './recording.ts';
import { hasHostRights, newPeer, peerInfo, requireHost, type Entrant, type Handler, type Peer } from './peer.ts';

export { KICK_BAN_MS, MAX_WAITING, type AdmitResult } from './door.ts';

/** A connection in a room must `join` within this time, or its seat is given back. */
export const JOIN_DEADLINE_MS = 30_000;

export interface RoomSettings {
  hostProtected: boolean;
  /** Whether a new room's lobby is on (config rooms.lobby); hosts and the admin turn it on or off per room. */
  lobby: boolean;
  maxPeers: number;
  /** Whether simulcast senders are told to stop encoding layers nobody receives. */
  dynacast: boolean;
  peersPerRouter: number;
  /** How long a departed peer id stays reserved for its own tab. */
  reserveIdMs: number;
  /** TURN servers for an admitted peer's connection (auth makes them, one credential per Peer; [] without TURN). */
  iceServers: (peer: Peer) => IceServer[];
}

/** What a room tells the rest of the daemon (the registry aggregates it over rooms). */
export interface RoomEvents {
  /** A connection holding host credential `key` entered / left. */
  hostPresent(key: string): void;
  hostLeft(key: string): void;
  /** A host ended the meeting from the page (`by`: "host PEER"): audited as the admin's end is. */
  hostEnded(by: string, peers: number): void;
  /** Nothing is left in the room (no peers, waiting guests, reservations or bans): it may be forgotten. */
  idle(): void;
}

type CloseReason = ServerNotifications['disconnected']['reason'];
/** An entrant racing the room's end: its page comes back, to the new room of that name. */
const CLOSED: Refusal = { kind: 'refused', code: CLOSE_CODES.room_closed, message: USER_MESSAGES.couldNotOpen };

export interface Room extends LobbyControls {
  readonly name: string;
  readonly createdAt: Date;
  readonly peers: ReadonlyMap<string, Peer>;
  /** Closed for good (ended by the admin, or the daemon stopping): the registry makes a new one. */
  readonly closed: boolean;
  /** What a recorder sees of the room, and how everyone in it is told of a recording (recording.ts). */
  readonly recording: RecordingTap;
  admit(e: Entrant): Promise<AdmitResult>;
  /** The peer's connection closed. */
  leave(peer: Peer): void;
  handle<M extends ClientMethod>(peer: Peer, method: M, data: ClientRequestData<M>): Promise<unknown>;
  /** Ends a peer's session; a guest's address may not come back for KICK_BAN_MS. */
  kick(peerId: string, message: string): boolean;
  credentialEnded(ev: CredentialEnded): void;
  /** A worker died: the peers on its router rejoin (their page does it), the others go on. */
  workerDied(worker: PooledWorker): void;
  hasHost(): boolean;
  /** Nothing left to keep: no peers, no waiting guests, no live reservation or ban, the lobby as configured. */
  idle(): boolean;
  summary(): RoomSummary;
  /** What the room keeps in memory beyond its peers (StateEntries). */
  entries(): StateEntries;
  /** Forgets what has run out (door reservations, bans and per-address counts, chat allowances), peers or not. */
  sweep(): void;
  /**
   * The meeting ends (the admin, or a host: `by`): everyone seated or waiting is told `room_closed` and
   * disconnected, nobody is banned, and the room closes; the next comer opens a new one.
   */
  end(by?: string): { peers: number };
  /** Closes the room for good (idempotent): everyone is told `reason` and disconnected, its media closes. */
  close(reason: CloseReason, message: string, rejoin: boolean): void;
}

export function createRoom(opts: { name: string; pool: WorkerPool; settings: RoomSettings; events: RoomEvents; log: Logger; now?: () => number }): Room {
  const { name, settings, events } = opts;
  const log = opts.log.child({ room: name });
  const now = opts.now ?? Date.now;
  const createdAt = new Date();
  const peers = new Map<string, Peer>();
  const joinTimers = new Map<Peer, NodeJS.Timeout>();
  /** Host peers whose presence was reported: only they report leaving (presence is counted over rooms). */
  const present = new WeakSet<Peer>();
  let closed = false;

  const joined = () => [...peers.values()].filter((p) => p.joined);
  const others = (peer: Peer) => joined().filter((p) => p !== peer);
  const broadcast = <M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]) => {
    for (const p of joined()) p.channel.notify(method, data);
  };
  const hasHost = () => [...peers.values()].some(hasHostRights);

  const routers = createRoomRouters({ pool: opts.pool, peersPerRouter: settings.peersPerRouter, log, onLost: routerLost });
  const speakers = createRoomSpeakers({ log, peers, routers: routers.current, broadcast });
  const door = createDoor({
    settings: { hostProtected: settings.hostProtected, lobby: settings.lobby, reserveIdMs: settings.reserveIdMs },
    log,
    now,
    seatedCount: () => peers.size,
    hasHost,
    hostsHere: () => joined().filter(hasHostRights),
    seat,
    evict: removePeer,
    changed: checkIdle,
  });
  const chat = createRoomChat({ log, joined, requireHost, now });
  const names = createRoomNames({ log, door, others });
  // While recording, senders keep every layer: the recorder takes the top one, and a layer switched off
  // and on by dynacast would freeze the file until the next key frame.
  const recording = createRecordingHooks({ joined, onState: (s) => media.keepAllLayers(s.active) });
  const media = createRoomMedia({
    log,
    iceServers: settings.iceServers,
    dynacast: settings.dynacast,
    routers: routers.current,
    others,
    warnOnce,
    onProducer: (peer, producer) => {
      speakers.producerAdded(peer, producer);
      recording.producerAdded(peer, producer);
    },
  });

  /** Every client method, answered by the part that owns it. */
  const handlers: { [M in ClientMethod]: Handler<M> } = {
    join,
    ...names.handlers,
    ...createHostCommands({ log, peers, door, kick, broadcast, end: (by) => !closed && events.hostEnded(by, end(by).peers) }),
    chat: async (peer, d) => chat.chat(peer, d),
    hostSetChat: async (peer, d) => chat.hostSetChat(peer, d),
    ...media.handlers,
  };

  function warnOnce(peer: Peer, what: string, fields: Record<string, unknown>): void {
    if (peer.warned.has(what)) return;
    peer.warned.add(what);
    log.warn({ peer: peer.id, ...fields }, `${what} (further ones from this peer are not logged)`);
  }

  function checkIdle(): void {
    if (room.idle()) events.idle();
  }

  function setRole(peer: Peer, role: Peer['role'], message: string): void {
    if (peer.role === role) return;
    peer.role = role;
    peer.channel.notify('role', { role, message });
    for (const other of others(peer)) other.channel.notify('peerRoleChanged', { peerId: peer.id, role });
  }

  /**
   * The one way the room's media closes: when no peer is left in it (the last one left, a dead worker
   * took the last ones, or the room closed and let everyone go). The recorder hears why, once.
   */
  function closeMediaIfEmpty(): void {
    if (peers.size > 0 || !routers.current()) return;
    const reason = closed ? 'room_closed' : 'room_empty';
    recording.ended(reason);
    routers.close();
    speakers.mediaClosed();
    log.info({ reason }, 'room closed');
  }

  /** Takes the peer out: its media closes, the others are told, its id is kept for its tab a while. */
  function removePeer(peer: Peer): void {
    if (peers.get(peer.id) !== peer) return;
    peers.delete(peer.id);
    clearTimeout(joinTimers.get(peer));
    joinTimers.delete(peer);
    for (const t of peer.transports.values()) t.close();
    if (peer.home) routers.release(peer.home);
    peer.home = null;
    if (peer.joined) {
      for (const other of joined()) other.channel.notify('peerClosed', { peerId: peer.id });
      speakers.peerLeft(peer.id);
    }
    door.left(peer);
    if (peer.admission.hostKey && present.delete(peer)) events.hostLeft(peer.admission.hostKey);
    closeMediaIfEmpty();
    checkIdle();
  }

  /** A router of the room died with its worker: its peers rejoin (the page does it), the others go on. */
  function routerLost(lost: RoomRouter): void {
    log.warn({ workerPid: lost.worker.worker.pid, peers: lost.peers }, 'room lost a media worker; its peers there are asked to rejoin');
    const none = routers.current()?.routers.length === 0;
    for (const peer of [...peers.values()]) {
      // With no router left, peers still being placed must come back too.
      if (peer.home === lost || (none && peer.home === null)) {
        peer.channel.close('worker_died', USER_MESSAGES.workerDied, true);
        removePeer(peer);
      }
    }
    speakers.routerLost(lost);
  }

  /** Seats an entrant the door let in: a peer on the least-loaded router of the room. */
  async function seat(e: Entrant): Promise<Seating> {
    const full = seatRefusal({ role: e.admission.role, seated: peers.size, maxPeers: settings.maxPeers });
    if (full) return { kind: 'refused', ...full };
    if (closed) return CLOSED;
    const peer = newPeer(e);
    // Seated before the await: a burst of entrants cannot all pass the size rule.
    peers.set(peer.id, peer);
    door.seated(peer);
    try {
      peer.home = await routers.place();
      speakers.routerUsed(peer.home.router);
    } catch (err) {
      if (peers.get(peer.id) === peer) peers.delete(peer.id);
      door.unseated(peer);
      closeMediaIfEmpty();
      log.error({ err }, 'could not open media for a peer');
      return { kind: 'refused', code: CLOSE_CODES.internal, message: USER_MESSAGES.couldNotOpen };
    }
    if (peers.get(peer.id) !== peer) {
      // Replaced, removed or closed while its router was being chosen.
      routers.release(peer.home);
      peer.home = null;
      closeMediaIfEmpty();
      return closed ? CLOSED : { kind: 'refused', code: CLOSE_CODES.replaced, message: USER_MESSAGES.replaced };
    }
    if (peer.admission.hostKey) {
      present.add(peer);
      events.hostPresent(peer.admission.hostKey);
    }
    // Host rights that ended while the room was being opened: nobody told this peer yet.
    if (peer.role === 'host' && !peer.admission.hasHostRights()) setRole(peer, 'guest', USER_MESSAGES.hostRightsEnded);
    const timer = setTimeout(() => {
      if (peer.joined || peers.get(peer.id) !== peer) return;
      peer.channel.close('join_timeout', USER_MESSAGES.joinTimeout);
      removePeer(peer);
    }, JOIN_DEADLINE_MS);
    timer.unref();
    joinTimers.set(peer, timer);
    log.info({ peer: peer.id, role: peer.role, workerPid: peer.home.worker.worker.pid }, 'peer connected');
    if (peer.role === 'host') door.letWaitingIn();
    return { kind: 'entered', peer };
  }

  async function join(peer: Peer, d: ClientRequestData<'join'>): Promise<JoinResponse> {
    if (peer.joined) throw new ConfdError('conflict', 'already joined');
    peer.rtpCapabilities = d.rtpCapabilities as unknown as types.RtpCapabilities;
    peer.displayName = names.joinName(peer, d.displayName);
    peer.device = { name: d.device?.name };
    peer.joined = true;
    clearTimeout(joinTimers.get(peer));
    joinTimers.delete(peer);
    const existing = others(peer);
    for (const other of existing) other.channel.notify('newPeer', peerInfo(peer));
    // Consumers for what is already being sent are created after the join response goes out.
    setImmediate(() => {
      for (const other of existing) for (const producer of other.producers.values()) void media.consume(peer, other, producer);
      speakers.greet(peer);
      recording.joined(peer);
      // A host's mute outlives a reload of the tab (door.ts): the page hears of it again.
      for (const kind of peer.mutedByHost) peer.channel.notify('mutedByHost', { kind });
      // A host hears of the lobby from the start: whether it is on, and who is waiting.
      if (hasHostRights(peer)) peer.channel.notify('lobby', door.lobby());
    });
    return { peers: existing.map(peerInfo), role: peer.role, room: door.roomState(), chat: chat.snapshot() };
  }

  function kick(peerId: string, message: string): boolean {
    const target = peers.get(peerId);
    if (!target) return false;
    target.channel.close('kicked', message);
    removePeer(target);
    door.kicked(target);
    return true;
  }

  function end(by = 'the admin'): { peers: number } {
    const n = peers.size;
    log.info({ peers: n, by }, 'meeting ended');
    close('room_closed', USER_MESSAGES.meetingEnded, false);
    return { peers: n };
  }

  function close(reason: CloseReason, message: string, rejoin: boolean): void {
    if (closed) return;
    closed = true;
    door.close(reason, message, rejoin);
    // The last one out closes the media, as always (the room being closed, the recorder hears room_closed).
    for (const peer of [...peers.values()]) {
      peer.channel.close(reason, message, rejoin);
      removePeer(peer);
    }
    closeMediaIfEmpty();
    log.info({ reason }, 'everyone in the room was disconnected');
  }

  const room: Room = {
    name,
    createdAt,
    peers,
    get closed() {
      return closed;
    },
    recording: recording.tap,

    async admit(e) {
      if (closed) return CLOSED;
      return door.admit(e);
    },

    leave: removePeer,

    async handle(peer, method, data) {
      if (peers.get(peer.id) !== peer) throw new ConfdError('conflict', 'this connection has left the room; reconnect');
      return (handlers[method] as Handler<typeof method>)(peer, data);
    },

    kick,

    credentialEnded(ev) {
      door.credentialEnded(ev);
      const ended = new Set(ev.keys);
      for (const peer of [...peers.values()]) {
        const a = peer.admission;
        if (!a.credential || !ended.has(a.credential)) continue;
        if (ev.kind === 'revoked' && a.closeOnRevoke) {
          log.info({ peer: peer.id }, 'credential revoked: connection closed');
          peer.channel.close('revoked', USER_MESSAGES.revoked);
          removePeer(peer);
        } else if (peer.role === 'host') {
          setRole(peer, 'guest', ev.kind === 'expired' ? USER_MESSAGES.hostRightsExpired : USER_MESSAGES.hostRightsEnded);
        }
      }
      door.lobbyChanged();
      checkIdle();
    },

    workerDied: (worker) => routers.dropWorker(worker),
    hasHost,
    lobby: () => door.lobby(),
    setLobby: (enabled, by) => door.setLobby(enabled, by),
    lobbyAdmit: (target, by) => door.lobbyAdmit(target, by),
    lobbyDeny: (target, by) => door.lobbyDeny(target, by),

    idle() {
      return closed || (peers.size === 0 && !routers.opening && door.idle());
    },

    summary() {
      return {
        name,
        createdAt: createdAt.toISOString(),
        ...routers.summary(),
        ...speakers.summary(),
        peers: [...peers.values()].map((p): PeerSummary => ({ id: p.id, name: p.displayName, producers: p.producers.size, consumers: p.consumers.size, ...media.describe(p) })),
      };
    },

    sweep() {
      door.sweep();
      chat.sweep();
    },

    entries: () => addEntries(addEntries(door.entries(), chat.entries()), { pipes: routers.current()?.pipes ?? 0 }),

    end,

    close,
  };
  return room;
}
