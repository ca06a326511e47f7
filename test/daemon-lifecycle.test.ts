import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startConfd, runConfd, confctl, tempDir, cleanup, CONFD, parseLogLines } from './helpers/daemon.ts';
import { until } from './helpers/wait.ts';
import { connect, joinPeer } from './helpers/sfu-client.ts';
import { CLOSE_CODES } from '../src/protocol/close-codes.ts';

async function get(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.json().catch(() => null) };
}

test('embedded default: bare "confd start" in an empty directory listens on 127.0.0.1:3010 with data and socket under ./data', async () => {
  const cwd = tempDir();
  const proc = spawn(process.execPath, [CONFD, 'start'], { cwd, env: { ...process.env, CONFD_CONFIG: '', CONFD_DATA_DIR: '', CONFD_SOCKET: '', STATE_DIRECTORY: '', RUNTIME_DIRECTORY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  try {
    // As long as startConfd() waits: a loaded machine takes seconds to bundle the page and start workers.
    // (On a timeout, the assertion below shows what it wrote.)
    await until(() => out.includes('confd ready'), 'confd ready', 20_000).catch(() => {});
    const ready = parseLogLines(out).find((l) => l.msg === 'confd ready');
    assert.ok(ready, `no ready line in:\n${out}`);
    assert.equal(ready.http, 'http://127.0.0.1:3010');
    assert.equal(ready.socket, join(cwd, 'data', 'confd.sock'));
    const h = await get('http://127.0.0.1:3010/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { status: 'ok' });
    const st = await confctl(['status'], { cwd });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /host protection: off/);
    // Every log line is JSON.
    for (const l of parseLogLines(out)) assert.ok(!('raw' in l), `not JSON: ${l.raw}`);
  } finally {
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    cleanup(cwd);
  }
});

test('healthz answers, unknown paths get a JSON 404; SIGTERM and SIGINT both exit 0 and remove the socket', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const d = await startConfd();
    const h = await get(`${d.http}/healthz`);
    assert.equal(h.status, 200);
    const nf = await get(`${d.http}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.code, 'not_found');
    assert.equal(await d.stop(signal), 0);
    assert.ok(d.logs.some((l) => l.msg === 'shutting down' && l.signal === signal));
    assert.ok(d.logs.some((l) => l.msg === 'stopped'));
    assert.equal(existsSync(d.socket), false, 'socket removed on shutdown');
    assert.equal(existsSync(join(d.dataDir, 'confd.pid')), false, 'lock released on shutdown');
    cleanup(join(d.dataDir, '..'));
  }
});

test('a second daemon on a live socket is refused and the first keeps running', async () => {
  const d = await startConfd();
  try {
    const other = join(tempDir(), 'data');
    const r = await runConfd(['start', '--data-dir', other, '--socket', d.socket, '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /another confd is already running on the admin socket/);
    assert.equal((await d.admin('GET', '/v1/status')).status, 200);
    cleanup(join(other, '..'));
  } finally {
    assert.equal(await d.stop(), 0);
    cleanup(join(d.dataDir, '..'));
  }
});

test('a second daemon on the same data dir (other socket) is refused: one writer only', async () => {
  const d = await startConfd();
  try {
    const r = await runConfd(['start', '--data-dir', d.dataDir, '--socket', join(d.dataDir, '..', 'other.sock'), '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /another confd \(pid \d+\) is using the data dir/);
    assert.equal((await d.admin('GET', '/v1/status')).status, 200);
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});

test('after kill -9 the stale socket and lock are replaced on the next start', async () => {
  const d = await startConfd();
  await d.kill9();
  assert.ok(existsSync(d.socket), 'kill -9 leaves the socket file behind');
  assert.ok(existsSync(join(d.dataDir, 'confd.pid')));
  const d2 = await startConfd({ dataDir: d.dataDir });
  try {
    assert.equal(d2.socket, d.socket);
    assert.equal((await d2.admin('GET', '/v1/status')).body.pid, d2.proc.pid);
  } finally {
    assert.equal(await d2.stop(), 0);
    cleanup(join(d.dataDir, '..'));
  }
});

test('a stale socket file from another process is replaced; a non-socket file at the socket path is refused and kept', async () => {
  const dir = tempDir();
  const sock = join(dir, 'admin.sock');
  // Leave a real socket file with nobody listening: bind, then close without unlinking.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(sock, r));
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock + '2')}, () => process.kill(process.pid, 'SIGKILL'))`]);
  await new Promise((r) => child.once('exit', r));
  srv.close();
  assert.ok(existsSync(sock + '2'));
  const d = await startConfd({ args: ['--socket', sock + '2'] });
  assert.equal(d.socket, sock + '2');
  await d.stop();

  const regular = join(dir, 'file.sock');
  writeFileSync(regular, 'precious');
  const r = await runConfd(['start', '--data-dir', join(dir, 'data'), '--socket', regular, '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /exists and is not a socket/);
  assert.equal(readFileSync(regular, 'utf8'), 'precious');
  cleanup(dir, join(d.dataDir, '..'));
});

test('permissions: data dir 0700, database, secret and lock 0600, socket 0600; an existing loose data dir is tightened', async () => {
  const base = tempDir();
  const dataDir = join(base, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  statSync(dataDir);
  const d = await startConfd({ dataDir });
  try {
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    for (const f of readdirSync(dataDir)) {
      const mode = statSync(join(dataDir, f)).mode & 0o777;
      assert.equal(mode, 0o600, `${f} has mode ${mode.toString(8)}`);
    }
    assert.ok(statSync(d.socket).isSocket());
  } finally {
    await d.stop();
    cleanup(base);
  }
});

test('a busy HTTP port is a clear start error, and nothing is left locked', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const dir = tempDir();
  const r = await runConfd(['start', '--data-dir', join(dir, 'data'), '--port', String(port)]);
  blocker.close();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /port is already in use/);
  assert.equal(existsSync(join(dir, 'data', 'confd.pid')), false);
  assert.equal(existsSync(join(dir, 'data', 'confd.sock')), false);
  cleanup(dir);
});

test('an unreadable (corrupt) database is a clear start error and the file is left as it was', async () => {
  const dir = tempDir();
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(join(dataDir, 'confd.db.json'), '{"version":1,"users":[', { mode: 0o600 });
  const r = await runConfd(['start', '--data-dir', dataDir, '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /database .*confd\.db\.json is unreadable .*restore it from a backup or move it aside/);
  assert.equal(readFileSync(join(dataDir, 'confd.db.json'), 'utf8'), '{"version":1,"users":[');
  cleanup(dir);
});

test('secrets never reach the log: passwords, tokens, configured secrets', async () => {
  const secret = 'J'.repeat(40);
  const d = await startConfd({
    config: { jwt: { secret }, api: { keySecret: 'A'.repeat(40) }, host: { users: [{ username: 'cfg', password: 'plaintext-in-config' }] } },
    args: ['--log-level', 'trace'],
  });
  try {
    const add = await confctl(['--socket', d.socket, 'user', 'add', 'alice', '--password-stdin'], { input: 'correct horse battery\n' });
    assert.equal(add.code, 0, add.stderr);
    const t = await confctl(['--socket', d.socket, '--json', 'token', 'issue', '--room', 'r1']);
    const { token } = JSON.parse(t.stdout);
    await d.stop();
    const log = d.stdout();
    assert.ok(log.includes('user added'));
    assert.ok(log.includes('plaintext passwords'), 'plaintext host.users are warned about');
    for (const s of ['correct horse battery', token, token.split('.')[2], secret, 'A'.repeat(40), 'plaintext-in-config']) {
      assert.ok(!log.includes(s), `log contains a secret: ${s.slice(0, 12)}...`);
    }
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});

test('SIGTERM: every connection is told `shutdown` (close 4005, rejoin) before it closes, in a room or not yet', async () => {
  const d = await startConfd();
  const inRoom = await joinPeer(d.http, { room: 'stopping' });
  const noHello = await connect(d.http, { room: 'stopping', hello: null });
  assert.equal(await d.stop('SIGTERM'), 0);
  for (const [who, c] of [['in the room', inRoom], ['before its hello', noHello]] as const) {
    const info = await c.closed;
    assert.equal(info.code, CLOSE_CODES.shutdown, `${who}: ${JSON.stringify(info)}`);
    const told = c.notifications('disconnected');
    assert.equal(told.length, 1, `${who}: ${JSON.stringify(c.messages)}`);
    assert.equal(told[0].reason, 'shutdown');
    assert.equal(told[0].rejoin, true, 'the page comes back by itself when the daemon is up again');
  }
  cleanup(join(d.dataDir, '..'));
});

test('SIGTERM while starting (at its first log line): the daemon starts, then stops cleanly (exit 0), nothing left locked', async () => {
  const cwd = tempDir();
  // A public-looking URL makes the first log line a warning, written before the daemon starts.
  writeFileSync(join(cwd, 'config.json'), JSON.stringify({ server: { port: 0, publicUrl: 'http://meet.example.org' }, mediasoup: { workers: 1 } }));
  const proc = spawn(process.execPath, [CONFD, 'start', '--config', join(cwd, 'config.json'), '--data-dir', join(cwd, 'data'), '--socket', join(cwd, 'confd.sock')], {
    cwd,
    env: { ...process.env, CONFD_CONFIG: '', CONFD_DATA_DIR: '', CONFD_SOCKET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => {
    if (out === '') proc.kill('SIGTERM');
    out += s;
  });
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  try {
    assert.equal(code, 0, `exit ${code}, log:\n${out}`);
    const msgs = parseLogLines(out).map((l) => l.msg);
    assert.ok(msgs.includes('shutting down once started') || msgs.includes('shutting down'), out);
    assert.equal(msgs.at(-1), 'stopped', out);
    assert.equal(existsSync(join(cwd, 'confd.sock')), false, 'socket removed');
    assert.equal(existsSync(join(cwd, 'data', 'confd.pid')), false, 'lock released');
  } finally {
    cleanup(cwd);
  }
});
