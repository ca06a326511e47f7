/**
 * A room's entry rules as plain functions of plain data, so each can be tested without a daemon:
 * who may take a peer id, and whether a guest enters, waits for a host, or is refused.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';

export type Gate = { kind: 'enter' } | { kind: 'wait' } | { kind: 'refuse'; code: number; message: string };

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
}

export const hashRoomPassword = (pw: string): Buffer => createHash('sha256').update(`confd-room:${pw}`).digest();

function passwordMatches(hash: Buffer | null, given: string | null): boolean {
  if (!hash) return true;
  if (given === null) return false;
  return timingSafeEqual(hash, hashRoomPassword(given));
}

/**
 * Hosts always enter (their rights were checked by auth). A guest is refused while its address is
 * banned, the room is locked or the password is wrong, and waits while host protection finds no host.
 */
export function gate(i: GateInput): Gate {
  if (i.role === 'host') return { kind: 'enter' };
  if (i.bannedForMs > 0) return { kind: 'refuse', code: CLOSE_CODES.forbidden, message: USER_MESSAGES.banned(Math.ceil(i.bannedForMs / 1000)) };
  if (i.locked) return { kind: 'refuse', code: CLOSE_CODES.locked, message: USER_MESSAGES.locked };
  if (!passwordMatches(i.passwordHash, i.givenPassword)) return { kind: 'refuse', code: CLOSE_CODES.passwordRequired, message: USER_MESSAGES.passwordRequired };
  if (i.hostProtected && !i.hasHost) return { kind: 'wait' };
  return { kind: 'enter' };
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
