import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isConfdError } from '../errors.ts';
import type { HostProtection } from '../auth/host-protection.ts';
import { PASSWORD_MAX_BYTES } from '../auth/passwords.ts';
import { USERNAME_RE } from '../store/users.ts';
import { HTTP_STATUS, readJsonBody } from './body.ts';
import type { ClientIpResolver } from './client-ip.ts';
import { sendJson, type HttpHandler } from './server.ts';

const LOGIN_BODY_MAX = 4096;
const loginBody = z.strictObject({
  username: z.string({ error: 'username must be a string' }).min(1).max(64),
  password: z.string({ error: 'password must be a string' }).min(1).refine((p) => Buffer.byteLength(p) <= PASSWORD_MAX_BYTES, { error: 'password is too long' }),
});

const bad = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  sendJson(res, status, { error: { code, message } }, headers);

/** JSON only: a cross-site HTML form cannot send application/json without a CORS preflight. */
function isJson(req: IncomingMessage): boolean {
  return /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}

function bearer(req: IncomingMessage): string | null {
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

/**
 * POST /login {username, password} -> 200 {token, user, expiresAt} | 401 | 429 (Retry-After: blocked, or a
 *   login for that user or address already being checked) | 503 (Retry-After: password-check queue full) | 400
 * POST /logout (Authorization: Bearer TOKEN) -> 200 {loggedOut}
 * GET /session (Authorization: Bearer TOKEN) -> 200 {user, host} | 401
 */
export function createLoginRoutes(hosts: HostProtection, clientIp: ClientIpResolver): HttpHandler {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/login' && path !== '/logout' && path !== '/session') return false;
    if (path === '/login' && req.method === 'GET') return false; // the login page (web routes)
    const ip = clientIp(req);
    try {
      if (path === '/login') {
        if (req.method !== 'POST') return bad(res, 405, 'method_not_allowed', 'use POST /login with a JSON body', { allow: 'GET, POST' }), true;
        if (!isJson(req)) {
          req.resume();
          return bad(res, 415, 'unsupported_media_type', 'send the credentials as JSON (content-type: application/json)'), true;
        }
        const parsed = loginBody.safeParse(await readJsonBody(req, LOGIN_BODY_MAX));
        if (!parsed.success) {
          const i = parsed.error.issues[0];
          return bad(res, 400, 'bad_request', i?.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : `${i?.path.join('.') || 'body'}: ${i?.message ?? 'invalid'}`), true;
        }
        const { username, password } = parsed.data;
        // A syntactically impossible user name gets the same answer as a wrong password.
        const result = USERNAME_RE.test(username) ? await hosts.login(username, password, ip) : await hosts.login('\u0000invalid', password, ip);
        if (result.ok) return sendJson(res, 200, { token: result.token, user: result.user, expiresAt: result.expiresAt }), true;
        if (result.status === 429) {
          const retry = { 'retry-after': String(result.retryAfterSeconds) };
          if (result.reason === 'busy') {
            return bad(res, 429, 'login_in_progress', `another login for this user name or from this address is being checked; try again in ${result.retryAfterSeconds} s`, retry), true;
          }
          return bad(res, 429, 'too_many_attempts', `too many failed logins; try again in ${result.retryAfterSeconds} s`, retry), true;
        }
        if (result.status === 503) {
          return (
            bad(res, 503, 'busy', `the server is checking too many logins at once (a login burst); try again in ${result.retryAfterSeconds} s`, {
              'retry-after': String(result.retryAfterSeconds),
            }),
            true
          );
        }
        return bad(res, 401, 'invalid_credentials', 'wrong user name or password'), true;
      }
      if (path === '/logout') {
        req.resume();
        if (req.method !== 'POST') return bad(res, 405, 'method_not_allowed', 'use POST /logout', { allow: 'POST' }), true;
        const token = bearer(req);
        if (!token) return bad(res, 400, 'bad_request', 'send the session token as "Authorization: Bearer TOKEN"'), true;
        return sendJson(res, 200, { loggedOut: await hosts.logout(token) }), true;
      }
      req.resume();
      if (req.method !== 'GET') return bad(res, 405, 'method_not_allowed', 'use GET /session', { allow: 'GET' }), true;
      const s = hosts.hostSession(bearer(req), ip);
      if (!s) return bad(res, 401, 'no_session', 'not logged in (or the login ended)'), true;
      return sendJson(res, 200, { user: s.user, host: true, expiresAt: new Date(s.expiresAt).toISOString() }), true;
    } catch (e) {
      if (isConfdError(e)) return bad(res, HTTP_STATUS[e.code] ?? 400, e.code, e.message), true;
      throw e;
    }
  };
}
