/**
 * One room, the single owner of its rules and its peers (model: Galene's group.AddClient,
 * mediasoup-demo's Room): who enters, waits or is refused (admission.ts), who holds which peer id,
 * seats, bans, lock and password, host rights and what ends them, host commands, and the room's media
 * (media.ts on a RouterSet, made when the first peer enters and closed when the last one leaves).
 * The signalling layer only parses, calls and translates the results into replies and close codes.
 */
import type { types } from 'mediasoup';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { Logger } from '../log.ts';
import type { CredentialEnded } from '../auth/admission.ts';
import type { ClientMethod, ClientRequestData, IceServer, JoinResponse, LobbyEntry, LobbyState, RoomState, ServerNotifications } from '../protocol/messages.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import type { RoomSummary, PeerSummary } from '../sfu/media-plane.ts';
import { createRouterSet, type RoomRouter, type RouterSet } from '../sfu/router-set.ts';
import type { PooledWorker, WorkerPool } from '../sfu/worker-pool.ts';
import { claim, gate, hashRoomPassword, lobbyApplies, lobbyPick, type IdClaim, type LobbyTarget } from './admission.ts';
import { createRoomMedia, type MediaMethod } from './media.ts';
import { createRoomChat } from './chat.ts';
import { createRecordingHooks, type RecordingTap } from './recording.ts';
import { newPeer, peerInfo, RequestError, type Entrant, type Peer } from './peer.ts';
import { DEFAULT_PRIORITY, priorityChanges, priorityFor } from './priorities.ts';
import { DOMINANT_INTERVAL_MS, SPEAKING_INTERVAL_MS, SPEAKING_THRESHOLD_DBOV, SpeakerTracker, type SpeakerChange } from './speaker.ts';

/** A kicked guest's address is refused this long, so that a kick is not undone by reloading the page. */
export const KICK_BAN_MS = 60_000;
/** A connection in a room must `join` within this time, or its seat is given back. */
export const JOIN_DEADLINE_MS = 30_000;
/** Guests waiting for a host or in the lobby, per room. */
export const MAX_WAITING = 200;

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
  /** TURN servers with fresh credentials for an admitted peer (auth makes them; [] without TURN). */
  iceServers: (peerId: string) => IceServer[];
}

/** What a room tells the rest of the daemon (the registry aggregates it over rooms). */
export interface RoomEvents {
  /** A connection holding host credential `key` entered / left. */
  hostPresent(key: string): void;
  hostLeft(key: string): void;
  /** Nothing is left in the room (no peers, waiting guests, reservations or bans): it may be forgotten. */
  idle(): void;
}

export type AdmitResult =
  | { kind: 'entered'; peer: Peer }
  /** Resolves with the peer once a host lets it in, or null when it was refused or left meanwhile. */
  | { kind: 'waiting'; admitted: Promise<Peer | null>; leave(): void; message: string; why(): 'host' | 'lobby' }
  | { kind: 'refused'; code: number; message: string };

export interface Room {
  readonly name: string;
  readonly createdAt: Date;
  readonly peers: ReadonlyMap<string, Peer>;
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
  /** The lobby as hosts and the admin see it. */
  lobby(): LobbyState;
  /** Turns the lobby on or off; off lets everyone waiting in it in. `by` names who did it, for the log. */
  setLobby(enabled: boolean, by: string): LobbyState;
  /** Lets waiting guests in from the lobby (ids let in), or null when the one named is not waiting there. */
  lobbyAdmit(target: LobbyTarget, by: string): string[] | null;
  /** Refuses waiting guests (closed with CLOSE_CODES.lobbyDenied); null when the one named is not waiting. */
  lobbyDeny(target: LobbyTarget, by: string): string[] | null;
  /** Nothing left to keep: no peers, no waiting guests, no live reservation or ban, the lobby as configured. */
  idle(): boolean;
  summary(): RoomSummary;
  /** Daemon shutdown: everyone is told and disconnected. */
  close(reason: ServerNotifications['disconnected']['reason'], message: string, rejoin: boolean): void;
}

interface SpeakerObservers {
  active: types.ActiveSpeakerObserver;
  levels: types.AudioLevelObserver;
  router: types.Router;
}

