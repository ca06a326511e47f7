/**
 * A room's door: who holds which peer id (and may take it back), who waits for a host or in the lobby,
 * which addresses are banned after a kick, and the lock and password (room-access.ts). `admit()` answers entered,
 * waiting or refused, from the pure rules of admission.ts; seating an entrant (a peer on a router) is
 * the room's, which the door calls back. The lobby's state is the door's too: hosts are told of it here.
 * What one address may do at the door (wrong passwords, its share of the queue, knocks, denials) is
 * counted by password-guesses.ts and lobby-guard.ts.
 */
import type { Logger } from '../log.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import type { LobbyEntry, LobbyState, RoomState, ServerNotifications } from '../protocol/messages.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { CredentialEnded } from '../auth/admission.ts';
import { claim, gate, lobbyApplies, lobbyPick, type IdClaim, type LobbyTarget } from './admission.ts';
import type { Entrant, Peer } from './peer.ts';
import { createRoomAccess, type RoomAccess } from './room-access.ts';
import { createLobbyGuard, type LobbyGuard } from './lobby-guard.ts';
import type { StateEntries } from './view.ts';

/** A kicked guest's address is refused this long, so that a kick is not undone by reloading the page. */
export const KICK_BAN_MS = 60_000;
/** Guests waiting for a host or in the lobby, per room. */
export const MAX_WAITING = 200;

export type Refusal = { kind: 'refused'; code: number; message: string };
export type AdmitResult =
  | { kind: 'entered'; peer: Peer }
  /** Resolves with the peer once a host lets it in, or null when it was refused or left meanwhile. */
  | { kind: 'waiting'; admitted: Promise<Peer | null>; leave(): void; message: string; why(): 'host' | 'lobby' }
  | Refusal;
/** What seating an entrant gives: a peer, or why not. */
export type Seating = { kind: 'entered'; peer: Peer } | Refusal;

export interface DoorSettings {
  hostProtected: boolean;
  /** Whether a new room's lobby is on (rooms.lobby). */
  lobby: boolean;
  /** How long a departed peer id stays reserved for its own tab. */
  reserveIdMs: number;
}

export interface DoorContext {
  settings: DoorSettings;
  /** The room's logger (its name bound). */
  log: Logger;
  now: () => number;
  /** Peers seated in the room now. */
  seatedCount(): number;
  /** Whether a connection with host rights is in the room now (host protection). */
  hasHost(): boolean;
  /** Joined peers with host rights now: they hear about the lobby. */
  hostsHere(): Peer[];
  /** Seats an entrant the door lets in (the room's). */
  seat(e: Entrant): Promise<Seating>;
  /** Takes a seated peer out (the same tab came back on a new connection). */
  evict(peer: Peer): void;
  /** Something the door held went: the room may have become idle. */
  changed(): void;
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
  /**
   * Kinds a host muted this participant: a mute is the participant's, not its connection's. Seated, the
   * peer's own set is this one (host commands change it there); a reload of the same tab gets it back.
   */
  muted?: Set<'audio' | 'video'>;
  /** This participant was seated (and not kicked since): back within its reservation, it passes the lock and password. */
  wasIn?: boolean;
  /** The name the hosts saw in the lobby, kept for this tab while it is let in (see admittedName). */
  name?: string;
}

/** What hosts and the admin do with a room's lobby (the room passes these through from its door). */
export interface LobbyControls {
  /** The lobby as hosts and the admin see it. */
  lobby(): LobbyState;
  /** Turns the lobby on or off; off lets everyone waiting in it in. `by` names who did it, for the log. */
  setLobby(enabled: boolean, by: string): LobbyState;
  /** Lets waiting guests in from the lobby (ids let in), or null when the one named is not waiting there. */
  lobbyAdmit(target: LobbyTarget, by: string): string[] | null;
  /** Refuses waiting guests (closed with CLOSE_CODES.lobbyDenied); null when the one named is not waiting. */
  lobbyDeny(target: LobbyTarget, by: string): string[] | null;
}

