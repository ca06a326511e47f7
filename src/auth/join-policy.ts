import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { Store } from '../store/db.ts';
import { appendAudit } from '../store/audit.ts';
import { activeIps, alreadyAuthorisedByToken, authoriseIp } from '../store/ips.ts';
import { findUser } from '../store/users.ts';
import type { Admission, JoinPolicy } from './admission.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';
import type { HostProtection } from './host-protection.ts';
import type { JoinTokens } from './tokens.ts';

const ANONYMOUS: Admission = { role: 'guest', hostKey: null, credential: null, closeOnRevoke: false, hasHostRights: () => false, stillValid: () => true };

/**
 * Who may connect, and as what:
 * - a join token, when given, is always checked (a bad link is reported, never ignored); a presenter
 *   token makes its holder a host of that room and authorises the IP like a login;
 * - a host session (from POST /login) counts only from the IP it was made on while that IP is
 *   authorised: an IP alone (shared NAT) never makes anyone a host;
 * - with host.user_auth, a participant without either is refused.
 * Room rules (waiting for the host, lock, password) are applied by the signalling server.
 */
export function createJoinPolicy(opts: { config: Config; tokens: JoinTokens; hosts: HostProtection; store: Store; log: Logger }): JoinPolicy {
  const { config, tokens, hosts, store, log } = opts;
  const ipAuthorised = (ip: string, user: string) => activeIps(store.data, new Date()).some((e) => e.ip === ip && e.user === user);

  return async (attempt) => {
    // A cluster: see every node's revocations and logins before deciding (a single node: at once).
    await store.sync('check this join');
    if (attempt.token) {
      const v = tokens.verifyJoinToken(attempt.token, attempt.room);
      if (!v.ok) return { ok: false, code: CLOSE_CODES.unauthorized, message: v.message };
      const { claims } = v;
      const key = `token:${claims.jti}`;
      const tokenLive = () => tokens.verifyJoinToken(attempt.token!, attempt.room).ok;
      // Revoking the token ends the connection it let in, guest or presenter (signalling/server.ts).
      if (!claims.presenter) return { ok: true, admission: { ...ANONYMOUS, credential: key, closeOnRevoke: true, stillValid: tokenLive } };
      // "guest" is the subject of a presenter token issued without --user; any other subject must still exist.
      if (claims.sub !== 'guest' && !findUser(store.data, claims.sub)) {
        return { ok: false, code: CLOSE_CODES.unauthorized, message: USER_MESSAGES.linkUserGone };
      }
      const ttl = claims.exp - Math.floor(Date.now() / 1000);
      const now = new Date();
      // Once per (token, address): a repeated hello would otherwise rewrite the database and push
      // login.token events until the admin ring had lost every admin event.
      if (!alreadyAuthorisedByToken(store.data, attempt.ip, claims.sub, claims.jti, claims.exp * 1000, now)) {
        await store.mutate((d) => {
          authoriseIp(d, attempt.ip, claims.sub, ttl, now, claims.jti);
          appendAudit(d, now, 'login.token', claims.sub, { ip: attempt.ip, room: attempt.room, id: claims.jti });
        });
      }
      // Revoked while the IP was being written: give nothing.
      const again = tokens.verifyJoinToken(attempt.token, attempt.room);
      if (!again.ok) return { ok: false, code: CLOSE_CODES.unauthorized, message: again.message };
      hosts.registerTokenHost(key, claims.exp * 1000);
      log.info({ user: claims.sub, ip: attempt.ip, room: attempt.room }, 'presenter token: host rights in room');
      return {
        ok: true,
        admission: {
          role: 'host',
          hostKey: key,
          credential: key,
          closeOnRevoke: true,
          hasHostRights: () => tokenLive() && ipAuthorised(attempt.ip, claims.sub),
          stillValid: tokenLive,
        },
      };
    }
    const session = hosts.hostSession(attempt.hostToken, attempt.ip);
    if (session) {
      return {
        ok: true,
        admission: {
          role: 'host',
          hostKey: session.id,
          credential: session.id,
          // Where guests need a credential, a connection that came in on a login ends with it.
          closeOnRevoke: config.host.user_auth,
          hasHostRights: () => hosts.stillHost(session.id),
          stillValid: () => hosts.stillHost(session.id),
        },
      };
    }
    if (config.host.user_auth) {
      const message = attempt.hostToken
        ? 'Your login has ended (logged out, expired or revoked). Log in again.'
        : 'This room needs a login or a join link with a token.';
      return { ok: false, code: CLOSE_CODES.unauthorized, message };
    }
    // A login that did not count is said so: the host would otherwise sit there as a guest, unaware.
    return attempt.hostToken ? { ok: true, admission: ANONYMOUS, loginNotValid: USER_MESSAGES.hostLoginNotValid } : { ok: true, admission: ANONYMOUS };
  };
}
