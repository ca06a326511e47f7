/**
 * A room's entry rules as plain functions of plain data, so each can be tested without a daemon:
 * who may take a peer id, and whether a guest enters, waits for a host, waits in the lobby, or is refused.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';

/** `wait`: for a host to arrive (host protection); `lobby`: for a host or the admin to let it in. */
export type Gate = { kind: 'enter' } | { kind: 'wait' } | { kind: 'lobby' } | { kind: 'refuse'; code: number; message: string };

export interface GateInput {
  role: 'host' | 'guest';
  /** ms an address kicked from this room must still wait (0: none). */
  bannedForMs: number;
  locked: boolean;
  /** The room password's hash, null for none. */
  passwordHash: Buffer | null;
  givenPassword: string | null;
  hostProtected: boolean;
  hasHost: boolean;
  /** The room's lobby is on and this entrant was not let through it yet (see lobbyApplies). */
  lobby: boolean;
}

export const hashRoomPassword = (pw: string): Buffer => createHash('sha256').update(`confd-room:${pw}`).digest();

function passwordMatches(hash: Buffer | null, given: string | null): boolean {
  if (!hash) return true;
  if (given === null) return false;
  return timingSafeEqual(hash, hashRoomPassword(given));
}

/**
 * Hosts (a login or a valid presenter token) always enter: their rights were checked by auth. A guest
 * is refused while its address is banned, the room is locked or the password is wrong; waits while host
 * protection finds no host; then waits in the lobby while it is on. A refusal comes before any waiting,
 * and, under host protection, waiting for the host before the lobby (the room opens only with a host).
 */
export function gate(i: GateInput): Gate {
  if (i.role === 'host') return { kind: 'enter' };
  if (i.bannedForMs > 0) return { kind: 'refuse', code: CLOSE_CODES.forbidden, message: USER_MESSAGES.banned(Math.ceil(i.bannedForMs / 1000)) };
  if (i.locked) return { kind: 'refuse', code: CLOSE_CODES.locked, message: USER_MESSAGES.locked };
  if (!passwordMatches(i.passwordHash, i.givenPassword)) return { kind: 'refuse', code: CLOSE_CODES.passwordRequired, message: USER_MESSAGES.passwordRequired };
  if (i.hostProtected && !i.hasHost) return { kind: 'wait' };
  if (i.lobby) return { kind: 'lobby' };
  return { kind: 'enter' };
}

/**
 * The room's one size rule, applied when an entrant is seated (a seat is taken before any await, so a
 * burst cannot overfill it): a guest is refused once `maxPeers` peers are seated; a host never is, so a
 * full room does not lock out the people who run it (it may go over maxPeers by its hosts).
 */
export function seatRefusal(i: { role: 'host' | 'guest'; seated: number; maxPeers: number }): { code: number; message: string } | null {
  if (i.role === 'host' || i.seated < i.maxPeers) return null;
  return { code: CLOSE_CODES.forbidden, message: USER_MESSAGES.roomFull(i.maxPeers) };
}

/**
 * Whether the lobby holds this entrant: only while it is on, and not for a tab a host already let in
 * (a reload, a network change or a media restart brings the same tab back within its id reservation;
 * it must not knock again). Hosts never reach the lobby (gate).
 */
export const lobbyApplies = (o: { lobbyOn: boolean; letIn: boolean }): boolean => o.lobbyOn && !o.letIn;

/** Whom an admin or host lobby action is about: one waiting peer, or everyone in the lobby. */
export type LobbyTarget = { peerId: string } | { all: true };

/**
 * The waiting peers an admit/deny picks (in the order they knocked), or null when the one named is not
 * in the lobby (404).
 */
export function lobbyPick<T extends { peerId: string }>(waiting: readonly T[], target: LobbyTarget): T[] | null {
  if ('all' in target) return [...waiting];
  const one = waiting.find((w) => w.peerId === target.peerId);
  return one ? [one] : null;
}

/** Who holds a peer id: a connected tab, or one that left and keeps it for a while. */
export interface IdClaim {
  sessionHash: string;
  connected: boolean;
  reservedUntil: number;
}

export type ClaimDecision = { kind: 'take' } | { kind: 'replace' } | { kind: 'refuse'; code: number; message: string };

/**
 * The same tab (same session secret) takes its id back, replacing a connection still open; any other
 * tab is refused while the id is connected, and until its reservation ends after it left (a reload
 * must not hand a host's id to a squatter).
 */
export function claim(existing: IdClaim | undefined, sessionHash: string, now: number): ClaimDecision {
  if (!existing) return { kind: 'take' };
  if (existing.sessionHash === sessionHash) return existing.connected ? { kind: 'replace' } : { kind: 'take' };
  if (existing.connected || existing.reservedUntil > now) return { kind: 'refuse', code: CLOSE_CODES.conflict, message: USER_MESSAGES.peerIdInUse };
  return { kind: 'take' };
}
