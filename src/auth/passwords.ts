import argon2 from 'argon2';

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
let running = 0;
const waiting: (() => void)[] = [];

async function bounded<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) await new Promise<void>((r) => waiting.push(r));
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

/** Constant-time by construction: argon2.verify compares the derived keys with timingSafeEqual. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) return false;
  try {
    return await bounded(() => argon2.verify(hash, password));
  } catch {
    return false;
  }
}
