/**
 * Bad input on every admin route, over the real Unix socket of a real daemon. Every refusal must be
 * JSON {error:{code,message}}; afterwards the same daemon still answers and the data is untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, startConfd, tempDir, type RunningDaemon } from './helpers/daemon.ts';
import { httpCall, tryJson, type HttpResult } from './fuzz/client.ts';

type Res = HttpResult;

/** One HTTP request on the socket, JSON unless the caller says otherwise. `chunks` sends a chunked body. */
function call(socketPath: string, method: string, path: string, opts: { body?: string | Buffer; chunks?: (string | Buffer)[]; headers?: Record<string, string | number> } = {}): Promise<Res> {
  const headers = { ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] ??= 'application/json';
  return httpCall({ socketPath }, method, path, { ...opts, headers });
}

interface RawRes {
  /** Everything the daemon sent. */
  text: string;
  /** Parsed when it is an HTTP response. */
  status: number | null;
  headers: Record<string, string>;
  body: any;
  bodyText: string;
}

function parseRaw(text: string): RawRes & { complete: boolean } {
  const end = text.indexOf('\r\n\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  if (end < 0 || !status) return { text, status: null, headers: {}, body: undefined, bodyText: '', complete: false };
  const headers: Record<string, string> = {};
  for (const line of text.slice(0, end).split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const bodyText = text.slice(end + 4);
  const length = headers['content-length'] === undefined ? null : Number(headers['content-length']);
  const complete = length !== null && Buffer.byteLength(bodyText) >= length;
  return { text, status: Number(status[1]), headers, body: tryJson(bodyText), bodyText, complete };
}

/** Writes bytes on a fresh connection; resolves when the daemon has answered (or closed, or gone quiet). */
function raw(socketPath: string, data: (string | Buffer)[] | string | Buffer, opts: { quietMs?: number; untilClose?: boolean } = {}): Promise<RawRes & { closed: boolean }> {
  return new Promise((resolvePromise) => {
    const s = connect(socketPath);
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const { complete: _c, ...r } = parseRaw(text);
      resolvePromise({ ...r, closed });
    };
    const timer = setTimeout(() => finish(false), opts.quietMs ?? 5_000);
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      text += chunk;
      if (!opts.untilClose && parseRaw(text).complete) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', () => {
      for (const c of Array.isArray(data) ? data : [data]) s.write(c);
    });
  });
}

function assertJsonError(r: { status: number | null; body: any; text: string; headers: Record<string, any> }, status: number, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(String(r.headers['content-type']), /^application\/json/, r.text);
  assert.equal(typeof r.body?.error?.code, 'string', r.text);
  assert.ok(r.body.error.code.length > 0, r.text);
  assert.equal(typeof r.body.error.message, 'string', r.text);
  assert.ok(r.body.error.message.trim().length > 0, r.text);
  if (message) assert.match(r.body.error.message, message, r.text);
}

const KIB64 = 64 * 1024;

