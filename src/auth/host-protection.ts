import type { Config } from '../config/load.ts';
import { parseDuration } from '../config/duration.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/db.ts';
import { appendAudit } from '../store/audit.ts';
import { activeIps, authoriseIp } from '../store/ips.ts';
import { counters } from '../metrics.ts';
import { createHostSessions, type HostSession } from './host-sessions.ts';
import { createLoginGate, type LoginRefusal } from './login-gate.ts';

export type LoginResult = { ok: true; token: string; user: string; expiresAt: string } | LoginRefusal;

import type { CredentialEnded } from './admission.ts';

/**
 * The seed's host protection, made safe: a login makes a host session (a secret the browser keeps)
 * and authorises the client's IP for that user. Host rights need both, checked live on every use.
 */
export interface HostProtection {
  login(username: string, password: string, ip: string): Promise<LoginResult>;
  /** Ends the session and de-authorises its IP for that user. */
  logout(token: string): Promise<boolean>;
  /** The session if `token` is live AND `ip` is authorised for its user; else null. */
  hostSession(token: string | null, ip: string): HostSession | null;
  /** A session id's host rights, re-checked (confctl ip revoke, expiry, logout all end them). */
  stillHost(sessionId: string): boolean;
  /** The host's last connection closed: after leaveGraceSeconds without a return, it is logged out. */
  hostLeft(sessionId: string): void;
  /** A connection of that session is open again: cancel a pending grace logout. */
  hostPresent(sessionId: string): void;
  /**
   * IPs de-authorised by the admin: their sessions end; `tokenIds` are the presenter tokens revoked with
   * them (see store/ips.ts), whose connections end too.
   */
  ipsRevoked(ips: readonly string[], tokenIds?: readonly string[]): void;
  /** Authorised-IP entries expired: the sessions that relied on them lose host rights. */
  ipsExpired(entries: readonly { ip: string; user: string }[]): void;
  /** A presenter token gave host rights until `expiresAtMs`: its connections are demoted then. */
  registerTokenHost(key: string, expiresAtMs: number): void;
  /** A user was removed (its tokens revoked in the store): its sessions and those tokens' connections end. */
  userRemoved(user: string, tokenIds: readonly string[]): void;
  /** A user's password changed: every session made with the old one ends. */
  passwordChanged(user: string): Promise<void>;
  tokenRevoked(jti: string): void;
  /** Listeners learn which credentials ended, to end or demote live connections at once. */
  onCredentialEnded(listener: (ended: CredentialEnded) => void): void;
  close(): void;
}

const tokenKeys = (ids: readonly string[]) => ids.map((id) => `token:${id}`);

