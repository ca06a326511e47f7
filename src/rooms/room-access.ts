/**
 * A room's lock and password, and the wrong passwords counted against it (password-guesses.ts): the
 * door asks it what the gate sees, whether a password check is refused for now, and tells it how each
 * check went. A block is logged and told to the hosts once.
 */
import type { Logger } from '../log.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import type { RoomState } from '../protocol/messages.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { hashRoomPassword } from './admission.ts';
import { createPasswordGuesses, type GuessBlock } from './password-guesses.ts';
import type { Entrant, Peer } from './peer.ts';
import type { StateEntries } from './view.ts';

export interface RoomAccess {
  state(): RoomState;
  lock(locked: boolean): RoomState;
  setPassword(password: string | null): RoomState;
  /** The host opening an empty room without a password may set it (the seed's roomPassword parameter). */
  opening(e: Entrant): void;
  /** What the gate sees; `returning` participants pass both (they keep strangers out, not those already in). */
  forGate(returning: boolean): { locked: boolean; passwordHash: Buffer | null };
  /** A password check refused without being made (even the right one would tell a guesser it is right). */
  blocked(e: Entrant): { code: number; message: string } | null;
  /** How the gate answered `e` (null: let through); a wrong password is counted. */
  checked(e: Entrant, refusedCode: number | null): void;
  /** Forgets wrong passwords and blocks whose time is up. */
  sweep(): void;
  entries(): StateEntries;
}

export function createRoomAccess(ctx: { log: Logger; now: () => number; hostsHere(): Peer[] }): RoomAccess {
  let locked = false;
  let passwordHash: Buffer | null = null;
  const guesses = createPasswordGuesses();
  const state = (): RoomState => ({ locked, hasPassword: passwordHash !== null });
  const minutes = (b: GuessBlock) => Math.ceil(b.retryAfterMs / 60_000);
  const guessable = (e: Entrant) => e.admission.role === 'guest' && passwordHash !== null && e.roomPassword !== null;

  return {
    state,
    lock(on) {
      locked = on;
      return state();
    },
    setPassword(password) {
      passwordHash = password === null ? null : hashRoomPassword(password);
      return state();
    },
    opening(e) {
      if (e.admission.role === 'host' && e.roomPassword && passwordHash === null) passwordHash = hashRoomPassword(e.roomPassword);
    },
    forGate: (returning) => ({ locked: locked && !returning, passwordHash: returning ? null : passwordHash }),
    blocked(e) {
      if (!guessable(e)) return null;
      const b = guesses.blocked(e.ipKey, ctx.now());
      return b && { code: CLOSE_CODES.rate_limited, message: USER_MESSAGES.passwordGuessing(b.scope, minutes(b)) };
    },
    checked(e, refusedCode) {
      if (!guessable(e)) return;
      if (refusedCode === null) return guesses.succeeded(e.ipKey);
      // Refused before its password was looked at (a ban, the lock): nothing to count.
      if (refusedCode !== CLOSE_CODES.passwordRequired) return;
      const b = guesses.failed(e.ipKey, ctx.now());
      if (!b) return;
      ctx.log.warn({ ip: e.ipKey, scope: b.scope, minutes: minutes(b) }, `room password guessing: checks refused for this ${b.scope} for a while`);
      for (const h of ctx.hostsHere()) h.channel.notify('passwordGuessing', { message: USER_MESSAGES.passwordGuessingHost(b.scope, minutes(b)) });
    },
    sweep: () => guesses.sweep(ctx.now()),
    entries: () => ({ password_addresses: guesses.size() }),
  };
}
