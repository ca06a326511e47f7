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
  /** IPs de-authorised by the admin (or a user removed): end their sessions, tell listeners. */
  ipsRevoked(ips: readonly string[]): void;
  /** A presenter token gave host rights from `ip`: `confctl ip revoke` and `token revoke` end them too. */
  registerTokenHost(key: string, ip: string): void;
  /** A user was removed: its sessions end at once. */
  userRemoved(user: string): void;
  tokenRevoked(jti: string): void;
  /** Listeners learn which sessions lost host rights, to demote live connections at once. */
  onRightsLost(listener: (sessionIds: string[]) => void): void;
  close(): void;
}

export function createHostProtection(opts: { config: Config; store: Store; log: Logger; now?: () => number }): HostProtection {
  const { config, store, log } = opts;
  const now = opts.now ?? Date.now;
  const sessions = createHostSessions();
  const gate = createLoginGate({ config, store, log, now });
  const authTtlMs = parseDuration(config.host.authTtl)! * 1000;
  const graceMs = config.host.leaveGraceSeconds * 1000;
  const graceTimers = new Map<string, NodeJS.Timeout>();
  const listeners: ((ids: string[]) => void)[] = [];
  const byId = new Map<string, { token: string; session: HostSession }>();
  const tokenHosts = new Map<string, string>(); // "token:JTI" -> ip

  const emitLost = (ids: string[]) => {
    if (ids.length === 0) return;
    for (const l of listeners) {
      try {
        l(ids);
      } catch (e) {
        log.error({ err: e }, 'host-rights listener failed');
      }
    }
  };

  const ipAuthorised = (ip: string, user: string) => activeIps(store.data, new Date(now())).some((e) => e.ip === ip && e.user === user);

  async function deauthorise(session: HostSession, type: string): Promise<void> {
    byId.delete(session.id);
    const t = new Date(now());
    // The IP stays authorised if another live session of the same user still uses it.
    const others = [...byId.values()].some((s) => s.session.ip === session.ip && s.session.user === session.user);
    await store
      .mutate((d) => {
        if (!others) d.ips = d.ips.filter((e) => !(e.ip === session.ip && e.user === session.user));
        appendAudit(d, t, type, session.user, { ip: session.ip });
      })
      .catch((e: unknown) => log.error({ err: e }, 'could not record host logout'));
    emitLost([session.id]);
  }

  return {
    async login(username, password, ip) {
      // Limits, the password check, failure accounting and its audit noise: login-gate.ts.
      const checked = await gate.check(username, password, ip);
      if (!checked.ok) return checked;
      const t = new Date(now());
      const { token, session } = sessions.create(username, ip, authTtlMs, now());
      byId.set(session.id, { token, session });
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
      clearTimeout(graceTimers.get(session.id));
      graceTimers.delete(session.id);
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

    ipsRevoked(ips) {
      const ended: string[] = [];
      for (const ip of ips) {
        for (const s of sessions.endByIp(ip)) {
          byId.delete(s.id);
          clearTimeout(graceTimers.get(s.id));
          graceTimers.delete(s.id);
          ended.push(s.id);
        }
        for (const [key, tip] of tokenHosts) {
          if (tip === ip) {
            tokenHosts.delete(key);
            ended.push(key);
          }
        }
      }
      emitLost(ended);
    },

    userRemoved(user) {
      const ended = sessions.endByUser(user);
      for (const s of ended) {
        byId.delete(s.id);
        clearTimeout(graceTimers.get(s.id));
        graceTimers.delete(s.id);
      }
      emitLost(ended.map((s) => s.id));
    },

    registerTokenHost(key, ip) {
      tokenHosts.set(key, ip);
    },

    tokenRevoked(jti) {
      const key = `token:${jti}`;
      if (tokenHosts.delete(key)) emitLost([key]);
    },

    onRightsLost(listener) {
      listeners.push(listener);
    },

    close() {
      for (const t of graceTimers.values()) clearTimeout(t);
      graceTimers.clear();
    },
  };
}
