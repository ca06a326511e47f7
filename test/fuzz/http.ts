/**
 * HTTP requests for the fuzzer: admin-socket routes (random methods, paths and bodies), POST /login and
 * /api/v1/* bodies, and join URLs with random path segments and query strings.
 */
import { fromAlphabet, idLike, mutatedJsonText, NASTY_CHARS, randomJson, randomNumber, randomString, type Rng } from './prng.ts';

export interface HttpCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** undefined: no body. */
  body?: string;
  what: string;
}

/** What the fuzzer knows of the daemon's data, so some requests name real things. */
export interface KnownData {
  users: string[];
  tokenIds: string[];
  ips: string[];
  rooms: string[];
  peers: string[];
}

/** Percent-encodes what Node's client would refuse in a path (and # ?), keeps the rest as generated. */
export function pathSafe(s: string): string {
  return s.replace(/[^\u0021-\u007e]|[#?]/g, (c) => pct(c));
}

/** What Node's client accepts in a header value. */
export function headerSafe(s: string): string {
  return s.replace(/[^\t\u0020-\u007e]/g, '?');
}

/** encodeURIComponent that never throws: lone surrogates go out as U+FFFD, like a browser sends them. */
export function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.!~*'()-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function segment(rng: Rng, known: string[]): string {
  return rng.weighted<() => string>([
    [4, () => (known.length > 0 ? pct(rng.pick(known)) : 'alice')],
    [3, () => pct(idLike(rng))],
    [2, () => pct(randomString(rng, 40))],
    [1, () => rng.pick(['%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%2F', '%2e%2e', '..', '.', '', '%FF%FE', '%ED%A0%80', 'a%2Fb', '%20', '+'])],
    [1, () => pathSafe(randomString(rng, 30))],
    [1, () => fromAlphabet(rng, 'a', rng.int(60, 3000))],
  ])();
}

function ipText(rng: Rng, known: string[]): string {
  return rng.weighted<() => string>([
    [3, () => `${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`],
    [2, () => (known.length > 0 ? rng.pick(known) : '203.0.113.7')],
    [1, () => rng.pick(['::1', '::', 'fe80::1%eth0', '::ffff:10.0.0.1', '[::1]', '2001:DB8::1', '0:0:0:0:0:0:0:1', '256.1.1.1', '1.2.3', '01.02.03.04', '1.2.3.4/32', ' 10.0.0.1 ', '0x7f.0.0.1', '127.1', 'localhost', ''])],
    // Other spellings of one address (issue 9: `ip revoke` missed them): the store must canonicalise.
    [1, () => rng.pick(['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8:0:0::1', '[2001:DB8:0::1]', '::FFFF:CB00:7107', '::ffff:203.0.113.7', '::ffff:0:203.0.113.7', '2001:db8::1%eth0', 'FE80::0:1%ETH0', '::0:1', '2001:db8:1:2:3:4:5:6:7', '2001:db8::1::2', '::ffff:1.2.3.256'])],
    [1, () => randomString(rng, 40)],
  ])();
}

function duration(rng: Rng): unknown {
  return rng.weighted<() => unknown>([
    [4, () => `${rng.int(1, 99)}${rng.pick(['s', 'm', 'h', 'd'])}`],
    // Valid, but far: up to 999999999d, beyond any date.
    [3, () => `${rng.pick(['999999999', '100000000', '99999999', '9999999', String(rng.int(1, 999999999))])}${rng.pick(['s', 'm', 'h', 'd'])}`],
    [2, () => `${rng.pick(['999999999', '1', '0', '-1', '01', '1.5', '1000000000'])}${rng.pick(['s', 'm', 'h', 'd', 'w', 'y', ''])}`],
    [1, () => rng.pick(['1H', ' 1h', '1h ', '1 h', '', 'h', '1hh', '∞', '1e3s', '0x10s'])],
    [1, () => randomNumber(rng)],
  ])();
}

function userName(rng: Rng, known: string[]): unknown {
  return rng.weighted<() => unknown>([
    [3, () => `fz${fromAlphabet(rng, 'abcdefghijklmnopqrstuvwxyz0123456789_.@-', rng.int(1, 12))}`],
    [2, () => (known.length > 0 ? rng.pick(known) : 'alice')],
    [1, () => randomString(rng, 70)],
    [1, () => rng.pick(['-dash', '.dot', 'a b', 'a/b', 'x'.repeat(64), 'x'.repeat(65), 'ALICE', 'alice\n', '', ' '])],
  ])();
}

/** A valid-looking admin body for the route, before mutation. */
function adminBody(rng: Rng, route: string, known: KnownData): Record<string, unknown> {
  switch (route) {
    case 'users':
      return { name: userName(rng, known.users), password: rng.chance(0.8) ? `pw-${fromAlphabet(rng, 'abcdefgh', rng.int(6, 20))}` : randomString(rng, 1100) };
    case 'password':
      return { password: rng.chance(0.8) ? `pw-${fromAlphabet(rng, 'abcdefgh', rng.int(6, 20))}` : randomString(rng, 40) };
    case 'tokens':
      return {
        room: rng.chance(0.7) ? rng.pick(known.rooms.length > 0 ? known.rooms : ['standup']) : randomString(rng, 70),
        ...(rng.chance(0.6) ? { ttl: duration(rng) } : {}),
        ...(rng.chance(0.4) ? { user: userName(rng, known.users) } : {}),
        ...(rng.chance(0.4) ? { presenter: rng.chance(0.5) } : {}),
      };
    case 'ips':
      return { ip: ipText(rng, known.ips), user: userName(rng, known.users), ...(rng.chance(0.6) ? { ttl: duration(rng) } : {}) };
    case 'kick':
      return { peer: rng.chance(0.5) && known.peers.length > 0 ? rng.pick(known.peers) : idLike(rng) };
    default:
      return randomJson(rng, 2) as Record<string, unknown>;
  }
}

const ADMIN_METHODS: readonly (readonly [number, string])[] = [
  [8, 'GET'],
  [8, 'POST'],
  [4, 'PUT'],
  [6, 'DELETE'],
  [1, 'PATCH'],
  [1, 'HEAD'],
  [1, 'OPTIONS'],
  [1, 'TRACE'],
  [1, 'PROPFIND'],
  [1, 'PURGE'],
];

function contentType(rng: Rng): Record<string, string> {
  return rng.weighted<Record<string, string>>([
    [8, { 'content-type': 'application/json' }],
    [1, { 'content-type': 'application/json; charset=utf-8' }],
    [1, {}],
    [1, { 'content-type': rng.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/JSON', 'application/jsonx', '*/*', '']) }],
  ]);
}

/** The admin routes by shape, with the methods each has. */
const ROUTE_METHODS: Record<string, string[]> = {
  status: ['GET'],
  users: ['GET', 'POST', 'POST'],
  user: ['DELETE'],
  password: ['PUT'],
  tokens: ['GET', 'POST', 'POST'],
  token: ['DELETE'],
  ips: ['GET', 'POST', 'POST', 'DELETE'],
  ip: ['DELETE'],
  rooms: ['GET'],
  kick: ['POST'],
  audit: ['GET'],
  random: ADMIN_METHODS.map(([, m]) => m),
};

/** A request for the admin socket. */
export function adminCase(rng: Rng, known: KnownData): HttpCase {
  const shape = rng.pick(Object.keys(ROUTE_METHODS));
  // Mostly a method the route has (so requests get past routing), sometimes any.
  const method = rng.chance(0.8) ? rng.pick(ROUTE_METHODS[shape]!) : rng.weighted(ADMIN_METHODS);
  let path: string;
  let bodyRoute = 'random';
  switch (shape) {
    case 'status':
    case 'rooms':
      path = `/v1/${shape}`;
      break;
    case 'users':
    case 'tokens':
    case 'ips':
      path = `/v1/${shape}`;
      bodyRoute = shape;
      break;
    case 'user':
      path = `/v1/users/${segment(rng, known.users)}`;
      break;
    case 'password':
      path = `/v1/users/${segment(rng, known.users)}/password`;
      bodyRoute = 'password';
      break;
    case 'token':
      path = `/v1/tokens/${segment(rng, known.tokenIds)}`;
      break;
    case 'ip':
      path = `/v1/ips/${rng.chance(0.6) ? pct(ipText(rng, known.ips)) : segment(rng, known.ips)}`;
      break;
    case 'kick':
      path = `/v1/rooms/${segment(rng, known.rooms)}/kick`;
      bodyRoute = 'kick';
      break;
    case 'audit':
      path = `/v1/audit${rng.chance(0.7) ? `?limit=${pct(rng.chance(0.5) ? String(randomNumber(rng)) : randomString(rng, 8))}` : ''}`;
      break;
    default:
      path = rng.pick(['/', '/v1', '/v1/', '/v2/users', '//v1/users', '/v1/users/', '/v1/status/', '/V1/USERS', '/healthz', '/login', '/v1/rooms/x', '/v1/ips/1.2.3.4/x']);
      path += rng.chance(0.3) ? `/${segment(rng, [])}` : '';
  }
  if (rng.chance(0.15)) path += `${path.includes('?') ? '&' : '?'}${pathSafe(randomString(rng, 30))}=${pct(randomString(rng, 30))}`;
  if (rng.chance(0.05)) path = `http://confd${path}`;
  const withBody = method === 'POST' || method === 'PUT' || (method !== 'GET' && method !== 'HEAD' && rng.chance(0.2)) || rng.chance(0.05);
  const headers = withBody ? contentType(rng) : {};
  if (rng.chance(0.05)) headers.expect = rng.pick(['100-continue', 'teapot']);
  const body = withBody ? (rng.chance(0.1) ? undefined : mutatedJsonText(rng, adminBody(rng, bodyRoute, known))) : undefined;
  return { method, path, headers, body, what: `${method} ${path.slice(0, 100)}` };
}

// ---- POST /login and /api/v1 ------------------------------------------------------------------------

function flagValue(rng: Rng): unknown {
  return rng.pick([true, false, 0, 1, 2, '1', 'true', null, -1]);
}

/** A request for the HTTP port: POST /login, /logout, /session or /api/v1/*. */
export function httpApiCase(rng: Rng, known: KnownData, apiKey: string): HttpCase {
  const target = rng.weighted<string>([
    [5, 'login'],
    [2, 'api-token'],
    [2, 'api-join'],
    [2, 'api-meeting'],
    [1, 'api-other'],
    [1, 'session'],
  ]);
  const headers: Record<string, string> = contentType(rng);
  if (target === 'login' || target === 'session') {
    const valid = { username: userName(rng, known.users), password: rng.chance(0.3) ? 'alice-password-1' : randomString(rng, 30) };
    if (target === 'session') {
      const path = rng.pick(['/session', '/logout']);
      const method = path === '/logout' ? rng.pick(['POST', 'POST', 'GET']) : rng.pick(['GET', 'GET', 'POST']);
      if (rng.chance(0.8)) headers.authorization = rng.pick([`Bearer ${fromAlphabet(rng, 'abcdefABCDEF0123456789_-', 43)}`, `Bearer ${headerSafe(randomString(rng, 200))}`, 'Bearer', 'Basic YTpi', headerSafe(randomString(rng, 60))]);
      return { method, path, headers, body: rng.chance(0.3) ? mutatedJsonText(rng, valid) : undefined, what: `${method} ${path}` };
    }
    const method = rng.weighted<string>([
      [12, 'POST'],
      [1, 'PUT'],
      [1, 'DELETE'],
    ]);
    const path = rng.chance(0.9) ? '/login' : rng.pick(['/login?x=1', '/login/', '/LOGIN', '/login?username=a&password=b', '/login?next=/.//evil.example/x']);
    // Forwarded addresses from a peer that is not a trusted proxy: ignored, whatever their spelling.
    if (rng.chance(0.2)) headers['x-forwarded-for'] = headerSafe(Array.from({ length: rng.int(1, 3) }, () => ipText(rng, known.ips)).join(', '));
    return { method, path, headers, body: rng.chance(0.05) ? undefined : mutatedJsonText(rng, valid), what: `${method} ${path}` };
  }
  // The API: the right key nearly always, so that a handful of wrong ones never trip its 10-failure block.
  headers.authorization = rng.chance(0.5) ? apiKey : `Bearer ${apiKey}`;
  const room = () => (rng.chance(0.7) ? rng.pick(known.rooms.length > 0 ? known.rooms : ['standup']) : randomString(rng, 70));
  let method = 'POST';
  let path: string;
  let valid: Record<string, unknown>;
  switch (target) {
    case 'api-token':
      path = '/api/v1/token';
      valid = { room: room(), ...(rng.chance(0.5) ? { ttl: duration(rng) } : {}), ...(rng.chance(0.3) ? { user: userName(rng, known.users) } : {}), ...(rng.chance(0.3) ? { presenter: rng.chance(0.5) } : {}) };
      break;
    case 'api-join':
      path = '/api/v1/join';
      valid = { room: room(), name: randomString(rng, 30), audio: flagValue(rng), video: flagValue(rng), ...(rng.chance(0.4) ? { token: rng.chance(0.5), ttl: duration(rng) } : {}) };
      break;
    case 'api-meeting':
      path = '/api/v1/meeting';
      valid = rng.chance(0.7) ? { room: room() } : {};
      break;
    default: {
      const pick = rng.pick(['GET /api/v1/meetings', 'GET /api/v1/stats', 'DELETE /api/v1/meeting/', 'GET /api/v1/', 'GET /api/v2/stats', 'PUT /api/v1/token', 'GET /api/v1/token', 'POST /api/v1/stats']);
      const [m, p] = pick.split(' ') as [string, string];
      method = m;
      path = p.endsWith('/meeting/') ? `${p}${segment(rng, known.rooms)}` : p;
      valid = {};
    }
  }
  if (rng.chance(0.1)) path += `?${pathSafe(randomString(rng, 20))}`;
  return { method, path, headers, body: method === 'GET' && rng.chance(0.8) ? undefined : mutatedJsonText(rng, valid), what: `${method} ${path.slice(0, 100)}` };
}

// ---- join URLs -----------------------------------------------------------------------------------

const JOIN_PARAMS = ['room', 'roomPassword', 'name', 'audio', 'video', 'screen', 'hide', 'notify', 'token', 'username', 'password', 'next', 'v'];

function queryValue(rng: Rng): string {
  return rng.weighted<() => string>([
    [3, () => pct(randomString(rng, 40))],
    [2, () => rng.pick(['0', '1', 'true', 'false', '', 'yes', '-1', '1e999'])],
    [1, () => pct(rng.pick(NASTY_CHARS))],
    [1, () => rng.pick(['%', '%zz', '%E0%A4%A', '%00', '+', '%2B', '&', '=', '%26%3D'])],
    [1, () => pct(`standup${rng.pick(['', ' ', '/x', '.', '-', '%'])}`)],
    // Open-redirect shapes for `next` (issue 9): the page never echoes them; the browser rule is safe-next.ts.
    [1, () => rng.pick(['/.//evil.example/x', '/%2e//evil.example', '%2F%2Fevil.example', '//evil.example', '/%5Cevil.example', 'https://evil.example/', 'javascript:alert(1)'])],
  ])();
}

/** GET (or HEAD) of /join/..., /join?..., with random segments and queries. */
export function joinUrlCase(rng: Rng): HttpCase {
  let path = rng.weighted<() => string>([
    [4, () => `/join/${segment(rng, ['standup', 'a', 'room.1', 'x-y_z'])}`],
    [3, () => '/join/'],
    [1, () => '/join'],
    [1, () => `/join/${segment(rng, [])}/${segment(rng, [])}`],
    [1, () => `/join/${'r'.repeat(rng.int(60, 70))}`],
    [1, () => `/join//${segment(rng, ['standup'])}`],
    [1, () => `/join/${rng.pick(['.', '..', '.hidden', '-x', '_x', '%2e', '%2E%2E', 'a%2Fb', '%5C', '%00', 'standup%00', 'standup%0A'])}`],
  ])();
  const n = rng.weighted([
    [2, 0],
    [5, rng.int(1, 4)],
    [1, rng.int(5, 40)],
  ]);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = rng.chance(0.8) ? rng.pick(JOIN_PARAMS) : pct(randomString(rng, 12));
    parts.push(rng.chance(0.1) ? key : `${key}=${queryValue(rng)}`);
  }
  if (parts.length > 0 || rng.chance(0.1)) path += `?${parts.join(rng.chance(0.9) ? '&' : ';')}`;
  if (rng.chance(0.05)) path += `#${pct(randomString(rng, 10))}`;
  const method = rng.chance(0.9) ? 'GET' : 'HEAD';
  return { method, path, headers: {}, what: `${method} ${path.slice(0, 160)}` };
}
