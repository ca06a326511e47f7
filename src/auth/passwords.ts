import argon2 from 'argon2';
import { ConfdError } from '../errors.ts';

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (~50 ms here). */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN_LENGTH = 8;
/** Upper bound in bytes: hashing cost must not be chosen by whoever sends the password. */
export const PASSWORD_MAX_BYTES = 1024;

/** Returns a sentence saying what is wrong with the password, or null when it is acceptable. */
export function passwordProblem(pw: string): string | null {
  if ([...pw].length < PASSWORD_MIN_LENGTH) return `password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (Buffer.byteLength(pw) > PASSWORD_MAX_BYTES) return `password must be at most ${PASSWORD_MAX_BYTES} bytes`;
  return null;
}

/**
 * At most this many hashes run at once; the rest queue. Each argon2 hash holds 19 MiB and a libuv
 * thread, so an unbounded burst (logins, user adds) would starve the process.
 */
const MAX_CONCURRENT_HASHES = 2;
/**
 * Password checks (logins) that may wait for a hash slot; one more is refused at once with
 * `busy` (HTTP 503). With ~50 ms per check and 2 at a time, a login waits at most ~0.5 s behind
 * others, and an attacker who fills the queue holds 16 small closures, not memory without bound.
 * Hashes for `confctl user add/passwd` (the admin socket) are not capped: they are few and trusted.
 */
export const MAX_WAITING_CHECKS = 16;
/** What a 503 tells the client to wait. */
export const HASH_QUEUE_RETRY_SECONDS = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function bounded<T>(work: () => Promise<T>, maxWaiting = Infinity): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) {
    if (waiting.length >= maxWaiting) {
      throw new ConfdError('busy', `too many password checks are queued (${maxWaiting}); the server is under a login burst, try again in ${HASH_QUEUE_RETRY_SECONDS} s`);
    }
    await new Promise<void>((r) => waiting.push(r));
  }
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

export function isPasswordHash(text: string): boolean {
  return text.startsWith('$argon2id$') || text.startsWith('$argon2i$') || text.startsWith('$argon2d$');
}

export function hashPassword(password: string): Promise<string> {
  return bounded(() => argon2.hash(password, ARGON2_OPTIONS));
}

/**
 * Constant-time by construction: argon2.verify compares the derived keys with timingSafeEqual.
 * Rejects with a `busy` ConfdError, without hashing, when MAX_WAITING_CHECKS checks already wait.
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) return false;
  // A full queue rejects with `busy` (the caller answers 503); a malformed hash is just "no".
  return bounded(() => argon2.verify(hash, password).catch(() => false), MAX_WAITING_CHECKS);
}
