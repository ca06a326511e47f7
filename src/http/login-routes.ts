import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isConfdError } from '../errors.ts';
import type { HostProtection } from '../auth/host-protection.ts';
import { PASSWORD_MAX_BYTES } from '../auth/passwords.ts';
import { USERNAME_RE } from '../protocol/limits.ts';
import { parseInput } from '../validation/issues.ts';
import { readJsonBody } from './body.ts';
import type { ClientIpResolver } from '../edge/client-ip.ts';
import { sendError, sendJson } from './json.ts';
import { createRouteTable } from './route-table.ts';
import type { HttpHandler } from './server.ts';

const LOGIN_BODY_MAX = 4096;
/** Retry-After while the cluster's Redis is unreachable: the node retries the connection every 2 s at most. */
const CLUSTER_RETRY_SECONDS = 2;
const loginBody = z.strictObject({
  username: z.string({ error: 'username must be a string' }).min(1).max(64),
  password: z.string({ error: 'password must be a string' }).min(1).refine((p) => Buffer.byteLength(p) <= PASSWORD_MAX_BYTES, { error: 'password is too long' }),
});

/** JSON only: a cross-site HTML form cannot send application/json without a CORS preflight. */
function isJson(req: IncomingMessage): boolean {
  return /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}

function bearer(req: IncomingMessage): string | null {
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

type LoginHandler = (req: IncomingMessage, res: ServerResponse, ip: string) => Promise<boolean>;

/** What a 405 says on each path (the Allow header lists the path's methods). */
const USE: Record<string, string> = { '/login': 'use POST /login with a JSON body', '/logout': 'use POST /logout', '/session': 'use GET /session' };

/**
 * POST /login {username, password} -> 200 {token, user, expiresAt} | 401 | 429 (Retry-After: blocked, or a
 *   login for that user or address already being checked) | 503 (Retry-After: password-check queue full;
 *   or, in cluster mode, `cluster_unavailable`: the shared Redis is unreachable) | 400
 * POST /logout (Authorization: Bearer TOKEN) -> 200 {loggedOut}
 * GET /session (Authorization: Bearer TOKEN) -> 200 {user, host} | 401
 */
export function createLoginRoutes(hosts: HostProtection, clientIp: ClientIpResolver): HttpHandler {
  const routes = createRouteTable<LoginHandler>();
  // The login page itself: served by the web routes.
  routes.route('GET', '/login', async () => false);
  routes.route('POST', '/login', async (req, res, ip) => {
    if (!isJson(req)) {
      req.resume();
      sendError(res, 'unsupported_media_type', 'send the credentials as JSON (content-type: application/json)');
      return true;
    }
    const parsed = parseInput(loginBody, await readJsonBody(req, LOGIN_BODY_MAX), { top: 'body' });
    if (!parsed.ok) {
      sendError(res, 'bad_request', parsed.problem);
      return true;
    }
    const { username, password } = parsed.data;
    // A syntactically impossible user name gets the same answer as a wrong password.
    const result = USERNAME_RE.test(username) ? await hosts.login(username, password, ip) : await hosts.login('\u0000invalid', password, ip);
    if (result.ok) sendJson(res, 200, { token: result.token, user: result.user, expiresAt: result.expiresAt });
    else if (result.status === 429) {
      const retry = { 'retry-after': String(result.retryAfterSeconds) };
      if (result.reason === 'busy') sendError(res, 'login_in_progress', `another login for this user name or from this address is being checked; try again in ${result.retryAfterSeconds} s`, retry);
      else sendError(res, 'too_many_attempts', `too many failed logins; try again in ${result.retryAfterSeconds} s`, retry);
    } else if (result.status === 503) {
      sendError(res, 'busy', `the server is checking too many logins at once (a login burst); try again in ${result.retryAfterSeconds} s`, { 'retry-after': String(result.retryAfterSeconds) });
    } else sendError(res, 'invalid_credentials', 'wrong user name or password');
    return true;
  });
  routes.route('POST', '/logout', async (req, res) => {
    req.resume();
    const token = bearer(req);
    if (!token) sendError(res, 'bad_request', 'send the session token as "Authorization: Bearer TOKEN"');
    else sendJson(res, 200, { loggedOut: await hosts.logout(token) });
    return true;
  });
  routes.route('GET', '/session', async (req, res, ip) => {
    req.resume();
    const s = hosts.hostSession(bearer(req), ip);
    if (!s) sendError(res, 'no_session', 'not logged in (or the login ended)');
    else sendJson(res, 200, { user: s.user, host: true, expiresAt: new Date(s.expiresAt).toISOString() });
    return true;
  });

  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const match = routes.match(req.method ?? 'GET', path);
    if (match === null) return false;
    if ('allowed' in match) {
      req.resume();
      sendError(res, 'method_not_allowed', USE[path]!, { allow: match.allowed.join(', ') });
      return true;
    }
    try {
      return await match.handler(req, res, clientIp(req));
    } catch (e) {
      // A ConfdError answers with its code's status: e.g. 503 cluster_unavailable from the login limits.
      if (isConfdError(e)) return sendError(res, e.code, e.message, e.code === 'cluster_unavailable' ? { 'retry-after': String(CLUSTER_RETRY_SECONDS) } : {}), true;
      throw e;
    }
  };
}