describe('admin socket: bad input', () => {
  let d: RunningDaemon;
  let tokenId: string;
  let snapshot: { users: unknown; tokens: unknown; ips: unknown; db: unknown };
  const http = (method: string, path: string, opts?: Parameters<typeof call>[3]) => call(d.socket, method, path, opts);
  const json = (method: string, path: string, body: unknown) => http(method, path, { body: JSON.stringify(body) });
  const dbState = () => {
    const db = JSON.parse(readFileSync(join(d.dataDir, 'confd.db.json'), 'utf8'));
    return { users: db.users, ips: db.ips, tokens: db.tokens, audit: db.audit };
  };
  const state = async () => ({
    users: (await http('GET', '/v1/users')).body,
    tokens: (await http('GET', '/v1/tokens')).body,
    ips: (await http('GET', '/v1/ips')).body,
    db: dbState(),
  });

  before(async () => {
    d = await startConfd();
    for (const body of [
      { name: 'alice', password: 'alice-password-1' },
      { name: 'bob', password: 'bob-password-12' },
    ]) {
      const r = await json('POST', '/v1/users', body);
      assert.equal(r.status, 201, r.text);
    }
    const t = await json('POST', '/v1/tokens', { room: 'standup', user: 'alice', presenter: true, ttl: '2h' });
    assert.equal(t.status, 201, t.text);
    tokenId = t.body.id;
    const ip = await json('POST', '/v1/ips', { ip: '203.0.113.7', user: 'alice', ttl: '1h' });
    assert.equal(ip.status, 201, ip.text);
    snapshot = await state();
    assert.equal((snapshot.users as any).users.length, 2);
    assert.equal((snapshot.tokens as any).tokens.length, 1);
    assert.equal((snapshot.ips as any).ips.length, 1);
  });

  after(async () => {
    assert.equal(await d.stop(), 0, d.stderr());
    cleanup(join(d.dataDir, '..'));
  });

  test('the socket file is mode 0600, owned by the daemon user', () => {
    const st = statSync(d.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600, (st.mode & 0o777).toString(8));
    assert.equal(st.uid, process.getuid!());
  });

  const bodyRoutes: [string, string][] = [
    ['POST', '/v1/users'],
    ['PUT', '/v1/users/alice/password'],
    ['POST', '/v1/tokens'],
    ['POST', '/v1/ips'],
    ['POST', '/v1/rooms/standup/kick'],
  ];

  test('malformed JSON, bodies that are not objects, and no body at all are 400', async () => {
    const bad: [string, RegExp][] = [
      ['{"name":', /not valid JSON/],
      ['{name: "x"}', /not valid JSON/],
      ["{'a':1}", /not valid JSON/],
      ['{"a":1}}', /not valid JSON/],
      ['\u0000\u00ff', /not valid JSON/],
      [`${'['.repeat(30000)}${']'.repeat(30000)}`, /./],
      ['[]', /expected object, received array/],
      ['[{"name":"alice"}]', /expected object, received array/],
      ['"a string"', /expected object, received string/],
      ['null', /expected object, received null/],
      ['42', /expected object, received number/],
      ['true', /expected object, received boolean/],
    ];
    for (const [method, path] of bodyRoutes) {
      for (const [body, message] of bad) assertJsonError(await http(method, path, { body }), 400, message);
      assertJsonError(await http(method, path), 400, /needs a JSON body/);
      assertJsonError(await http(method, path, { body: '' }), 400, /needs a JSON body/);
    }
  });

  test('wrong field types, missing fields and unknown fields are 400 naming the field', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/v1/users', { name: 1, password: 'long-enough-1' }, /^name: must be a string/],
      ['POST', '/v1/users', { name: 'carol', password: 12345678 }, /^password: must be a string/],
      ['POST', '/v1/users', { name: ['carol'], password: 'long-enough-1' }, /^name: /],
      ['POST', '/v1/users', { name: 'carol' }, /^password: /],
      ['POST', '/v1/users', { password: 'long-enough-1' }, /^name: /],
      ['POST', '/v1/users', {}, /^(name|password): /],
      ['POST', '/v1/users', { name: 'carol', password: 'long-enough-1', admin: true }, /unknown field\(s\): admin/],
      ['POST', '/v1/users', { name: 'carol', password: 'long-enough-1', hash: '$argon2id$x' }, /unknown field\(s\): hash/],
      ['POST', '/v1/users', JSON.parse('{"name":"carol","password":"long-enough-1","__proto__":{"admin":true}}'), /unknown field\(s\): __proto__/],
      ['POST', '/v1/users', { name: 'bad name', password: 'long-enough-1' }, /^name: user names are/],
      ['POST', '/v1/users', { name: '-dash', password: 'long-enough-1' }, /^name: user names are/],
      ['POST', '/v1/users', { name: 'x'.repeat(65), password: 'long-enough-1' }, /^name: user names are/],
      ['POST', '/v1/users', { name: 'carol', password: 'short' }, /^password: password must be at least 8/],
      ['POST', '/v1/users', { name: 'carol', password: 'p'.repeat(1025) }, /^password: password must be at most 1024 bytes/],
      ['POST', '/v1/users', { name: 'alice', password: 'long-enough-1' }, /already exists/],
      ['PUT', '/v1/users/alice/password', { password: 5 }, /^password: must be a string/],
      ['PUT', '/v1/users/alice/password', { password: null }, /^password: must be a string/],
      ['PUT', '/v1/users/alice/password', {}, /^password: /],
      ['PUT', '/v1/users/alice/password', { password: 'long-enough-1', name: 'bob' }, /unknown field\(s\): name/],
      ['PUT', '/v1/users/alice/password', { password: 'short' }, /at least 8/],
      ['POST', '/v1/tokens', { room: 5 }, /^room: must be a string/],
      ['POST', '/v1/tokens', {}, /^room: must be a string/],
      ['POST', '/v1/tokens', { room: 'standup', ttl: 60 }, /^ttl: must be a string/],
      ['POST', '/v1/tokens', { room: 'standup', ttl: '5x' }, /^ttl: must be a whole number/],
      ['POST', '/v1/tokens', { room: 'standup', ttl: '-1h' }, /^ttl: /],
      ['POST', '/v1/tokens', { room: 'standup', presenter: 'yes' }, /^presenter: must be true or false/],
      ['POST', '/v1/tokens', { room: 'standup', user: 7 }, /^user: must be a string/],
      ['POST', '/v1/tokens', { room: 'standup', user: 'bad name' }, /^user: user names are/],
      ['POST', '/v1/tokens', { room: 'standup', sub: 'admin' }, /unknown field\(s\): sub/],
      ['POST', '/v1/tokens', { room: 'bad room' }, /^room: room names are/],
      ['POST', '/v1/tokens', { room: '../etc' }, /^room: room names are/],
      ['POST', '/v1/ips', { ip: 1, user: 'alice' }, /^ip: must be a string/],
      ['POST', '/v1/ips', { ip: '192.0.2.1' }, /^user: /],
      ['POST', '/v1/ips', { user: 'alice' }, /^ip: must be a string/],
      ['POST', '/v1/ips', { ip: '192.0.2.1', user: 'alice', note: 'x' }, /unknown field\(s\): note/],
      ['POST', '/v1/ips', { ip: '192.0.2.1', user: 'alice', ttl: 5 }, /^ttl: must be a string/],
      ['POST', '/v1/ips', { ip: 'not-an-ip', user: 'alice' }, /"not-an-ip" is not an IP address/],
      ['POST', '/v1/ips', { ip: '256.1.1.1', user: 'alice' }, /is not an IP address/],
      ['POST', '/v1/ips', { ip: '192.0.2.0/24', user: 'alice' }, /is not an IP address/],
      ['POST', '/v1/ips', { ip: '192.0.2.1', user: 'bad name' }, /^user: user names are/],
      ['POST', '/v1/rooms/standup/kick', { peer: 1 }, /^peer: must be a string/],
      ['POST', '/v1/rooms/standup/kick', {}, /^peer: must be a string/],
      ['POST', '/v1/rooms/standup/kick', { peer: '' }, /^peer: /],
      ['POST', '/v1/rooms/standup/kick', { peer: 'x'.repeat(129) }, /^peer: /],
      ['POST', '/v1/rooms/standup/kick', { peer: 'p1', reason: 'x' }, /unknown field\(s\): reason/],
    ];
    for (const [method, path, body, message] of cases) {
      const r = await json(method, path, body);
      const status = /already exists/.test(message.source) ? 409 : 400;
      assertJsonError(r, status, message);
    }
    // Valid bodies for things that are not there: refused as not found, still JSON.
    assertJsonError(await json('PUT', '/v1/users/nobody/password', { password: 'long-enough-1' }), 404, /no user "nobody"/);
    assertJsonError(await json('POST', '/v1/tokens', { room: 'standup', user: 'nobody' }), 404, /no user "nobody"/);
    assertJsonError(await json('POST', '/v1/rooms/standup/kick', { peer: 'p1' }), 404, /no peer "p1"/);
    assertJsonError(await json('POST', '/v1/tokens', { room: 'standup', ttl: '8d' }), 422, /jwt\.maxTtl/);
  });

  test('bodies over 64 KiB are 413, with content-length and chunked; 64 KiB exactly is read', async () => {
    const userBody = (size: number) => {
      const head = '{"name":"big","password":"';
      const tail = '"}';
      return head + 'a'.repeat(size - head.length - tail.length) + tail;
    };
    assert.equal(userBody(KIB64).length, KIB64);
    // Exactly at the limit: read and judged (the password is too long), not refused for size.
    assertJsonError(await http('POST', '/v1/users', { body: userBody(KIB64) }), 400, /at most 1024 bytes/);
    for (const [method, path] of bodyRoutes) {
      assertJsonError(await http(method, path, { body: userBody(KIB64 + 1) }), 413, /larger than 65536 bytes/);
      assertJsonError(await http(method, path, { body: 'x'.repeat(1024 * 1024) }), 413, /larger than 65536 bytes/);
      const chunks = Array.from({ length: 80 }, () => Buffer.alloc(1024, 0x20));
      const chunked = await http(method, path, { chunks: ['{"name":"big","password":"', ...chunks, '"}'] });
      assertJsonError(chunked, 413, /larger than 65536 bytes/);
    }
    // A declared length over the limit is refused before any body is sent.
    const early = await raw(d.socket, 'POST /v1/users HTTP/1.1\r\nHost: confd\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n');
    assertJsonError(early, 413, /larger than 65536 bytes/);
    // Chunked over raw bytes, to be sure no content-length was involved.
    const rawChunked = await raw(d.socket, [
      'POST /v1/tokens HTTP/1.1\r\nHost: confd\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      ...Array.from({ length: 5 }, () => `4000\r\n${' '.repeat(0x4000)}\r\n`),
      '0\r\n\r\n',
    ]);
    assertJsonError(rawChunked, 413, /larger than 65536 bytes/);
  });

  test('unknown routes are 404', async () => {
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/v1'],
      ['GET', '/v1/'],
      ['GET', '/v2/status'],
      ['GET', '/V1/STATUS'],
      ['GET', '/v1/status/'],
      ['GET', '/v1/statusx'],
      ['GET', '/v1/users/'],
      ['GET', '/v1/users/alice/extra'],
      ['PUT', '/v1/users/alice/password/x'],
      ['DELETE', '/v1/tokens/a/b'],
      ['DELETE', '/v1/ips/1.2.3.4/extra'],
      ['POST', '/v1/rooms/standup/kick/x'],
      ['GET', '//v1/status'],
      ['GET', '/login'],
      ['GET', '/healthz'],
      ['POST', '/nothing'],
    ] as const) {
      const r = await http(method, path, method === 'GET' ? {} : { body: '{}' });
      assertJsonError(r, 404, /no admin route/);
      assert.equal(r.body.error.code, 'not_found');
    }
  });

  test('wrong methods are 405 with an Allow header', async () => {
    const cases: [string, string, string[]][] = [
      ['/v1/status', 'POST', ['GET']],
      ['/v1/status', 'DELETE', ['GET']],
      ['/v1/users', 'PUT', ['GET', 'POST']],
      ['/v1/users', 'DELETE', ['GET', 'POST']],
      ['/v1/users', 'PATCH', ['GET', 'POST']],
      ['/v1/users/alice', 'GET', ['DELETE']],
      ['/v1/users/alice', 'PUT', ['DELETE']],
      ['/v1/users/alice/password', 'GET', ['PUT']],
      ['/v1/users/alice/password', 'POST', ['PUT']],
      ['/v1/tokens', 'PUT', ['GET', 'POST']],
      ['/v1/tokens', 'DELETE', ['GET', 'POST']],
      [`/v1/tokens/${'a'.repeat(16)}`, 'GET', ['DELETE']],
      ['/v1/ips', 'PUT', ['GET', 'POST', 'DELETE']],
      ['/v1/ips/203.0.113.7', 'GET', ['DELETE']],
      ['/v1/ips/203.0.113.7', 'POST', ['DELETE']],
      ['/v1/rooms', 'POST', ['GET']],
      ['/v1/rooms/standup', 'POST', ['DELETE']],
      ['/v1/rooms/standup/kick', 'GET', ['POST']],
      ['/v1/audit', 'POST', ['GET']],
      ['/v1/audit', 'OPTIONS', ['GET']],
    ];
    for (const [path, method, allowed] of cases) {
      const r = await http(method, path, method === 'GET' || method === 'OPTIONS' ? {} : { body: '{"x":1}' });
      assertJsonError(r, 405, new RegExp(`${method} is not allowed`));
      assert.deepEqual(String(r.headers.allow).split(/,\s*/).sort(), [...allowed].sort(), `${method} ${path}`);
    }
    const head = await http('HEAD', '/v1/users');
    assert.equal(head.status, 405);
    assert.deepEqual(String(head.headers.allow).split(/,\s*/).sort(), ['GET', 'POST']);
  });

  test('bad percent-encoding in the path is 400', async () => {
    for (const [method, path] of [
      ['DELETE', '/v1/users/%E0%A4%A'],
      ['DELETE', '/v1/users/%ZZ'],
      ['DELETE', '/v1/users/%'],
      ['DELETE', '/v1/users/%C0%AF'],
      ['PUT', '/v1/users/%FF/password'],
      ['DELETE', '/v1/tokens/%E0%A4'],
      ['DELETE', '/v1/ips/%1'],
      ['POST', '/v1/rooms/%D8%00/kick'],
    ] as const) {
      const r = await http(method, path, method === 'DELETE' ? {} : { body: '{"password":"long-enough-1","peer":"p"}' });
      assertJsonError(r, 400, /bad percent-encoding/);
    }
  });

  test('invalid user names, IPs, token ids and room names in paths are 400', async () => {
    const cases: [string, string, RegExp][] = [
      ['DELETE', '/v1/users/bad%20name', /not a valid user name/],
      ['DELETE', '/v1/users/-dash', /not a valid user name/],
      ['DELETE', '/v1/users/a%2Fb', /not a valid user name/],
      ['DELETE', '/v1/users/%00', /not a valid user name/],
      ['DELETE', '/v1/users/alice%0A', /not a valid user name/],
      ['DELETE', `/v1/users/${'u'.repeat(65)}`, /not a valid user name/],
      ['PUT', '/v1/users/bad%20name/password', /not a valid user name/],
      ['DELETE', '/v1/ips/not-an-ip', /is not an IP address/],
      ['DELETE', '/v1/ips/999.1.1.1', /is not an IP address/],
      ['DELETE', '/v1/ips/203.0.113.7%2F32', /is not an IP address/],
      ['DELETE', '/v1/ips/203.0.113', /is not an IP address/],
      ['DELETE', '/v1/ips/%3A%3A%3A', /is not an IP address/],
      ['DELETE', '/v1/tokens/bad!id', /is not a token id/],
      ['DELETE', '/v1/tokens/a%20b', /is not a token id/],
      ['DELETE', '/v1/tokens/a%2Fb', /is not a token id/],
      ['DELETE', `/v1/tokens/${'t'.repeat(65)}`, /is not a token id/],
      ['POST', '/v1/rooms/bad%20room/kick', /invalid room name/],
      ['POST', '/v1/rooms/.hidden/kick', /invalid room name/],
      ['POST', '/v1/rooms/a%2Fb/kick', /invalid room name/],
      ['POST', `/v1/rooms/${'r'.repeat(65)}/kick`, /invalid room name/],
      ['DELETE', '/v1/rooms/bad%20room', /invalid room name/],
      ['DELETE', '/v1/rooms/.hidden', /invalid room name/],
      ['DELETE', `/v1/rooms/${'r'.repeat(65)}`, /invalid room name/],
      ['GET', '/v1/audit?limit=abc', /limit must be/],
      ['GET', '/v1/audit?limit=0', /limit must be/],
      ['GET', '/v1/audit?limit=-1', /limit must be/],
      ['GET', '/v1/audit?limit=100000', /limit must be/],
      ['GET', '/v1/audit?limit=', /limit must be/],
    ];
    for (const [method, path, message] of cases) {
      const r = await http(method, path, method === 'POST' || method === 'PUT' ? { body: '{"password":"long-enough-1","peer":"p"}' } : {});
      assertJsonError(r, 400, message);
      assert.equal(r.body.error.code, 'bad_request');
    }
    // Well-formed names of things that do not exist are 404, not 400.
    assertJsonError(await http('DELETE', '/v1/users/nobody'), 404, /no user "nobody"/);
    assertJsonError(await http('DELETE', '/v1/ips/192.0.2.99'), 404, /not in the authorised-IP table/);
    assertJsonError(await http('DELETE', '/v1/tokens/nosuchtokenid123'), 404, /no token with id/);
    assertJsonError(await http('DELETE', '/v1/rooms/nobody-here'), 404, /no meeting is running in room "nobody-here"/);
  });

  test('malformed HTTP and bytes that are not HTTP get a JSON 400 or a closed connection', async () => {
    const garbage: (string | Buffer)[] = [
      'hello\r\n\r\n',
      'GET\r\n\r\n',
      'GET /v1/status HTTP/9.9\r\n\r\n',
      'FROB /v1/status HTTP/1.1\r\nHost: confd\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nBad Header Line\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nHost: confd\r\nX: a\u0000b\r\n\r\n',
      'POST /v1/users HTTP/1.1\r\nHost: confd\r\nContent-Length: abc\r\n\r\n{}',
      'POST /v1/users HTTP/1.1\r\nHost: confd\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      'POST /v1/users HTTP/1.1\r\nHost: confd\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
      'POST /v1/users HTTP/1.1\r\nHost: confd\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      `GET /v1/status HTTP/1.1\r\nHost: confd\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`,
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      Buffer.from('16030100a5010000a10303', 'hex'),
      Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0xfd, 13, 10, 13, 10]),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)),
    ];
    for (const bytes of garbage) {
      const r = await raw(d.socket, bytes);
      const what = JSON.stringify(bytes.toString().slice(0, 60));
      if (r.text === '') {
        assert.ok(r.closed, `${what}: no answer and the connection stayed open`);
        continue;
      }
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assertJsonError(r, 400);
    }
  });

  test('odd but parseable requests still get JSON answers', async () => {
    // A request target that is not a path.
    assertJsonError(await raw(d.socket, 'GET http://[bad HTTP/1.1\r\nHost: confd\r\nConnection: close\r\n\r\n'), 400, /not a request path/);
    assertJsonError(await raw(d.socket, 'OPTIONS * HTTP/1.1\r\nHost: confd\r\nConnection: close\r\n\r\n'), 400, /not a request path/);
    // No Host header: a Unix socket has no host, the request is answered normally.
    const noHost = await raw(d.socket, 'GET /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(noHost.status, 200, noHost.text);
    assert.equal(noHost.body?.pid, d.proc.pid);
    // An Expect header that is not 100-continue.
    assertJsonError(await raw(d.socket, 'POST /v1/users HTTP/1.1\r\nHost: confd\r\nExpect: teapot\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'), 417, /Expect/);
    // A client that hangs up halfway through its body.
    for (const partial of [
      'POST /v1/users HTTP/1.1\r\nHost: confd\r\nContent-Length: 100\r\n\r\n{"name":',
      'POST /v1/tokens HTTP/1.1\r\nHost: confd\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"roo\r\n',
    ]) {
      const r = await raw(d.socket, partial, { quietMs: 200 });
      assert.equal(r.text, '', r.text);
    }
    // Many bad requests on one kept-alive connection.
    const many = await raw(
      d.socket,
      Array.from({ length: 20 }, (_, i) => `POST /v1/users HTTP/1.1\r\nHost: confd\r\nContent-Length: 3\r\n${i === 19 ? 'Connection: close\r\n' : ''}\r\n{x}`).join(''),
      { quietMs: 5000, untilClose: true },
    );
    assert.equal(many.text.match(/^HTTP\/1\.1 400 /gm)?.length, 20, many.text);
  });

  test('afterwards: the same daemon answers, and users, tokens and IPs are intact', async () => {
    const status = await http('GET', '/v1/status');
    assert.equal(status.status, 200, status.text);
    assert.equal(status.body.pid, d.proc.pid);
    assert.equal(d.proc.exitCode, null);
    assert.equal(d.proc.signalCode, null);
    assert.equal(status.body.users, 2);
    assert.equal(status.body.authorisedIps, 1);
    assert.equal(status.body.activeTokens, 1);
    assert.deepEqual(await state(), snapshot);
    assert.equal((snapshot.tokens as any).tokens[0].id, tokenId);
    // Nothing a client sent was a daemon error.
    const errors = d.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
    assert.deepEqual(errors, []);
  });
});

