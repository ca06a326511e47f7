import { createHash, randomBytes } from 'node:crypto';

/**
 * Host sessions made by a successful login. The token goes to the browser; only its SHA-256 is kept,
 * in memory: a restart ends every session (the authorised-IP table persists, but an IP alone never
 * makes anyone a host, so hosts log in again).
 */
export interface HostSession {
  readonly id: string;
  readonly user: string;
  readonly ip: string;
  readonly createdAt: number;
  expiresAt: number;
}

export interface HostSessions {
  create(user: string, ip: string, ttlMs: number, now?: number): { token: string; session: HostSession };
  /** The live session for a token, or null (unknown, expired or ended). */
  lookup(token: string, now?: number): HostSession | null;
  end(token: string): HostSession | null;
  /** Ends every session of that IP (any user); returns them. */
  endByIp(ip: string): HostSession[];
  endByUser(user: string): HostSession[];
  endSession(id: string): void;
  list(): HostSession[];
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');
export const HOST_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function createHostSessions(): HostSessions {
  const byHash = new Map<string, HostSession>();
  const endWhere = (pred: (s: HostSession) => boolean) => {
    const ended: HostSession[] = [];
    for (const [h, s] of byHash) {
      if (pred(s)) {
        byHash.delete(h);
        ended.push(s);
      }
    }
    return ended;
  };
  return {
    create(user, ip, ttlMs, now = Date.now()) {
      const token = randomBytes(32).toString('base64url');
      const session: HostSession = { id: randomBytes(8).toString('hex'), user, ip, createdAt: now, expiresAt: now + ttlMs };
      byHash.set(digest(token), session);
      return { token, session };
    },
    lookup(token, now = Date.now()) {
      if (typeof token !== 'string' || !HOST_TOKEN_RE.test(token)) return null;
      const h = digest(token);
      const s = byHash.get(h);
      if (!s) return null;
      if (s.expiresAt <= now) {
        byHash.delete(h);
        return null;
      }
      return s;
    },
    end(token) {
      if (typeof token !== 'string' || !HOST_TOKEN_RE.test(token)) return null;
      const h = digest(token);
      const s = byHash.get(h) ?? null;
      byHash.delete(h);
      return s;
    },
    endByIp: (ip) => endWhere((s) => s.ip === ip),
    endByUser: (user) => endWhere((s) => s.user === user),
    endSession: (id) => void endWhere((s) => s.id === id),
    list: () => [...byHash.values()],
  };
}
