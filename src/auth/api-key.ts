import { createHash, timingSafeEqual } from 'node:crypto';
import { rateKeyForIp } from '../store/ips.ts';
import { createLoginLimiter } from './login-limiter.ts';

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
 * 429 with Retry-After, the right key included, until the block ends. The check is synchronous, so a
 * parallel burst is counted exactly.
 */
export function createApiKeyGuard(keyOk: (authorization: string | undefined) => boolean): (authorization: string | undefined, ip: string) => ApiKeyVerdict {
  const limiter = createLoginLimiter(API_KEY_MAX_FAILURES, API_KEY_BLOCK_MS);
  return (authorization, ip) => {
    const key = rateKeyForIp(ip);
    const wait = limiter.blockedFor([key]);
    if (wait > 0) return { ok: false, status: 429, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
    if (keyOk(authorization)) return { ok: true };
    limiter.recordFailure([key]);
    return { ok: false, status: 401 };
  };
}