describe('admin socket: group mode', () => {
  const dirs: string[] = [];
  after(() => cleanup(...dirs));

  function primaryGroupName(): string {
    const gid = process.getgid!();
    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => Number(l.split(':')[2]) === gid);
    assert.ok(line, `no /etc/group entry for gid ${gid}`);
    return line.split(':')[0]!;
  }

  for (const [label, group] of [
    ['a group name', () => primaryGroupName()],
    ['a numeric gid', () => process.getgid!()],
  ] as const) {
    test(`admin.group as ${label}: the socket is 0660 with that gid, and it works`, async () => {
      const dir = tempDir();
      dirs.push(dir);
      const d = await startConfd({ dataDir: join(dir, 'data'), config: { admin: { group: group() } } });
      try {
        const st = statSync(d.socket);
        assert.equal(st.mode & 0o777, 0o660, (st.mode & 0o777).toString(8));
        assert.equal(st.gid, process.getgid!());
        const r = await d.admin('GET', '/v1/status');
        assert.equal(r.status, 200);
        assert.equal(r.body.pid, d.proc.pid);
      } finally {
        assert.equal(await d.stop(), 0);
      }
    });
  }

  test('admin.group naming no group: confd refuses to start and says which', async () => {
    const dir = tempDir();
    dirs.push(dir);
    mkdirSync(join(dir, 'data'));
    await assert.rejects(startConfd({ dataDir: join(dir, 'data'), config: { admin: { group: 'no-such-group-confd' } } }), /no group named "no-such-group-confd"/);
  });
});
