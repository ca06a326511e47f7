/**
 * Failed-attempt accounting per key (a user name, an IP or IPv6 /64): after `maxAttempts` failures
 * within `windowMs`, further attempts on that key are refused until the window has passed since the
 * failure that triggered the block.
 *
 * Two backends with the same semantics (and the same tests, login-limiter.test.ts): this one keeps the
 * counts in memory (a single node: a restart forgives, which is acceptable as the argon2 cost and the
 * in-flight caps still bound guessing speed); login-limiter-redis.ts keeps them in the cluster's Redis,
 * so that every node counts the same failures. Hence the Promises: an answer may need a round trip,
 * and a Redis backend rejects with ConfdError('cluster_unavailable') when Redis cannot be reached.
 *
 * Logins use `begin`: the attempt is counted BEFORE its password is checked (a reservation), so a
 * burst of parallel attempts cannot all pass the "blocked?" check while none has failed yet. At most
 * `inFlightLimit(key)` attempts per key are being checked at once; more are refused at once ("busy").
 * The API key check compares the key first and then makes one call, `blockedFor` (right key) or
 * `recordFailure` (wrong key), each of which checks and counts in one step.
 */
export interface LoginLimiter {
  /** Reserves an attempt on every key, or says why not (blocked, or too many in flight). */
  begin(keys: readonly string[], now?: number): Promise<Admission>;
  /** Milliseconds until `keys` may try again, 0 if allowed now. */
  blockedFor(keys: readonly string[], now?: number): Promise<number>;
  /**
   * Counts a failure on every key and says which keys it blocked; if a key is blocked already, counts
   * nothing (a flood against a blocked key costs no memory) and says how long the block lasts.
   */
  recordFailure(keys: readonly string[], now?: number): Promise<FailureRecord>;
  /** Forgets the failures counted on these keys. */
  recordSuccess(keys: readonly string[]): Promise<void>;
}

export type Admission =
  | { ok: true; attempt: LoginAttempt }
  /** blocked: the key failed too often (retry after the window); busy: attempts on it are being checked. */
  | { ok: false; reason: 'blocked' | 'busy'; key: string; retryAfterMs: number };

export type FailureRecord =
  /** Counted; `blocked`: the keys this failure blocked (for the audit trail). */
  | { counted: true; blocked: string[] }
  /** `key` was blocked already: nothing counted. */
  | { counted: false; key: string; retryAfterMs: number };

export interface LoginAttempt {
  /** Wrong credentials: the reserved attempt stays counted. Resolves to the keys it blocked (for the audit trail). */
  failed(now?: number): Promise<string[]>;
  /** Right credentials: `forgive`'s failures are forgotten and this attempt counts against no key. */
  succeeded(forgive: readonly string[]): Promise<void>;
  /** Nothing was checked (the hash queue was full, or an error): the attempt is forgotten. */
  cancelled(): Promise<void>;
}

export interface LoginLimiterOptions {
  /** Attempts per key that may be checked at the same time (default: no limit). */
  inFlightLimit?: (key: string) => number;
}

/** Keys kept at most, so a spray of random user names cannot grow memory without bound. */
const MAX_KEYS = 100_000;
/** What a "busy" answer tells the client to wait: one argon2 check takes well under a second. */
export const BUSY_RETRY_MS = 1000;

export function createLoginLimiter(maxAttempts: number, windowMs: number, opts: LoginLimiterOptions = {}): LoginLimiter {
  const failures = new Map<string, number[]>();
  const blockedUntil = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const limitOf = opts.inFlightLimit ?? (() => Infinity);

  function prune(key: string, now: number): number[] {
    const recent = (failures.get(key) ?? []).filter((t) => now - t < windowMs);
    if (recent.length === 0) failures.delete(key);
    else failures.set(key, recent);
    return recent;
  }

  function blockedWait(key: string, now: number): number {
    const until = blockedUntil.get(key) ?? 0;
    if (until > now) return until - now;
    if (until) blockedUntil.delete(key);
    return 0;
  }

  function keep<V>(map: Map<string, V>, key: string): void {
    if (map.size >= MAX_KEYS && !map.has(key)) {
      // Drop the oldest key (Map keeps insertion order).
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
  }

  function count(key: string, at: number, now: number): number {
    keep(failures, key);
    const recent = prune(key, now);
    recent.push(at);
    failures.set(key, recent);
    return recent.length;
  }

  function uncount(key: string, at: number): void {
    const list = failures.get(key);
    if (!list) return;
    const i = list.indexOf(at);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) failures.delete(key);
  }

  function block(key: string, now: number): void {
    keep(blockedUntil, key);
    blockedUntil.set(key, now + windowMs);
  }

  const release = (keys: readonly string[]) => {
    for (const k of keys) {
      const n = (inFlight.get(k) ?? 1) - 1;
      if (n <= 0) inFlight.delete(k);
      else inFlight.set(k, n);
    }
  };

  // No await inside: each call checks and counts in one step, as the Redis backend's scripts do.
  return {
    async begin(keys, now = Date.now()) {
      for (const k of keys) {
        const wait = blockedWait(k, now);
        if (wait > 0) return { ok: false, reason: 'blocked', key: k, retryAfterMs: wait };
      }
      for (const k of keys) {
        if ((inFlight.get(k) ?? 0) >= limitOf(k)) return { ok: false, reason: 'busy', key: k, retryAfterMs: BUSY_RETRY_MS };
        // Reservations of attempts still being checked fill the quota too: refuse until they are decided.
        if (prune(k, now).length >= maxAttempts) return { ok: false, reason: 'busy', key: k, retryAfterMs: BUSY_RETRY_MS };
      }
      const at = now;
      for (const k of keys) {
        count(k, at, now);
        inFlight.set(k, (inFlight.get(k) ?? 0) + 1);
      }
      let done = false;
      const finish = () => {
        if (done) return false;
        done = true;
        release(keys);
        return true;
      };
      return {
        ok: true,
        attempt: {
          async failed(later = Date.now()) {
            if (!finish()) return [];
            const blocked: string[] = [];
            for (const k of keys) {
              // Decided failures only: the reservations of attempts still being checked are not yet failures.
              const decided = prune(k, later).length - (inFlight.get(k) ?? 0);
              if (decided >= maxAttempts && blockedWait(k, later) === 0) {
                block(k, later);
                blocked.push(k);
              }
            }
            return blocked;
          },
          async succeeded(forgive) {
            if (!finish()) return;
            for (const k of keys) uncount(k, at);
            for (const k of forgive) failures.delete(k);
          },
          async cancelled() {
            if (!finish()) return;
            for (const k of keys) uncount(k, at);
          },
        },
      };
    },

    async blockedFor(keys, now = Date.now()) {
      let wait = 0;
      for (const k of keys) wait = Math.max(wait, blockedWait(k, now));
      return wait;
    },

    async recordFailure(keys, now = Date.now()) {
      for (const k of keys) {
        const wait = blockedWait(k, now);
        if (wait > 0) return { counted: false, key: k, retryAfterMs: wait };
      }
      const blocked: string[] = [];
      for (const k of keys) {
        if (count(k, now, now) >= maxAttempts) {
          block(k, now);
          blocked.push(k);
        }
      }
      return { counted: true, blocked };
    },

    async recordSuccess(keys) {
      for (const k of keys) failures.delete(k);
    },
  };
}