interface Waiter {
  entrant: Entrant;
  resolve: (peer: Peer | null) => void;
  /** In the lobby (hosts see it), rather than waiting for a host to arrive; since when. */
  lobby: boolean;
  since: number;
  /** A host or the admin let it through the lobby. */
  letIn: boolean;
}

/** Who holds a peer id, and with which connection (to replace it when the same tab comes back). */
interface Holder extends IdClaim {
  peer: Peer | null;
  waiter: Waiter | null;
  /** This tab was let through the lobby: coming back within its reservation, it does not knock again. */
  letIn?: boolean;
}

export function createRoom(opts: { name: string; pool: WorkerPool; settings: RoomSettings; events: RoomEvents; log: Logger; now?: () => number }): Room {
  const { name, settings, events, log } = opts;
  const now = opts.now ?? Date.now;
  const createdAt = new Date();
  const peers = new Map<string, Peer>();
  const waiting = new Set<Waiter>();
  const holders = new Map<string, Holder>();
  const bans = new Map<string, number>();
  const access = { locked: false, passwordHash: null as Buffer | null };
  /** The lobby: on from rooms.lobby, then as a host or the admin sets it. */
  let lobbyOn = settings.lobby;
  /** The lobby state hosts were last sent (JSON): only a change is sent again. */
  let lobbySent = '';
  const joinTimers = new Map<Peer, NodeJS.Timeout>();
  /** Host peers whose presence was reported: only they report leaving (presence is counted over rooms). */
  const present = new WeakSet<Peer>();
  let routers: RouterSet | null = null;
  let opening: Promise<RouterSet> | null = null;
  /** The room's speaker observers, on its first router (speaker.ts). */
  let speaker: SpeakerObservers | null = null;
  let observing: Promise<SpeakerObservers> | null = null;
  const speakers = new SpeakerTracker();
  /** Routers whose new consumers get their priority set (priorities.ts). */
  const prioritised = new WeakSet<types.Router>();

  const roomState = (): RoomState => ({ locked: access.locked, hasPassword: access.passwordHash !== null });
  const joined = () => [...peers.values()].filter((p) => p.joined);
  const others = (peer: Peer) => joined().filter((p) => p !== peer);
  const broadcast = <M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]) => {
    for (const p of joined()) p.channel.notify(method, data);
  };
  const hasHost = () => [...peers.values()].some((p) => p.role === 'host' && p.admission.hasHostRights());
  /** Joined peers with host rights at this moment: they hear about the lobby. */
  const hostsHere = () => joined().filter((p) => p.role === 'host' && p.admission.hasHostRights());
  const inLobby = () => [...waiting].filter((w) => w.lobby);
  const lobbyEntry = (w: Waiter): LobbyEntry => ({ peerId: w.entrant.peerId, displayName: w.entrant.displayName, since: w.since });
  const lobbyState = (): LobbyState => ({ enabled: lobbyOn, waiting: inLobby().map(lobbyEntry) });
  /** The lobby's guests a host or the admin named (one, or all); null when the one named is not there. */
  const pickFromLobby = (target: LobbyTarget) => lobbyPick(inLobby().map((w) => ({ peerId: w.entrant.peerId, w })), target);

  /** Tells the hosts in the room what the lobby is now, if that changed since they were last told. */
  function lobbyChanged(): void {
    const state = lobbyState();
    const json = JSON.stringify(state);
    if (json === lobbySent) return;
    lobbySent = json;
    for (const h of hostsHere()) h.channel.notify('lobby', state);
  }

  /**
   * A guest knocked: the hosts get "NAME wants to join". `tell`: the guest was waiting for the host and
   * is now in the lobby (a new arrival is told by the signalling layer, after its hello is answered).
   */
  function knocked(w: Waiter, tell: boolean): void {
    w.lobby = true;
    w.since = now();
    if (tell) w.entrant.channel.notify('waiting', { message: USER_MESSAGES.lobbyWaiting(w.entrant.displayName) });
    const entry = lobbyEntry(w);
    for (const h of hostsHere()) h.channel.notify('lobbyKnock', entry);
    log.info({ room: name, peer: w.entrant.peerId, name: w.entrant.displayName }, 'guest knocked at the lobby');
    lobbyChanged();
  }

  function warnOnce(peer: Peer, what: string, fields: Record<string, unknown>): void {
    if (peer.warned.has(what)) return;
    peer.warned.add(what);
    log.warn({ room: name, peer: peer.id, ...fields }, `${what} (further ones from this peer are not logged)`);
  }

  /** Chat (chat.ts): in memory, gone with this room. */
  const chat = createRoomChat({ room: name, log, joined: () => joined(), requireHost: (p) => requireHost(p), now });

  /** Recording (src/recording/ drives it): new producers, the end of the room's media, joiners told. */
  // While recording, senders keep every layer: the recorder takes the top one, and a layer switched off
  // and on by dynacast would freeze the file until the next key frame.
  const recording = createRecordingHooks({ joined: () => joined(), onState: (s) => media.keepAllLayers(s.active) });

  const media = createRoomMedia({
    room: name,
    log,
    iceServers: (peer) => settings.iceServers(peer.id),
    dynacast: settings.dynacast,
    routers: () => routers,
    others,
    warnOnce,
    onProducer: (peer, producer) => {
      if (producer.kind === 'audio') void addToSpeaker(peer, producer);
      recording.producerAdded(peer, producer);
    },
  });

  /** The peer whose producer this is (a pipe producer has the same id), or null. */
  function ownerOf(producerId: string): string | null {
    for (const p of peers.values()) if (p.producers.has(producerId)) return p.id;
    return null;
  }

  /** Tells everyone what changed, and gives the new speaker's video the bandwidth first. */
  function spoke(change: SpeakerChange): void {
    if (change.speaking) broadcast('speaking', { peerIds: change.speaking });
    if (change.speaker === undefined) return;
    broadcast('activeSpeaker', { peerId: change.speaker });
    log.debug({ room: name, speaker: change.speaker }, 'dominant speaker');
    // Every consumer of the room: the new speaker's video goes up, the previous one's back to the default.
    const all = [...peers.values()].flatMap((p) => [...p.consumers.values()]).map((c) => ({ c, kind: c.kind, producerPeerId: ownerOf(c.producerId), priority: c.priority }));
    for (const { consumer, priority } of priorityChanges(all, speakers.announced)) void consumer.c.setPriority(priority).catch(() => {});
  }

  /** A consumer made on one of the room's routers starts with the priority the rule gives it now. */
  function prioritiseNewConsumers(router: types.Router): void {
    if (prioritised.has(router)) return;
    prioritised.add(router);
    router.observer.on('newtransport', (t) =>
      t.observer.on('newconsumer', (c) => {
        if (c.type === 'pipe') return;
        const priority = priorityFor({ kind: c.kind, producerPeerId: ownerOf(c.producerId) }, speakers.announced);
        if (priority !== c.priority) void c.setPriority(priority).catch(() => {});
      }),
    );
  }

  /** The observers, made once on `target` (concurrent first producers wait for the same ones). */
  function observersOn(target: RoomRouter): Promise<SpeakerObservers> {
    if (speaker && !speaker.router.closed && speaker.router === target.router) return Promise.resolve(speaker);
    observing ??= (async () => {
      const active = await target.router.createActiveSpeakerObserver({ interval: DOMINANT_INTERVAL_MS });
      const levels = await target.router.createAudioLevelObserver({ interval: SPEAKING_INTERVAL_MS, threshold: SPEAKING_THRESHOLD_DBOV, maxEntries: 64 });
      active.on('dominantspeaker', ({ producer: p }) => spoke(speakers.dominant(ownerOf(p.id))));
      levels.on('volumes', (volumes) => spoke(speakers.levels(volumes.map((v) => ownerOf(v.producer.id)).filter((id): id is string => id !== null))));
      levels.on('silence', () => spoke(speakers.levels([])));
      speaker = { active, levels, router: target.router };
      return speaker;
    })().finally(() => (observing = null));
    return observing;
  }

  /**
   * The speaker observers live on the room's first router; audio from its other routers is piped there
   * (once per producer, as for a consumer there).
   */
  async function addToSpeaker(peer: Peer, producer: types.Producer): Promise<void> {
    const set = routers;
    if (!set || !peer.home) return;
    const target = set.routers[0];
    if (!target) return;
    try {
      const o = await observersOn(target);
      await set.pipe(producer.id, peer.home, target);
      await o.active.addProducer({ producerId: producer.id });
      await o.levels.addProducer({ producerId: producer.id });
    } catch {
      // A producer that closed meanwhile, or a router that died: nothing to observe.
    }
  }

  async function mediaFor(): Promise<RouterSet> {
    if (routers) return routers;
    if (!opening) {
      opening = createRouterSet({ pool: opts.pool, peersPerRouter: settings.peersPerRouter, log, room: name, onLost: routerLost }).finally(() => (opening = null));
      routers = await opening;
      log.info({ room: name, workerPid: routers.routers[0]?.worker.worker.pid }, 'room media opened');
      return routers;
    }
    return opening;
  }

  /** A router of the room died with its worker: its peers rejoin (the page does it), the others go on. */
  function routerLost(lost: RoomRouter): void {
    log.warn({ room: name, workerPid: lost.worker.worker.pid, peers: lost.peers }, 'room lost a media worker; its peers there are asked to rejoin');
    const observersLost = speaker?.router === lost.router;
    if (observersLost) speaker = null;
    const empty = routers !== null && routers.routers.length === 0;
    for (const peer of [...peers.values()]) {
      // With no router left, peers still being placed must come back too.
      if (peer.home === lost || (empty && peer.home === null)) {
        peer.channel.close('worker_died', USER_MESSAGES.workerDied, true);
        removePeer(peer);
      }
    }
    // The speaker observers went with the first router: the audio of those who stay is observed on the next one.
    if (observersLost) for (const peer of peers.values()) for (const p of peer.producers.values()) if (p.kind === 'audio' && !p.closed) void addToSpeaker(peer, p);
  }

  function closeMediaIfEmpty(): void {
    if (peers.size > 0 || !routers) return;
    recording.ended('room_empty');
    routers.close();
    routers = null;
    speaker = null;
    log.info({ room: name }, 'room closed');
  }

  function checkIdle(): void {
    if (room.idle()) events.idle();
  }

  function requireHost(peer: Peer): void {
    if (peer.role !== 'host' || !peer.admission.hasHostRights()) throw new RequestError(403, 'only a host can do that');
  }
  function targetOf(peerId: string): Peer {
    const t = peers.get(peerId);
    if (!t) throw new RequestError(404, `no peer ${peerId} in this room`);
    return t;
  }

  function setRole(peer: Peer, role: Peer['role'], message: string): void {
    if (peer.role === role) return;
    peer.role = role;
    peer.channel.notify('role', { role, message });
    for (const other of others(peer)) other.channel.notify('peerRoleChanged', { peerId: peer.id, role });
  }

  /** Takes the peer out: its media closes, the others are told, its id is kept for its tab a while. */
  function removePeer(peer: Peer): void {
    if (peers.get(peer.id) !== peer) return;
    peers.delete(peer.id);
    clearTimeout(joinTimers.get(peer));
    joinTimers.delete(peer);
    for (const t of peer.transports.values()) t.close();
    if (peer.home && routers) routers.release(peer.home);
    peer.home = null;
    if (peer.joined) for (const other of joined()) other.channel.notify('peerClosed', { peerId: peer.id });
    if (peer.joined) spoke(speakers.left(peer.id));
    const h = holders.get(peer.id);
    if (h?.peer === peer) holders.set(peer.id, { sessionHash: h.sessionHash, connected: false, reservedUntil: now() + settings.reserveIdMs, peer: null, waiter: null, letIn: h.letIn });
    if (peer.admission.hostKey && present.delete(peer)) events.hostLeft(peer.admission.hostKey);
    closeMediaIfEmpty();
    checkIdle();
  }

  /** Seats the entrant: a peer on the least-loaded router of the room. */
  async function enter(e: Entrant): Promise<Exclude<AdmitResult, { kind: 'waiting' }>> {
    // Hosts always get in: a full room must not lock out the people who run it.
    if (e.admission.role !== 'host' && peers.size >= settings.maxPeers) {
      return { kind: 'refused', code: CLOSE_CODES.forbidden, message: `room "${name}" is full (${settings.maxPeers} peers)` };
    }
    const peer = newPeer(e);
    // Seated before the await: a burst of entrants cannot all pass the check above.
    peers.set(peer.id, peer);
    const h = holders.get(peer.id);
    if (h) Object.assign(h, { peer, waiter: null, connected: true });
    try {
      const set = await mediaFor();
      peer.home = await set.place();
      prioritiseNewConsumers(peer.home.router);
    } catch (e2) {
      peers.delete(peer.id);
      if (h?.peer === peer) holders.delete(peer.id);
      closeMediaIfEmpty();
      log.error({ room: name, err: e2 }, 'could not open media for a peer');
      return { kind: 'refused', code: CLOSE_CODES.internal, message: USER_MESSAGES.couldNotOpen };
    }
    if (peers.get(peer.id) !== peer) {
      // Replaced or removed while its router was being chosen.
      if (routers && peer.home) routers.release(peer.home);
      peer.home = null;
      return { kind: 'refused', code: CLOSE_CODES.replaced, message: USER_MESSAGES.replaced };
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
    log.info({ room: name, peer: peer.id, role: peer.role, workerPid: peer.home.worker.worker.pid }, 'peer connected');
    if (peer.role === 'host') admitWaiting();
    return { kind: 'entered', peer };
  }

  function admitWaiting(): void {
    for (const w of [...waiting]) {
      // A credential that ended while its holder waited lets nobody in.
      if (!w.entrant.admission.stillValid()) {
        waiting.delete(w);
        w.entrant.channel.close('revoked', USER_MESSAGES.linkNoLongerValid);
        w.resolve(null);
        continue;
      }
      const g = gateFor(w.entrant, w.letIn);
      if (g.kind === 'wait') continue;
      if (g.kind === 'lobby') {
        // Its host is here now, and the lobby is on: it knocks.
        if (!w.lobby) knocked(w, true);
        continue;
      }
      waiting.delete(w);
      if (g.kind === 'refuse') {
        refuseWaiter(w, g.code, g.message);
        continue;
      }
      void enter(w.entrant).then((r) => {
        if (r.kind === 'entered') {
          w.entrant.channel.notify('admitted', {});
          w.resolve(r.peer);
        } else {
          refuseWaiter(w, r.code, r.message);
        }
      });
    }
    lobbyChanged();
    checkIdle();
  }

  function refuseWaiter(w: Waiter, code: number, message: string): void {
    waiting.delete(w);
    dropHolder(w.entrant.peerId, (h) => h.waiter === w);
    w.entrant.channel.refuse(code, message);
    w.resolve(null);
  }

  function dropHolder(peerId: string, mine: (h: Holder) => boolean): void {
    const h = holders.get(peerId);
    if (h && mine(h)) holders.delete(peerId);
  }

  const gateFor = (e: Entrant, letIn = false) =>
    gate({
      role: e.admission.role,
      bannedForMs: bannedFor(e.ipKey),
      locked: access.locked,
      passwordHash: access.passwordHash,
      givenPassword: e.roomPassword,
      hostProtected: settings.hostProtected,
      hasHost: hasHost(),
      lobby: lobbyApplies({ lobbyOn, letIn }),
    });

  function bannedFor(ipKey: string): number {
    const until = bans.get(ipKey) ?? 0;
    return Math.max(0, until - now());
  }

  const hostCommands = {
    async hostMutePeer(peer: Peer, d: ClientRequestData<'hostMutePeer'>) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      // Held on the server: the peer cannot resume it, nor produce that kind again, until a host lifts it.
      target.mutedByHost.add(d.kind);
      const muted = [...target.producers.values()].filter((p) => p.kind === d.kind && !p.paused);
      for (const p of muted) await p.pause();
      target.channel.notify('mutedByHost', { kind: d.kind });
      log.info({ room: name, host: peer.id, peer: target.id, kind: d.kind }, 'peer muted by host');
      return { muted: muted.length };
    },
    async hostUnmutePeer(peer: Peer, d: ClientRequestData<'hostUnmutePeer'>) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      if (target.mutedByHost.delete(d.kind)) target.channel.notify('unmutedByHost', { kind: d.kind });
      log.info({ room: name, host: peer.id, peer: target.id, kind: d.kind }, 'peer may unmute again');
      return {};
    },
    async hostKickPeer(peer: Peer, d: ClientRequestData<'hostKickPeer'>) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      if (target === peer) throw new RequestError(400, 'use leave to leave the room');
      room.kick(target.id, USER_MESSAGES.kickedByHost);
      log.info({ room: name, host: peer.id, peer: target.id }, 'peer kicked by host');
      return {};
    },
    async hostLockRoom(peer: Peer, d: ClientRequestData<'hostLockRoom'>) {
      requireHost(peer);
      access.locked = d.locked;
      broadcast('roomState', roomState());
      return roomState();
    },
    async hostSetRoomPassword(peer: Peer, d: ClientRequestData<'hostSetRoomPassword'>) {
      requireHost(peer);
      access.passwordHash = d.password === null ? null : hashRoomPassword(d.password);
      broadcast('roomState', roomState());
      return roomState();
    },
    async hostSetLobby(peer: Peer, d: ClientRequestData<'hostSetLobby'>) {
      requireHost(peer);
      return room.setLobby(d.enabled, `host ${peer.id}`);
    },
    async hostAdmit(peer: Peer, d: ClientRequestData<'hostAdmit'>) {
      requireHost(peer);
      if (!room.lobbyAdmit({ peerId: d.peerId }, `host ${peer.id}`)) throw new RequestError(404, `no guest ${d.peerId} is waiting in the lobby`);
      return lobbyState();
    },
    async hostDeny(peer: Peer, d: ClientRequestData<'hostDeny'>) {
      requireHost(peer);
      if (!room.lobbyDeny({ peerId: d.peerId }, `host ${peer.id}`)) throw new RequestError(404, `no guest ${d.peerId} is waiting in the lobby`);
      return lobbyState();
    },
    async hostAdmitAll(peer: Peer) {
      requireHost(peer);
      const admitted = room.lobbyAdmit({ all: true }, `host ${peer.id}`) ?? [];
      return { ...lobbyState(), admitted };
    },
  };

  async function join(peer: Peer, d: ClientRequestData<'join'>): Promise<JoinResponse> {
    if (peer.joined) throw new RequestError(409, 'already joined');
    if (others(peer).length >= settings.maxPeers) throw new RequestError(403, `room "${name}" is full (${settings.maxPeers} peers)`);
    peer.rtpCapabilities = d.rtpCapabilities as unknown as types.RtpCapabilities;
    if (d.displayName) peer.displayName = d.displayName;
    peer.device = { name: d.device?.name };
    peer.joined = true;
    clearTimeout(joinTimers.get(peer));
    joinTimers.delete(peer);
    const existing = others(peer);
    for (const other of existing) other.channel.notify('newPeer', peerInfo(peer));
    // Consumers for what is already being sent are created after the join response goes out.
    setImmediate(() => {
      for (const other of existing) for (const producer of other.producers.values()) void media.consume(peer, other, producer);
      if (speakers.announced !== null) peer.channel.notify('activeSpeaker', { peerId: speakers.announced });
      if (speakers.speaking.length > 0) peer.channel.notify('speaking', { peerIds: [...speakers.speaking] });
      recording.joined(peer);
      // A host hears of the lobby from the start: whether it is on, and who is waiting.
      if (peer.role === 'host' && peer.admission.hasHostRights()) peer.channel.notify('lobby', lobbyState());
    });
    return { peers: existing.map(peerInfo), role: peer.role, room: roomState(), chat: chat.snapshot() };
  }

  async function changeDisplayName(peer: Peer, d: ClientRequestData<'changeDisplayName'>) {
    peer.displayName = d.displayName;
    for (const other of others(peer)) other.channel.notify('peerDisplayNameChanged', { peerId: peer.id, displayName: d.displayName });
    return {};
  }

  const room: Room = {
    name,
    createdAt,
    peers,
    recording: recording.tap,

    async admit(e) {
      const c = claim(holders.get(e.peerId), e.sessionHash, now());
      if (c.kind === 'refuse') return { kind: 'refused', code: c.code, message: c.message };
      if (e.admission.role === 'host' && e.roomPassword && peers.size === 0 && access.passwordHash === null) {
        // The host opening a room may set its password with the seed's roomPassword parameter.
        access.passwordHash = hashRoomPassword(e.roomPassword);
      }
      // The same tab, let through the lobby before and back within its reservation, does not knock again.
      const prev = holders.get(e.peerId);
      const letIn = prev?.sessionHash === e.sessionHash && prev.letIn === true;
      const g = gateFor(e, letIn);
      if (g.kind === 'refuse') return { kind: 'refused', code: g.code, message: g.message };
      if (c.kind === 'replace') {
        // Same tab reconnecting (reload, network change): the new connection replaces the old one.
        const old = holders.get(e.peerId)!;
        if (old.peer) {
          old.peer.channel.close('replaced', USER_MESSAGES.replaced);
          removePeer(old.peer);
        } else if (old.waiter) {
          waiting.delete(old.waiter);
          old.waiter.entrant.channel.close('replaced', USER_MESSAGES.replaced);
          old.waiter.resolve(null);
        }
      }
      const holder: Holder = { sessionHash: e.sessionHash, connected: true, reservedUntil: 0, peer: null, waiter: null, letIn };
      holders.set(e.peerId, holder);
      if (g.kind === 'wait' || g.kind === 'lobby') {
        if (waiting.size >= MAX_WAITING) {
          holders.delete(e.peerId);
          return { kind: 'refused', code: CLOSE_CODES.forbidden, message: USER_MESSAGES.tooManyWaiting };
        }
        let resolve!: (p: Peer | null) => void;
        const admitted = new Promise<Peer | null>((r) => (resolve = r));
        const w: Waiter = { entrant: e, resolve, lobby: false, since: now(), letIn };
        holder.waiter = w;
        waiting.add(w);
        if (g.kind === 'lobby') knocked(w, false);
        return {
          kind: 'waiting',
          admitted,
          message: g.kind === 'lobby' ? USER_MESSAGES.lobbyWaiting(e.displayName) : USER_MESSAGES.waiting,
          why: () => (w.lobby ? 'lobby' : 'host'),
          leave() {
            if (!waiting.delete(w)) return;
            const h = holders.get(e.peerId);
            if (h?.waiter === w) holders.set(e.peerId, { sessionHash: h.sessionHash, connected: false, reservedUntil: now() + settings.reserveIdMs, peer: null, waiter: null });
            w.resolve(null);
            if (w.lobby) lobbyChanged();
            checkIdle();
          },
        };
      }
      const r = await enter(e);
      if (r.kind === 'refused') dropHolder(e.peerId, (h) => h === holder);
      return r;
    },

    leave(peer) {
      removePeer(peer);
    },

    async handle(peer, method, data) {
      if (peers.get(peer.id) !== peer) throw new RequestError(409, 'this connection has left the room; reconnect');
      switch (method) {
        case 'join':
          return join(peer, data as ClientRequestData<'join'>);
        case 'changeDisplayName':
          return changeDisplayName(peer, data as ClientRequestData<'changeDisplayName'>);
        case 'hostMutePeer':
        case 'hostUnmutePeer':
        case 'hostKickPeer':
        case 'hostLockRoom':
        case 'hostSetRoomPassword':
        case 'hostSetLobby':
        case 'hostAdmit':
        case 'hostDeny':
        case 'hostAdmitAll':
          return (hostCommands as Record<string, (p: Peer, d: unknown) => Promise<unknown>>)[method]!(peer, data);
        case 'chat':
          return chat.chat(peer, data as ClientRequestData<'chat'>);
        case 'hostSetChat':
          return chat.hostSetChat(peer, data as ClientRequestData<'hostSetChat'>);
        default:
          return (media.handlers[method as MediaMethod] as (p: Peer, d: unknown) => Promise<unknown>)(peer, data);
      }
    },

    kick(peerId, message) {
      const target = peers.get(peerId);
      if (!target) return false;
      if (target.role !== 'host') {
        const t = now();
        for (const [k, until] of bans) if (until <= t) bans.delete(k);
        bans.set(target.ipKey, t + KICK_BAN_MS);
      }
      target.channel.close('kicked', message);
      removePeer(target);
      // Coming back after a kick, it knocks again.
      const h = holders.get(peerId);
      if (h) h.letIn = false;
      return true;
    },

    credentialEnded({ keys, kind }) {
      const ended = new Set(keys);
      const message = USER_MESSAGES.revoked;
      for (const w of [...waiting]) {
        const a = w.entrant.admission;
        if (a.credential && ended.has(a.credential) && kind === 'revoked' && a.closeOnRevoke) {
          waiting.delete(w);
          dropHolder(w.entrant.peerId, (h) => h.waiter === w);
          w.entrant.channel.close('revoked', message);
          w.resolve(null);
        }
      }
      for (const peer of [...peers.values()]) {
        const a = peer.admission;
        if (!a.credential || !ended.has(a.credential)) continue;
        if (kind === 'revoked' && a.closeOnRevoke) {
          log.info({ room: name, peer: peer.id }, 'credential revoked: connection closed');
          peer.channel.close('revoked', message);
          removePeer(peer);
        } else if (peer.role === 'host') {
          setRole(peer, 'guest', kind === 'expired' ? USER_MESSAGES.hostRightsExpired : USER_MESSAGES.hostRightsEnded);
        }
      }
      lobbyChanged();
      checkIdle();
    },

    workerDied(worker) {
      routers?.dropWorker(worker);
    },

    hasHost,

    lobby: lobbyState,

    setLobby(enabled, by) {
      if (lobbyOn !== enabled) {
        lobbyOn = enabled;
        log.info({ room: name, by, waiting: inLobby().length }, enabled ? 'lobby turned on' : 'lobby turned off: everyone waiting in it is let in');
        // Off: whoever waits in the lobby enters now (the other rules still apply to each).
        if (!enabled) admitWaiting();
      }
      lobbyChanged();
      checkIdle();
      return lobbyState();
    },

    lobbyAdmit(target, by) {
      const picked = pickFromLobby(target);
      if (!picked) return null;
      for (const { w } of picked) {
        w.letIn = true;
        const h = holders.get(w.entrant.peerId);
        if (h?.waiter === w) h.letIn = true;
        log.info({ room: name, by, peer: w.entrant.peerId }, 'guest let in from the lobby');
      }
      // The usual path in: each is gated again (lock, ban, password) and enters.
      if (picked.length > 0) admitWaiting();
      return picked.map((p) => p.peerId);
    },

    lobbyDeny(target, by) {
      const picked = pickFromLobby(target);
      if (!picked) return null;
      for (const { w } of picked) {
        refuseWaiter(w, CLOSE_CODES.lobbyDenied, USER_MESSAGES.lobbyDenied);
        log.info({ room: name, by, peer: w.entrant.peerId }, 'guest denied entry from the lobby');
      }
      lobbyChanged();
      checkIdle();
      return picked.map((p) => p.peerId);
    },

    idle() {
      const t = now();
      for (const [id, h] of holders) if (!h.connected && h.reservedUntil <= t) holders.delete(id);
      for (const [k, until] of bans) if (until <= t) bans.delete(k);
      // A lobby set otherwise than rooms.lobby is kept until it is set back (an admin may set it before anyone comes).
      return peers.size === 0 && waiting.size === 0 && holders.size === 0 && bans.size === 0 && !opening && lobbyOn === settings.lobby;
    },

    summary() {
      return {
        name,
        createdAt: createdAt.toISOString(),
        workerPid: routers?.routers[0]?.worker.worker.pid ?? null,
        routers: (routers?.routers ?? []).map((r) => ({ id: r.router.id, workerPid: r.worker.worker.pid, peers: r.peers })),
        activeSpeaker: speakers.announced,
        speaking: [...speakers.speaking],
        priorities: [...peers.values()].flatMap((p) =>
          [...p.consumers.values()].filter((c) => c.priority > DEFAULT_PRIORITY).map((c) => ({ consumerId: c.id, peer: p.id, fromPeer: ownerOf(c.producerId), kind: c.kind, priority: c.priority })),
        ),
        peers: [...peers.values()].map((p): PeerSummary => ({ id: p.id, name: p.displayName, producers: p.producers.size, consumers: p.consumers.size, ...media.describe(p) })),
      };
    },

    close(reason, message, rejoin) {
      recording.ended('room_closed');
      for (const w of [...waiting]) {
        w.entrant.channel.close(reason, message, rejoin);
        w.resolve(null);
      }
      waiting.clear();
      for (const peer of [...peers.values()]) {
        peer.channel.close(reason, message, rejoin);
        removePeer(peer);
      }
      routers?.close();
      routers = null;
    },
  };
  return room;
}