export interface Door extends LobbyControls {
  admit(e: Entrant): Promise<AdmitResult>;
  /** The peer was seated: its holder now points at it. */
  seated(peer: Peer): void;
  /** The peer could not be seated after all: its id is free again. */
  unseated(peer: Peer): void;
  /** The peer left: its id stays reserved for its tab a while. */
  left(peer: Peer): void;
  /** The peer was kicked (and has left): a guest's address is banned, and the tab knocks again if it comes back. */
  kicked(peer: Peer): void;
  /** A host arrived or the lobby opened: whoever may enter now enters, the rest knock or wait on. */
  letWaitingIn(): void;
  /** Waiting guests whose credential was revoked are closed. */
  credentialEnded(ev: CredentialEnded): void;
  /**
   * The name a peer was let in under from the lobby (by a host, the admin, or the lobby turning off),
   * or null: the hosts decided on that name, so it is the one that enters (names.ts).
   */
  admittedName(peer: Peer): string | null;
  roomState(): RoomState;
  lock(locked: boolean): RoomState;
  setPassword(password: string | null): RoomState;
  /** Tells the hosts what the lobby is now, if that changed since they were last told. */
  lobbyChanged(): void;
  /**
   * Forgets what has run out (reservations of tabs that left, bans, per-address counts): in a room that
   * never empties this is the only time they go.
   */
  sweep(): void;
  /** Nothing held at the door: no one waiting, no live reservation or ban, the lobby as configured. */
  idle(): boolean;
  /** The room closes: everyone waiting is told and let go. */
  close(reason: ServerNotifications['disconnected']['reason'], message: string, rejoin: boolean): void;
  /** What the door keeps (StateEntries): peer ids held, bans, per-address counts. */
  entries(): StateEntries;
}

/** What a participant keeps across its connections (the same tab back within its reservation). */
const kept = (h: Holder | undefined): Pick<Holder, 'muted' | 'wasIn'> => ({ ...(h?.muted ? { muted: h.muted } : {}), ...(h?.wasIn ? { wasIn: true } : {}) });
/** The same tab, its id still held (connected, or reserved since it left). */
const sameTab = (h: Holder | undefined, sessionHash: string, now: number): h is Holder => h?.sessionHash === sessionHash && (h.connected || h.reservedUntil > now);
/** The id kept for its tab until `until`, with what the participant keeps (its lobby pass and name only when let in). */
const reservation = (h: Holder, until: number, letIn?: boolean): Holder => ({
  sessionHash: h.sessionHash,
  connected: false,
  reservedUntil: until,
  peer: null,
  waiter: null,
  ...(letIn ? { letIn, name: h.name } : {}),
  ...kept(h),
});
/** Forgets what has run out: reservations of tabs that left, bans, the lobby's and the password's per-address counts. */
function forgetRunOut(t: number, holders: Map<string, Holder>, bans: Map<string, number>, lobbyGuard: LobbyGuard, access: RoomAccess): void {
  for (const [id, h] of holders) if (!h.connected && h.reservedUntil <= t) holders.delete(id);
  for (const [k, until] of bans) if (until <= t) bans.delete(k);
  lobbyGuard.sweep(t);
  access.sweep();
}
const lobbyEntry = (w: Waiter): LobbyEntry => ({ peerId: w.entrant.peerId, displayName: w.entrant.displayName, since: w.since });

