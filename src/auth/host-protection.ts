import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/db.ts';
import { appendAudit } from '../store/audit.ts';
import { activeIps, authoriseIp } from '../store/ips.ts';
import { counters } from '../metrics.ts';
import { newHostSession, presentedHash, type HostSession } from './host-sessions.ts';
import { addSession, findSessionByHash, findSessionById, sessionLive } from '../store/sessions.ts';
import { endSession, type SessionEnd } from './revocations.ts';
import type { LoginLimiter } from './login-limiter.ts';
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
  /** A presenter token gave host rights until `expiresAtMs`: its connections are demoted then. */
  registerTokenHost(key: string, expiresAtMs: number): void;
  /** These credentials ended (told by the store's changes, ended-credentials.ts): forget their timers here. */
  credentialsEnded(ended: CredentialEnded): void;
  /**
   * Host rights that end by the clock alone, with nothing in the state to change: a presenter token's
   * time ran out. Everything else that ends is a store change, derived by ended-credentials.ts.
   */
  onClockEnded(listener: (ended: CredentialEnded) => void): void;
  close(): void;
}

export function createHostProtection(opts: {
  config: Config;
  store: Store;
  log: Logger;
  now?: () => number;
  limiter?: LoginLimiter;
  /** Cluster: whether the session has a connection open on another node (then leaving here is no logout). */
  presentElsewhere?: (sessionId: string) => boolean;
}): HostProtection {
  const { config, store, log } = opts;
  const now = opts.now ?? Date.now;
  const gate = createLoginGate({ config, store, log, now, ...(opts.limiter ? { limiter: opts.limiter } : {}) });
  const authTtlMs = config.host.authTtlSeconds * 1000;
  const graceMs = config.host.leaveGraceSeconds * 1000;
  const graceTimers = new Map<string, NodeJS.Timeout>();
  const listeners: ((ended: CredentialEnded) => void)[] = [];
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

  /** Forgets a session's timers on this node. */
  function forget(id: string): void {
    clearTimeout(graceTimers.get(id));
    graceTimers.delete(id);
    clearTimeout(expiryTimers.get(id));
    expiryTimers.delete(id);
  }

  const ipAuthorised = (ip: string, user: string) => activeIps(store.data, new Date(now())).some((e) => e.ip === ip && e.user === user);

  /** A live session (not expired, its IP still authorised for its user), or null. */
  function live(s: HostSession | undefined): HostSession | null {
    if (!s || !sessionLive(s, now()) || !ipAuthorised(s.ip, s.user)) return null;
    return s;
  }

  /** Ends a session in the state (revocations.ts); the rooms learn it from that change. */
  async function deauthorise(session: HostSession, why: SessionEnd): Promise<void> {
    forget(session.id);
    await endSession(store, session.id, why, new Date(now())).catch((e: unknown) => log.error({ err: e }, 'could not record host logout'));
  }

  /**
   * Times the session's end on this node (the one whose connections it lets in). A session already
   * gone from the state was ended by that change, which said so.
   */
  function watch(session: HostSession): void {
    if (expiryTimers.has(session.id)) return;
    at(session.id, Date.parse(session.expiresAt), () => {
      const s = findSessionById(store.data, session.id);
      if (s) void deauthorise(s, 'session.expire');
    });
  }

  return {
    async login(username, password, ip) {
      // A cluster: users added or removed on other nodes count (throws while Redis is away).
      await store.sync('log in');
      // Limits, the password check, failure accounting and its audit noise: login-gate.ts.
      const checked = await gate.check(username, password, ip);
      if (!checked.ok) return checked;
      const t = new Date(now());
      const { token, session } = newHostSession(username, ip, authTtlMs, now());
      await store.mutate((d) => {
        addSession(d, session);
        authoriseIp(d, ip, username, authTtlMs / 1000, t);
        appendAudit(d, t, 'login.ok', username, { ip });
      });
      watch(session);
      counters.loginsOk++;
      log.info({ user: username, ip }, 'host logged in');
      return { ok: true, token, user: username, expiresAt: session.expiresAt };
    },

    async logout(token) {
      const hash = presentedHash(token);
      const session = hash ? findSessionByHash(store.data, hash) : undefined;
      if (!session) return false;
      await deauthorise(session, 'logout');
      log.info({ user: session.user, ip: session.ip }, 'host logged out');
      return true;
    },

    hostSession(token, ip) {
      const hash = presentedHash(token);
      const s = live(hash ? findSessionByHash(store.data, hash) : undefined);
      if (!s || s.ip !== ip) return null;
      watch(s);
      return s;
    },

    stillHost: (sessionId) => live(findSessionById(store.data, sessionId)) !== null,

    hostLeft(sessionId) {
      if (graceTimers.has(sessionId) || !findSessionById(store.data, sessionId)) return;
      const timer = setTimeout(() => {
        graceTimers.delete(sessionId);
        const s = findSessionById(store.data, sessionId);
        if (!s) return;
        // Still in a room on another node: that node's own grace timer decides when it leaves there.
        if (opts.presentElsewhere?.(sessionId)) return;
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

    registerTokenHost(key, expiresAtMs) {
      at(key, expiresAtMs, () => emit([key], 'expired'));
    },

    credentialsEnded(ended) {
      for (const k of ended.keys) forget(k);
    },

    onClockEnded(listener) {
      listeners.push(listener);
    },

    close() {
      for (const t of [...graceTimers.values(), ...expiryTimers.values()]) clearTimeout(t);
      graceTimers.clear();
      expiryTimers.clear();
    },
  };
}
