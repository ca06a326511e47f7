import type { Config } from '../config/load.ts';
import { isConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { counters } from '../metrics.ts';
import type { Store } from '../store/db.ts';
import { rateKeyForIp } from '../store/ips.ts';
import { checkCredentials } from './credentials.ts';
import { createLoginLimiter, type LoginLimiter } from './login-limiter.ts';
import { HASH_QUEUE_RETRY_SECONDS } from './passwords.ts';

/** Why a login was not let in, with what the HTTP answer needs. */
export type LoginRefusal =
  | { ok: false; status: 401 }
  /** blocked: too many failures on the user name or address; busy: one is being checked right now. */
  | { ok: false; status: 429; reason: 'blocked' | 'busy'; retryAfterSeconds: number }
  /** The password-check queue is full (a login burst from many addresses). */
  | { ok: false; status: 503; retryAfterSeconds: number };

/** Password checks per user name, and per address (IPv4, or IPv6 /64), that may run at once. */
export const LOGIN_IN_FLIGHT_PER_USER = 1;
export const LOGIN_IN_FLIGHT_PER_ADDRESS = 2;
/** The in-flight limit of a login key (`u:NAME` or `ip:ADDRESS`), for either limiter backend. */
export const loginInFlightLimit = (key: string): number => (key.startsWith('u:') ? LOGIN_IN_FLIGHT_PER_USER : LOGIN_IN_FLIGHT_PER_ADDRESS);

export interface LoginGate {
  /** Checks the password under the limits; `{ok: true}` when it is right. */
  check(username: string, password: string, ip: string): Promise<{ ok: true } | LoginRefusal>;
}

/**
 * The login limits, in the order they apply:
 * 1. a user name or address (IPv4, IPv6 /64) blocked after maxLoginAttempts failures within
 *    loginBlockMinutes is refused at once (429, Retry-After = the rest of the block);
 * 2. the attempt is counted before its password is checked, and at most one check per user name and
 *    two per address run at once: more are refused at once (429, Retry-After 1), so a parallel burst
 *    gets no more guesses than a sequential one, and cannot queue in front of other users;
 * 3. the shared argon2 queue is bounded: when it is full the answer is 503 with Retry-After, no hash.
 * Failures and blocks go to the audit trail as coalesced noise (Store.recordNoise): a block once per
 * key and window, never once per refused request.
 *
 * `limiter` holds the counts: in memory by default; in cluster mode the Redis one
 * (login-limiter-redis.ts, built with the same maxLoginAttempts, window and loginInFlightLimit), so that
 * all nodes count together. When that Redis cannot be reached, check() rejects with
 * ConfdError('cluster_unavailable') (503): no login gets in without its limits.
 */
export function createLoginGate(opts: { config: Config; store: Store; log: Logger; now: () => number; limiter?: LoginLimiter }): LoginGate {
  const { config, store, log, now } = opts;
  const windowMs = config.host.loginBlockMinutes * 60_000;
  const limiter = opts.limiter ?? createLoginLimiter(config.host.maxLoginAttempts, windowMs, { inFlightLimit: loginInFlightLimit });
  let lastOverloadLog = 0;

  return {
    async check(username, password, ip) {
      const userKey = `u:${username}`;
      const address = rateKeyForIp(ip);
      const gate = await limiter.begin([userKey, `ip:${address}`], now());
      if (!gate.ok) {
        if (gate.reason === 'blocked') counters.loginsBlocked++;
        else counters.loginsBusy++;
        return { ok: false, status: 429, reason: gate.reason, retryAfterSeconds: Math.max(1, Math.ceil(gate.retryAfterMs / 1000)) };
      }
      let ok: boolean;
      try {
        ok = await checkCredentials(store, config, username, password);
      } catch (e) {
        // Nothing was checked. Should the limiter's Redis be gone too, the reservation ages out by itself
        // (its in-flight mark after a safety ttl, its count with the window): the original error stands.
        await gate.attempt.cancelled().catch((c: unknown) => log.warn({ err: c }, 'could not forget a login attempt that was not checked'));
        if (!isConfdError(e) || e.code !== 'busy') throw e;
        counters.loginsOverloaded++;
        if (now() - lastOverloadLog > 60_000) {
          lastOverloadLog = now();
          log.warn({ ip }, 'login burst: the password-check queue is full; logins get 503 until it drains (logged once a minute)');
        }
        return { ok: false, status: 503, retryAfterSeconds: HASH_QUEUE_RETRY_SECONDS };
      }
      if (ok) {
        // Only the user's count is forgiven: a valid account must not reset its address's failures.
        await gate.attempt.succeeded([userKey]);
        return { ok: true };
      }
      const t = now();
      const blocked = await gate.attempt.failed(t);
      counters.loginsFailed++;
      store.recordNoise('login.failed', username, { ip }, new Date(t));
      for (const key of blocked) {
        const byUser = key === userKey;
        store.recordNoise('login.blocked', username, { ip, by: byUser ? 'user' : 'address', ...(byUser ? {} : { address }), until: new Date(t + windowMs).toISOString() }, new Date(t));
        log.warn({ user: username, ip, by: byUser ? 'user' : 'address' }, `logins blocked for ${config.host.loginBlockMinutes} min after ${config.host.maxLoginAttempts} failures`);
      }
      log.info({ user: username, ip }, 'login failed');
      return { ok: false, status: 401 };
    },
  };
}
