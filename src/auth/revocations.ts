import type { Store } from '../store/db.ts';
import type { AuthorisedIp, StoreData, StoredSession, TokenRecord } from '../store/schema.ts';
import { appendAudit } from '../store/audit.ts';
import { expireIps, revokeAllIps as removeAllIps, revokeIp as removeIp } from '../store/ips.ts';
import { removeUser as dropUser, setUserHash } from '../store/users.ts';
import { revokeToken as markRevoked, revokeTokensWhere } from '../store/tokens.ts';
import { removeSessions, sessionLive } from '../store/sessions.ts';

/**
 * Every way a credential is ended on purpose or by time, each as ONE store change: the entries, the
 * sessions that relied on them, the presenter tokens they let in, and the audit event go to the state
 * together or not at all. Nothing here tells anyone: what ended is derived from the change itself
 * (ended-credentials.ts), on this node as on every other node of a cluster.
 */

type Writer = Pick<Store, 'mutate'>;

/** Why a host session ended, as the audit trail names it. */
export type SessionEnd = 'logout' | 'host.left' | 'session.expire';

export interface IpsRevoked {
  /** The authorised-IP entries removed. */
  removed: AuthorisedIp[];
  /** Presenter tokens that had authorised them, revoked so that they cannot re-add them. */
  revokedTokens: string[];
}

export interface UserRemoved {
  removedIps: number;
  revokedTokens: string[];
}

export interface Expired {
  ips: AuthorisedIp[];
  /** Sessions dropped: those that relied on an expired IP, and those left unused past their time. */
  sessions: string[];
}

const ADMIN = 'admin';

/**
 * Sessions from a removed IP end with it, whichever user they belong to. A presenter token that
 * authorised the IP would simply authorise it again on its next connection: it is revoked too (a new
 * login, or a new token, is the way back).
 */
function revokeIps(d: StoreData, removed: AuthorisedIp[], now: Date): IpsRevoked {
  const ips = new Set(removed.map((e) => e.ip));
  removeSessions(d, (s) => ips.has(s.ip));
  const ids = new Set(removed.flatMap((e) => e.tokens ?? []));
  return { removed, revokedTokens: ids.size === 0 ? [] : revokeTokensWhere(d, now, (t) => ids.has(t.id)) };
}

/**
 * Ends sessions, each audited as `type`, and de-authorises each one's IP for its user unless another
 * live session of that user still uses it.
 */
function endSessions(d: StoreData, match: (s: StoredSession) => boolean, type: string, now: Date): StoredSession[] {
  const gone = removeSessions(d, match);
  for (const s of gone) {
    const others = d.sessions.some((o) => o.ip === s.ip && o.user === s.user && sessionLive(o, now.getTime()));
    if (!others) d.ips = d.ips.filter((e) => !(e.ip === s.ip && e.user === s.user));
    appendAudit(d, now, type, s.user, { ip: s.ip });
  }
  return gone;
}

/** `confctl ip revoke IP`: the IP for every user, its sessions and the presenter tokens that added it. */
export function revokeIp(store: Writer, ip: string, now: Date): Promise<IpsRevoked> {
  return store.mutate((d) => {
    const r = revokeIps(d, removeIp(d, ip), now);
    appendAudit(d, now, 'ip.revoke', ADMIN, { ip, entries: r.removed.length, revokedTokens: r.revokedTokens.join(',') });
    return r;
  });
}

/** `confctl ip revoke --all`. */
export function revokeAllIps(store: Writer, now: Date): Promise<IpsRevoked> {
  return store.mutate((d) => {
    const r = revokeIps(d, removeAllIps(d), now);
    appendAudit(d, now, 'ip.revoke_all', ADMIN, { entries: r.removed.length, revokedTokens: r.revokedTokens.join(',') });
    return r;
  });
}

/**
 * `confctl user remove`: the user, its IPs and sessions, and its join tokens (presenter or not: none
 * may authorise an IP for a user that is gone).
 */
export function removeUser(store: Writer, name: string, now: Date): Promise<UserRemoved> {
  return store.mutate((d) => {
    const { removedIps } = dropUser(d, name);
    removeSessions(d, (s) => s.user === name);
    const revokedTokens = revokeTokensWhere(d, now, (t) => t.sub === name);
    appendAudit(d, now, 'user.remove', ADMIN, { user: name, removedIps, revokedTokens: revokedTokens.join(',') });
    return { removedIps, revokedTokens };
  });
}

/**
 * `confctl user passwd`: a password change is what a sysadmin does when it leaked, so every session
 * made with the old one ends with it.
 */
export function changePassword(store: Writer, name: string, hash: string, now: Date): Promise<void> {
  return store.mutate((d) => {
    setUserHash(d, name, hash, now);
    appendAudit(d, now, 'user.passwd', ADMIN, { user: name });
    endSessions(d, (s) => s.user === name, 'session.revoke', now);
  });
}

/** `confctl token revoke ID`. */
export function revokeToken(store: Writer, id: string, now: Date): Promise<TokenRecord> {
  return store.mutate((d) => {
    const r = markRevoked(d, id, now);
    appendAudit(d, now, 'token.revoke', ADMIN, { id, room: r.room });
    return r;
  });
}

/**
 * A host session ends (logout, the host left, its time ran out). Idempotent: when several nodes end
 * the same session, the first does it and audits it, the rest change nothing. True when it ended here.
 */
export function endSession(store: Writer, sessionId: string, why: SessionEnd, now: Date): Promise<boolean> {
  return store.mutate((d) => endSessions(d, (s) => s.id === sessionId, why, now).length > 0);
}

/**
 * The periodic sweep: authorised IPs past their time, with the sessions that relied on them (in the
 * same change, so that every node sees an expiry, not a revocation), and sessions left unused for
 * `slackMs` past their time (a used one is ended by its own timer, which audits it).
 */
export function expireCredentials(store: Writer, now: Date, slackMs: number): Promise<Expired> {
  return store.mutate((d) => {
    const t = now.getTime();
    const stale = removeSessions(d, (s) => Date.parse(s.expiresAt) <= t - slackMs);
    const ips = expireIps(d, now);
    for (const e of ips) appendAudit(d, now, 'ip.expire', 'system', { ip: e.ip, user: e.user });
    const keys = new Set(ips.map((e) => `${e.ip} ${e.user}`));
    const relied = removeSessions(d, (s) => keys.has(`${s.ip} ${s.user}`));
    return { ips, sessions: [...stale, ...relied].map((s) => s.id) };
  });
}

/** Whether the sweep has anything to do: read on the current state, so an idle node writes nothing. */
export function anythingExpired(data: Readonly<StoreData>, now: Date, slackMs: number): boolean {
  const t = now.getTime();
  return data.sessions.some((s) => Date.parse(s.expiresAt) <= t - slackMs) || data.ips.some((e) => Date.parse(e.expiresAt) <= t);
}
