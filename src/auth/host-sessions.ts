import { createHash, randomBytes } from 'node:crypto';
import type { StoredSession } from '../store/schema.ts';

/**
 * Host session tokens. The token goes to the browser; the state keeps only its SHA-256
 * (src/store/sessions.ts), so a copy of the database or of Redis gives nobody a session.
 */
export type HostSession = StoredSession;

export const HOST_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export const tokenDigest = (token: string) => createHash('sha256').update(token).digest('hex');

/** A new session for `user` from `ip`: the token for the browser, the record for the state. */
export function newHostSession(user: string, ip: string, ttlMs: number, nowMs: number): { token: string; session: HostSession } {
  const token = randomBytes(32).toString('base64url');
  const session: HostSession = {
    id: randomBytes(8).toString('hex'),
    hash: tokenDigest(token),
    user,
    ip,
    createdAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + ttlMs).toISOString(),
  };
  return { token, session };
}

/** The hash to look a presented token up by, or null when it cannot be a session token. */
export const presentedHash = (token: unknown): string | null => (typeof token === 'string' && HOST_TOKEN_RE.test(token) ? tokenDigest(token) : null);
