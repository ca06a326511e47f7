/** POST /login as the page's script does (JSON), against a daemon or anything with its base URL. */
import assert from 'node:assert/strict';

export interface LoginAnswer {
  status: number;
  /** The JSON body (null when there is none). */
  body: any;
  headers: Headers;
  /** Retry-After in seconds (0 when absent). */
  retryAfter: number;
}

/**
 * One login attempt, whatever the answer. `from` is sent as X-Forwarded-For (the daemon believes it when
 * the test lists 127.0.0.1 in server.trustProxy); `headers` are added.
 */
export async function tryLogin(d: { http: string }, username: string, password: string, o: { from?: string; headers?: Record<string, string> } = {}): Promise<LoginAnswer> {
  const r = await fetch(`${d.http}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(o.from === undefined ? {} : { 'x-forwarded-for': o.from }), ...o.headers },
    body: JSON.stringify({ username, password }),
  });
  return { status: r.status, body: await r.json().catch(() => null), headers: r.headers, retryAfter: Number(r.headers.get('retry-after')) };
}

/** A login that must succeed: the session token (the test fails with the daemon's answer otherwise). */
export async function login(d: { http: string }, username: string, password: string): Promise<string> {
  const r = await tryLogin(d, username, password);
  assert.equal(r.status, 200, `login ${username} on ${d.http}: ${JSON.stringify(r.body)}`);
  return (r.body as { token: string }).token;
}