export function createHostProtection(opts: { config: Config; store: Store; log: Logger; now?: () => number }): HostProtection {
  const { config, store, log } = opts;
  const now = opts.now ?? Date.now;
  const sessions = createHostSessions();
  const gate = createLoginGate({ config, store, log, now });
  const authTtlMs = parseDuration(config.host.authTtl)! * 1000;
  const graceMs = config.host.leaveGraceSeconds * 1000;
  const graceTimers = new Map<string, NodeJS.Timeout>();
  const listeners: ((ended: CredentialEnded) => void)[] = [];
  const byId = new Map<string, { token: string; session: HostSession }>();
  /** Session expiry and presenter-token expiry: host rights end at that moment, not at the next use. */
  const expiryTimers = new Map<string, NodeJS.Timeout>();

  const emit = (keys: string[], kind: CredentialEnded['kind']) => {
    if (keys.length === 0) return;
    for (const l of listeners) {
      try {
        l({ keys, kind });
      } catch (e) {
        log.error({ err: e }, 'credential listener failed');
      }
    }
  };

  /** setTimeout holds at most ~24.8 days; longer expiries are re-armed on the way. */
  function at(key: string, whenMs: number, fn: () => void): void {
    clearTimeout(expiryTimers.get(key));
    const delay = Math.max(0, whenMs - now());
    const timer = setTimeout(() => {
      expiryTimers.delete(key);
      if (whenMs > now()) at(key, whenMs, fn);
      else fn();
    }, Math.min(delay, 2 ** 31 - 1));
    timer.unref();
    expiryTimers.set(key, timer);
  }

  /** Forgets a session's timers; it has already been taken out of `sessions`. */
  function forget(id: string): void {
    byId.delete(id);
    clearTimeout(graceTimers.get(id));
    graceTimers.delete(id);
    clearTimeout(expiryTimers.get(id));
    expiryTimers.delete(id);
  }

  const ipAuthorised = (ip: string, user: string) => activeIps(store.data, new Date(now())).some((e) => e.ip === ip && e.user === user);

  async function deauthorise(session: HostSession, type: string, kind: CredentialEnded['kind'] = 'revoked'): Promise<void> {
    forget(session.id);
    const t = new Date(now());
    // The IP stays authorised if another live session of the same user still uses it.
    const others = [...byId.values()].some((s) => s.session.ip === session.ip && s.session.user === session.user);
    await store
      .mutate((d) => {
        if (!others) d.ips = d.ips.filter((e) => !(e.ip === session.ip && e.user === session.user));
        appendAudit(d, t, type, session.user, { ip: session.ip });
      })
      .catch((e: unknown) => log.error({ err: e }, 'could not record host logout'));
    emit([session.id], kind);
  }

  return {
    async login(username, password, ip) {
      // Limits, the password check, failure accounting and its audit noise: login-gate.ts.
      const checked = await gate.check(username, password, ip);
      if (!checked.ok) return checked;
      const t = new Date(now());
      const { token, session } = sessions.create(username, ip, authTtlMs, now());
      byId.set(session.id, { token, session });
      at(session.id, session.expiresAt, () => {
        const s = sessions.end(token);
        if (s) void deauthorise(s, 'session.expire', 'expired');
      });
      await store.mutate((d) => {
        authoriseIp(d, ip, username, authTtlMs / 1000, t);
        appendAudit(d, t, 'login.ok', username, { ip });
      });
      counters.loginsOk++;
      log.info({ user: username, ip }, 'host logged in');
      return { ok: true, token, user: username, expiresAt: new Date(session.expiresAt).toISOString() };
    },

    async logout(token) {
      const session = sessions.end(token);
      if (!session) return false;
      await deauthorise(session, 'logout');
      log.info({ user: session.user, ip: session.ip }, 'host logged out');
      return true;
    },

    hostSession(token, ip) {
      if (!token) return null;
      const s = sessions.lookup(token, now());
      if (!s || s.ip !== ip || !ipAuthorised(ip, s.user)) return null;
      return s;
    },

    stillHost(sessionId) {
      const entry = byId.get(sessionId);
      if (!entry) return false;
      const s = sessions.lookup(entry.token, now());
      return s !== null && ipAuthorised(s.ip, s.user);
    },

    hostLeft(sessionId) {
      const entry = byId.get(sessionId);
      if (!entry || graceTimers.has(sessionId)) return;
      const timer = setTimeout(() => {
        graceTimers.delete(sessionId);
        const s = sessions.end(entry.token);
        if (!s) return;
        log.info({ user: s.user, ip: s.ip }, 'host left; logged out after the grace period');
        void deauthorise(s, 'host.left');
      }, graceMs);
      timer.unref();
      graceTimers.set(sessionId, timer);
    },

    hostPresent(sessionId) {
      clearTimeout(graceTimers.get(sessionId));
      graceTimers.delete(sessionId);
    },

    ipsRevoked(ips, tokenIds = []) {
      const ended: string[] = [];
      for (const ip of ips) {
        for (const s of sessions.endByIp(ip)) {
          forget(s.id);
          ended.push(s.id);
        }
      }
      emit([...ended, ...tokenKeys(tokenIds)], 'revoked');
    },

    ipsExpired(entries) {
      const ended: string[] = [];
      for (const e of entries) {
        for (const s of sessions.list().filter((x) => x.ip === e.ip && x.user === e.user)) {
          sessions.endSession(s.id);
          forget(s.id);
          ended.push(s.id);
        }
      }
      emit(ended, 'expired');
    },

    userRemoved(user, tokenIds) {
      const ended = sessions.endByUser(user);
      for (const s of ended) forget(s.id);
      emit([...ended.map((s) => s.id), ...tokenKeys(tokenIds)], 'revoked');
    },

    async passwordChanged(user) {
      // A password change is what a sysadmin does when it leaked: nothing made with the old one lives on.
      await Promise.all(sessions.endByUser(user).map((s) => deauthorise(s, 'session.revoke')));
    },

    registerTokenHost(key, expiresAtMs) {
      at(key, expiresAtMs, () => emit([key], 'expired'));
    },

    tokenRevoked(jti) {
      const key = `token:${jti}`;
      clearTimeout(expiryTimers.get(key));
      expiryTimers.delete(key);
      emit([key], 'revoked');
    },

    onCredentialEnded(listener) {
      listeners.push(listener);
    },

    close() {
      for (const t of [...graceTimers.values(), ...expiryTimers.values()]) clearTimeout(t);
      graceTimers.clear();
      expiryTimers.clear();
    },
  };
}
