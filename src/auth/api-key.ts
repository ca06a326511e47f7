import { createHash, timingSafeEqual } from 'node:crypto';
import { rateKeyForIp } from '../store/ips.ts';
import { createLoginLimiter, type LoginLimiter } from './login-limiter.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The API key check: `Authorization: KEY` or `Authorization: Bearer KEY`, compared in constant time
 * (digests first, so neither content nor length leaks). Always false while no key is configured.
 */
export function createApiKeyCheck(keySecret: string | null): (authorization: string | undefined) => boolean {
  const expected = keySecret === null ? null : digest(keySecret);
  return (authorization) => {
    if (expected === null || !authorization) return false;
    const given = authorization.startsWith('Bearer ') ? authorization.slice(7) : authorization;
    return timingSafeEqual(digest(given), expected);
  };
}

/** Wrong API keys per address (IPv4, or IPv6 /64) within API_KEY_BLOCK_MS before that address is refused. */
export const API_KEY_MAX_FAILURES = 10;
export const API_KEY_BLOCK_MS = 15 * 60_000;

export type ApiKeyVerdict = { ok: true } | { ok: false; status: 401 } | { ok: false; status: 429; retryAfterSeconds: number };

/**
 * The API key check with a per-address limit, for /api/v1 and /metrics: after API_KEY_MAX_FAILURES
 * wrong keys from one address (an IPv6 client by its /64) within API_KEY_BLOCK_MS, that address gets
 * 429 with Retry-After, the right key included, until the block ends. The key is compared first, then
 * one limiter call checks and counts in one step (blockedFor for a right key, recordFailure for a
 * wrong one), so a parallel burst is counted exactly on either backend: of any number of wrong keys,
 * API_KEY_MAX_FAILURES get a 401 and the rest 429. `limiter` holds the counts (default: in memory; in
 * cluster mode a Redis one, API_KEY_MAX_FAILURES per API_KEY_BLOCK_MS, with a prefix of its own per
 * guard); with Redis unreachable the guard rejects with ConfdError('cluster_unavailable').
 */
export function createApiKeyGuard(
  keyOk: (authorization: string | undefined) => boolean,
  limiter: LoginLimiter = createLoginLimiter(API_KEY_MAX_FAILURES, API_KEY_BLOCK_MS),
): (authorization: string | undefined, ip: string) => Promise<ApiKeyVerdict> {
  const retry = (ms: number): ApiKeyVerdict => ({ ok: false, status: 429, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) });
  return async (authorization, ip) => {
    const key = rateKeyForIp(ip);
    if (keyOk(authorization)) {
      const wait = await limiter.blockedFor([key]);
      return wait > 0 ? retry(wait) : { ok: true };
    }
    const failure = await limiter.recordFailure([key]);
    return failure.counted ? { ok: false, status: 401 } : retry(failure.retryAfterMs);
  };
}
