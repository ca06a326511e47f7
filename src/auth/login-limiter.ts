/**
 * Failed-login accounting per user name and per IP: after `maxAttempts` failures within
 * `windowMs`, further attempts on that key are refused until the window has passed since the
 * failure that triggered the block. Kept in memory: a restart forgives, which is acceptable as the
 * argon2 cost still bounds guessing speed.
 */
export interface LoginLimiter {
  /** Milliseconds until `keys` may try again, 0 if allowed now. */
  blockedFor(keys: readonly string[], now?: number): number;
  recordFailure(keys: readonly string[], now?: number): void;
  recordSuccess(keys: readonly string[]): void;
}

/** Keys kept at most, so a spray of random user names cannot grow memory without bound. */
const MAX_KEYS = 100_000;

export function createLoginLimiter(maxAttempts: number, windowMs: number): LoginLimiter {
  const failures = new Map<string, number[]>();
  const blockedUntil = new Map<string, number>();

  function prune(key: string, now: number): number[] {
    const recent = (failures.get(key) ?? []).filter((t) => now - t < windowMs);
    if (recent.length === 0) failures.delete(key);
    else failures.set(key, recent);
    return recent;
  }

  return {
    blockedFor(keys, now = Date.now()) {
      let wait = 0;
      for (const k of keys) {
        const until = blockedUntil.get(k) ?? 0;
        if (until > now) wait = Math.max(wait, until - now);
        else if (until) blockedUntil.delete(k);
      }
      return wait;
    },
    recordFailure(keys, now = Date.now()) {
      for (const k of keys) {
        if (failures.size >= MAX_KEYS && !failures.has(k)) {
          // Drop the oldest key (Map keeps insertion order).
          const oldest = failures.keys().next().value;
          if (oldest !== undefined) failures.delete(oldest);
        }
        const recent = prune(k, now);
        recent.push(now);
        failures.set(k, recent);
        if (recent.length >= maxAttempts) blockedUntil.set(k, now + windowMs);
      }
    },
    recordSuccess(keys) {
      for (const k of keys) failures.delete(k);
    },
  };
}
