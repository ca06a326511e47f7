import { createHash, timingSafeEqual } from 'node:crypto';

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
