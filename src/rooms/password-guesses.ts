/**
 * Wrong room passwords, counted per address and per room (the door keeps one of these per room), in
 * the manner of src/auth/login-limiter.ts: after `perAddress` wrong ones from an address, or
 * `perRoom` from anywhere, within `windowMs`, password checks are refused (not made) for `windowMs`.
 * Refusing even the right password is the point: an answer would tell the guesser it had found it.
 * Pure: no sockets, no room; the time is passed in.
 */
import { setBounded } from '../bounded-map.ts';

export interface GuessLimits {
  perAddress: number;
  perRoom: number;
  windowMs: number;
}

/** Issue 21 found a 4-digit password in 2-3 s; with these, 10,000 guesses take an address 14 days. */
export const ROOM_PASSWORD_GUESSES: GuessLimits = { perAddress: 5, perRoom: 30, windowMs: 10 * 60_000 };

export type GuessScope = 'address' | 'room';
export interface GuessBlock {
  scope: GuessScope;
  retryAfterMs: number;
}

/** Addresses counted at most (the oldest go first), so a spray of addresses cannot grow memory without bound. */
const MAX_ADDRESSES = 10_000;

export interface PasswordGuesses {
  /** Whether a password from this address may be checked now; null: it may. */
  blocked(ipKey: string, now: number): GuessBlock | null;
  /** A wrong password from this address: the block it started, if it started one (to log and tell hosts once). */
  failed(ipKey: string, now: number): GuessBlock | null;
  /** The right password: the address's wrong ones are forgotten (the room's are not). */
  succeeded(ipKey: string): void;
  /** Forgets addresses whose wrong passwords are all older than the window, and ended blocks. */
  sweep(now: number): void;
  /** Addresses remembered (wrong passwords counted, blocks). */
  size(): number;
}

export function createPasswordGuesses(limits: GuessLimits = ROOM_PASSWORD_GUESSES): PasswordGuesses {
  const byAddress = new Map<string, number[]>();
  const addressBlocked = new Map<string, number>();
  let room: number[] = [];
  let roomBlockedUntil = 0;

  const recent = (times: number[], now: number) => times.filter((t) => now - t < limits.windowMs);

  function blocked(ipKey: string, now: number): GuessBlock | null {
    if (roomBlockedUntil > now) return { scope: 'room', retryAfterMs: roomBlockedUntil - now };
    const until = addressBlocked.get(ipKey) ?? 0;
    if (until > now) return { scope: 'address', retryAfterMs: until - now };
    if (until) addressBlocked.delete(ipKey);
    return null;
  }

  return {
    blocked,

    failed(ipKey, now) {
      if (blocked(ipKey, now)) return null;
      const mine = [...recent(byAddress.get(ipKey) ?? [], now), now];
      setBounded(byAddress, ipKey, mine, MAX_ADDRESSES);
      room = [...recent(room, now), now];
      if (room.length >= limits.perRoom) {
        roomBlockedUntil = now + limits.windowMs;
        room = [];
        return { scope: 'room', retryAfterMs: limits.windowMs };
      }
      if (mine.length >= limits.perAddress) {
        byAddress.delete(ipKey);
        for (const [k, until] of addressBlocked) if (until <= now) addressBlocked.delete(k);
        addressBlocked.set(ipKey, now + limits.windowMs);
        return { scope: 'address', retryAfterMs: limits.windowMs };
      }
      return null;
    },

    succeeded(ipKey) {
      byAddress.delete(ipKey);
    },

    sweep(now) {
      for (const [k, times] of byAddress) if (recent(times, now).length === 0) byAddress.delete(k);
      for (const [k, until] of addressBlocked) if (until <= now) addressBlocked.delete(k);
    },

    size: () => byAddress.size + addressBlocked.size,
  };
}