export function createDoor(ctx: DoorContext): Door {
  const { settings, log, now } = ctx;
  const waiting = new Set<Waiter>();
  const holders = new Map<string, Holder>();
  const bans = new Map<string, number>();
  const access = createRoomAccess({ log, now, hostsHere: ctx.hostsHere });
  const lobbyGuard = createLobbyGuard();
  let lobbyOn = settings.lobby;
  /** The lobby state hosts were last sent (JSON): only a change is sent again. */
  let lobbySent = '';
  /** Peers seated out of the lobby, with the name the hosts saw there. */
  const lobbyNames = new WeakMap<Peer, string>();

  const inLobby = () => [...waiting].filter((w) => w.lobby);
  const lobbyState = (): LobbyState => ({ enabled: lobbyOn, waiting: inLobby().map(lobbyEntry) });
  /** The lobby's guests a host or the admin named (one, or all); null when the one named is not there. */
  const pickFromLobby = (target: LobbyTarget) => lobbyPick(inLobby().map((w) => ({ peerId: w.entrant.peerId, w })), target);
  const reserved = (h: Holder, letIn?: boolean): Holder => reservation(h, now() + settings.reserveIdMs, letIn);
  const sweep = () => forgetRunOut(now(), holders, bans, lobbyGuard, access);

  function lobbyChanged(): void {
    const state = lobbyState();
    const json = JSON.stringify(state);
    if (json === lobbySent) return;
    lobbySent = json;
    for (const h of ctx.hostsHere()) h.channel.notify('lobby', state);
  }

  /**
   * A guest knocked: the hosts get "NAME wants to join". `tell`: the guest was waiting for the host and
   * is now in the lobby (a new arrival is told by the signalling layer, after its hello is answered).
   */
  function knocked(w: Waiter, tell: boolean): void {
    w.lobby = true;
    w.since = now();
    if (tell) w.entrant.channel.notify('waiting', { message: USER_MESSAGES.lobbyWaiting(w.entrant.displayName) });
    // One prompt and log line per address per second; the lobby state below lists everyone waiting.
    const notice = lobbyGuard.knock(w.entrant.ipKey, now());
    if (notice.tell) {
      const entry = lobbyEntry(w);
      for (const h of ctx.hostsHere()) h.channel.notify('lobbyKnock', entry);
      log.info({ peer: w.entrant.peerId, name: w.entrant.displayName, ...(notice.coalesced ? { alsoKnocked: notice.coalesced } : {}) }, 'guest knocked at the lobby');
    }
    lobbyChanged();
  }

  const bannedFor = (ipKey: string): number => Math.max(0, (bans.get(ipKey) ?? 0) - now());

  /**
   * `returning`: a participant of the last minutes (wasIn, same tab) comes back past the lock and the
   * password, which keep strangers out, not the people already in; a kick ban still holds.
   */
  const gateFor = (e: Entrant, letIn = false, returning = false) =>
    gate({
      role: e.admission.role,
      bannedForMs: bannedFor(e.ipKey),
      ...access.forGate(returning),
      givenPassword: e.roomPassword,
      hostProtected: settings.hostProtected,
      hasHost: ctx.hasHost(),
      lobby: lobbyApplies({ lobbyOn, letIn }),
    });

  function dropHolder(peerId: string, mine: (h: Holder) => boolean): void {
    const h = holders.get(peerId);
    if (h && mine(h)) holders.delete(peerId);
  }

  /** Lets a waiter go: it leaves the queue, and is told nothing more here (the caller closes it). */
  function release(w: Waiter): void {
    waiting.delete(w);
    w.resolve(null);
  }

  function refuseWaiter(w: Waiter, code: number, message: string): void {
    dropHolder(w.entrant.peerId, (h) => h.waiter === w);
    w.entrant.channel.refuse(code, message);
    release(w);
  }

  /** The same tab came back on a new connection: the old connection (seated or waiting) gives way. */
  function replace(old: Holder): void {
    if (old.peer) {
      old.peer.channel.close('replaced', USER_MESSAGES.replaced);
      ctx.evict(old.peer);
    } else if (old.waiter) {
      old.waiter.entrant.channel.close('replaced', USER_MESSAGES.replaced);
      release(old.waiter);
    }
  }

  function wait(e: Entrant, holder: Holder, inLobbyNow: boolean, letIn: boolean): AdmitResult {
    if (waiting.size >= MAX_WAITING) {
      holders.delete(e.peerId);
      return { kind: 'refused', code: CLOSE_CODES.forbidden, message: USER_MESSAGES.tooManyWaiting };
    }
    if (!lobbyGuard.hasRoom([...waiting].filter((o) => o.entrant.ipKey === e.ipKey).length)) {
      holders.delete(e.peerId);
      return { kind: 'refused', code: CLOSE_CODES.rate_limited, message: USER_MESSAGES.tooManyWaitingFromAddress };
    }
    let resolve!: (p: Peer | null) => void;
    const admitted = new Promise<Peer | null>((r) => (resolve = r));
    const w: Waiter = { entrant: e, resolve, lobby: false, since: now(), letIn };
    holder.waiter = w;
    waiting.add(w);
    if (inLobbyNow) knocked(w, false);
    return {
      kind: 'waiting',
      admitted,
      message: inLobbyNow ? USER_MESSAGES.lobbyWaiting(e.displayName) : USER_MESSAGES.waiting,
      why: () => (w.lobby ? 'lobby' : 'host'),
      leave() {
        if (!waiting.has(w)) return;
        release(w);
        const h = holders.get(e.peerId);
        if (h?.waiter === w) holders.set(e.peerId, reserved(h));
        if (w.lobby) lobbyChanged();
        ctx.changed();
      },
    };
  }

  function letWaitingIn(): void {
    for (const w of [...waiting]) {
      // A credential that ended while its holder waited lets nobody in.
      if (!w.entrant.admission.stillValid()) {
        w.entrant.channel.close('revoked', USER_MESSAGES.linkNoLongerValid);
        release(w);
        continue;
      }
      const h = holders.get(w.entrant.peerId);
      const g = gateFor(w.entrant, w.letIn, h?.waiter === w && h.wasIn === true);
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
      void ctx.seat(w.entrant).then((r) => {
        if (r.kind === 'entered') {
          w.entrant.channel.notify('admitted', {});
          w.resolve(r.peer);
        } else {
          refuseWaiter(w, r.code, r.message);
        }
      });
    }
    lobbyChanged();
    ctx.changed();
  }

  return {
    async admit(e) {
      const prev = holders.get(e.peerId);
      const c = claim(prev, e.sessionHash, now());
      if (c.kind === 'refuse') return { kind: 'refused', code: c.code, message: c.message };
      if (ctx.seatedCount() === 0) access.opening(e);
      // The same tab, let through the lobby before and back within its reservation, does not knock again,
      // and comes back under the name it was let in with, whatever its URL says now.
      const letIn = prev?.sessionHash === e.sessionHash && prev.letIn === true;
      const live = sameTab(prev, e.sessionHash, now());
      if (letIn && prev.name !== undefined) e = { ...e, displayName: prev.name };
      // A participant of the last minutes coming back is no guesser: its password is not asked.
      const returning = live && prev.wasIn === true;
      const guessing = returning ? null : access.blocked(e);
      if (guessing) return { kind: 'refused', ...guessing };
      const g = gateFor(e, letIn, returning);
      access.checked(e, g.kind === 'refuse' ? g.code : null);
      if (g.kind === 'refuse') return { kind: 'refused', code: g.code, message: g.message };
      if (g.kind === 'lobby') {
        const pause = lobbyGuard.pausedFor(e.ipKey, now());
        if (pause > 0) return { kind: 'refused', code: CLOSE_CODES.lobbyDenied, message: USER_MESSAGES.lobbyPaused(Math.ceil(pause / 1000)) };
      }
      if (c.kind === 'replace') replace(prev!);
      const holder: Holder = { sessionHash: e.sessionHash, connected: true, reservedUntil: 0, peer: null, waiter: null, letIn, ...(live ? kept(prev) : {}) };
      holders.set(e.peerId, holder);
      if (g.kind === 'wait' || g.kind === 'lobby') return wait(e, holder, g.kind === 'lobby', letIn);
      const r = await ctx.seat(e);
      if (r.kind === 'refused') dropHolder(e.peerId, (h) => h === holder);
      return r;
    },

    seated(peer) {
      const h = holders.get(peer.id);
      if (!h) return;
      for (const kind of h.muted ?? []) peer.mutedByHost.add(kind);
      if (h.letIn || h.waiter?.lobby) {
        lobbyNames.set(peer, peer.displayName);
        h.name = peer.displayName;
      }
      Object.assign(h, { peer, waiter: null, connected: true, muted: peer.mutedByHost, wasIn: true });
    },

    admittedName: (peer) => lobbyNames.get(peer) ?? null,

    unseated(peer) {
      dropHolder(peer.id, (h) => h.peer === peer);
    },

    left(peer) {
      const h = holders.get(peer.id);
      if (h?.peer === peer) holders.set(peer.id, reserved(h, h.letIn));
    },

    kicked(peer) {
      if (peer.role !== 'host') {
        const t = now();
        for (const [k, until] of bans) if (until <= t) bans.delete(k);
        bans.set(peer.ipKey, t + KICK_BAN_MS);
      }
      // Coming back after a kick, it knocks again, and the lock and password apply to it as to anyone.
      const h = holders.get(peer.id);
      if (h) Object.assign(h, { letIn: false, wasIn: false });
    },

    letWaitingIn,

    credentialEnded({ keys, kind }) {
      if (kind !== 'revoked') return;
      const ended = new Set(keys);
      for (const w of [...waiting]) {
        const a = w.entrant.admission;
        if (!a.credential || !ended.has(a.credential) || !a.closeOnRevoke) continue;
        dropHolder(w.entrant.peerId, (h) => h.waiter === w);
        w.entrant.channel.close('revoked', USER_MESSAGES.revoked);
        release(w);
      }
    },

    roomState: access.state,
    lock: access.lock,
    setPassword: access.setPassword,

    lobby: lobbyState,

    setLobby(enabled, by) {
      if (lobbyOn !== enabled) {
        lobbyOn = enabled;
        log.info({ by, waiting: inLobby().length }, enabled ? 'lobby turned on' : 'lobby turned off: everyone waiting in it is let in');
        // Off: whoever waits in the lobby enters now (the other rules still apply to each).
        if (!enabled) letWaitingIn();
      }
      lobbyChanged();
      ctx.changed();
      return lobbyState();
    },

    lobbyAdmit(target, by) {
      const picked = pickFromLobby(target);
      if (!picked) return null;
      for (const { w } of picked) {
        w.letIn = true;
        const h = holders.get(w.entrant.peerId);
        if (h?.waiter === w) h.letIn = true;
        log.info({ by, peer: w.entrant.peerId }, 'guest let in from the lobby');
      }
      // The usual path in: each is gated again (lock, ban, password) and enters.
      if (picked.length > 0) letWaitingIn();
      return picked.map((p) => p.peerId);
    },

    lobbyDeny(target, by) {
      const picked = pickFromLobby(target);
      if (!picked) return null;
      for (const { w } of picked) {
        refuseWaiter(w, CLOSE_CODES.lobbyDenied, USER_MESSAGES.lobbyDenied);
        log.info({ by, peer: w.entrant.peerId }, 'guest denied entry from the lobby');
        if (lobbyGuard.denied(w.entrant.ipKey, now())) log.warn({ ip: w.entrant.ipKey }, 'lobby: guests from this address were denied several times; it may not knock for a while');
      }
      lobbyChanged();
      ctx.changed();
      return picked.map((p) => p.peerId);
    },

    lobbyChanged,
    sweep,

    idle() {
      sweep();
      // A lobby set otherwise than rooms.lobby is kept until it is set back (an admin may set it before anyone comes).
      return waiting.size === 0 && holders.size === 0 && bans.size === 0 && lobbyGuard.idle(now()) && lobbyOn === settings.lobby;
    },

    close(reason, message, rejoin) {
      for (const w of [...waiting]) {
        w.entrant.channel.close(reason, message, rejoin);
        release(w);
      }
    },

    entries: () => ({ peer_ids: holders.size, bans: bans.size, lobby_addresses: lobbyGuard.size(), ...access.entries() }),
  };
}
