import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { redactConfig } from '../src/config/redact.ts';
import { DEFAULT_CONFIG } from '../src/config/defaults.ts';
import { parseDuration } from '../src/config/duration.ts';
import { tempDir, cleanup, runConfd } from './helpers/daemon.ts';

const NO_ENV = {};

function withFile(content: unknown, fn: (file: string, dir: string) => void | Promise<void>) {
  const dir = tempDir();
  const file = join(dir, 'confd.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return Promise.resolve(fn(file, dir)).finally(() => cleanup(dir));
}

test('embedded default: no config file at all', () => {
  const c = loadConfig({}, NO_ENV, '/srv/x');
  assert.equal(c.configFile, null);
  assert.equal(c.server.listen, '127.0.0.1');
  assert.equal(c.server.port, 3010);
  assert.equal(c.dataDir, '/srv/x/data');
  assert.equal(c.socketPath, '/srv/x/data/confd.sock');
  assert.equal(c.host.protected, false);
  assert.equal(c.jwt.expiresIn, '1h');
  assert.equal(c.jwt.expiresInSeconds, 3600, 'durations are parsed once, at load');
  assert.equal(c.jwt.maxTtlSeconds, 7 * 86400);
  assert.equal(c.host.authTtlSeconds, 12 * 3600);
  assert.deepEqual(c.mediasoup.portRange, [40000, 49999]);
});

test('precedence: defaults < file < env < flags; systemd directories', async () => {
  await withFile({ server: { port: 4000 }, log: { level: 'debug' } }, (file, dir) => {
    const c = loadConfig({ config: file }, NO_ENV, '/cwd');
    assert.equal(c.server.port, 4000);
    assert.equal(c.log.level, 'debug');
    assert.equal(c.server.listen, '127.0.0.1', 'untouched keys keep their defaults');
    assert.equal(c.configFile, file);
    assert.equal(c.dataDir, '/cwd/data');

    const viaEnv = loadConfig({}, { CONFD_CONFIG: file, CONFD_DATA_DIR: '/var/lib/x', CONFD_SOCKET: '/run/x.sock' }, '/cwd');
    assert.equal(viaEnv.server.port, 4000);
    assert.equal(viaEnv.dataDir, '/var/lib/x');
    assert.equal(viaEnv.socketPath, '/run/x.sock');

    const flags = loadConfig({ config: file, port: '5000', listen: '::1', dataDir: 'd', socket: 's.sock', logLevel: 'warn' }, { CONFD_DATA_DIR: '/var/lib/x' }, '/cwd');
    assert.equal(flags.server.port, 5000);
    assert.equal(flags.server.listen, '::1');
    assert.equal(flags.dataDir, '/cwd/d');
    assert.equal(flags.socketPath, '/cwd/s.sock');
    assert.equal(flags.log.level, 'warn');

    const systemd = loadConfig({ config: file }, { STATE_DIRECTORY: '/var/lib/confd', RUNTIME_DIRECTORY: '/run/confd' }, '/');
    assert.equal(systemd.dataDir, '/var/lib/confd');
    assert.equal(systemd.socketPath, '/run/confd/confd.sock');
    void dir;
  });
  await withFile({ dataDir: 'state', admin: { socket: 'run/a.sock' } }, (file, dir) => {
    const c = loadConfig({ config: file }, NO_ENV, '/elsewhere');
    assert.equal(c.dataDir, join(dir, 'state'), 'relative paths in a file are relative to the file');
    assert.equal(c.socketPath, join(dir, 'run/a.sock'));
  });
});

const bad: [string, unknown, RegExp][] = [
  ['unknown top-level key', { sevrer: {} }, /sevrer: unknown key/],
  ['unknown nested key', { server: { prot: 1 } }, /server\.prot: unknown key/],
  ['wrong type', { server: { port: 'eighty' } }, /server\.port: /],
  ['port out of range', { server: { port: 70000 } }, /server\.port: /],
  ['bad listen', { server: { listen: 'not an ip' } }, /server\.listen: must be an IP address/],
  ['bad trustProxy entry', { server: { trustProxy: ['10.0.0.0/99'] } }, /server\.trustProxy\[0\]: must be an IP address or CIDR/],
  ['tls half set', { server: { tls: { cert: 'a.pem', key: null } } }, /server\.tls: set both cert and key/],
  ['short jwt secret', { jwt: { secret: 'too-short' } }, /jwt\.secret: jwt\.secret must be at least 32 bytes/],
  ['bad duration', { jwt: { expiresIn: '1 hour' } }, /jwt\.expiresIn: must be a whole number followed by s, m, h or d/],
  ['expiresIn above maxTtl', { jwt: { expiresIn: '8d' } }, /jwt\.expiresIn: jwt\.expiresIn must not be longer than jwt\.maxTtl/],
  ['short api key', { api: { keySecret: 'abc' } }, /api\.keySecret: /],
  ['host.users entry', { host: { users: [{ username: 'alice' }] } }, /host\.users\[0\]\.password: /],
  ['bad workers', { mediasoup: { workers: 0 } }, /mediasoup\.workers: /],
  ['reversed port range', { mediasoup: { portRange: [5000, 4000] } }, /mediasoup\.portRange: must be \[low, high\]/],
  ['dynacast not a boolean', { rooms: { dynacast: 'yes' } }, /rooms\.dynacast: must be true or false/],
  ['peersPerRouter zero', { mediasoup: { peersPerRouter: 0 } }, /mediasoup\.peersPerRouter: /],
  ['peersPerRouter not a whole number', { mediasoup: { peersPerRouter: 2.5 } }, /mediasoup\.peersPerRouter: must be a whole number/],
  ['peersPerRouter a string', { mediasoup: { peersPerRouter: '10' } }, /mediasoup\.peersPerRouter: must be a whole number/],
  ['peersPerRouter too large', { mediasoup: { peersPerRouter: 1001 } }, /mediasoup\.peersPerRouter: /],
  ['cluster.redis not a redis URL', { cluster: { redis: 'http://10.0.0.5:6379' } }, /cluster\.redis: must be a redis:\/\/ or rediss:\/\/ URL/],
  ['cluster.redis not a URL at all', { cluster: { redis: 'localhost:6379' } }, /cluster\.redis: must be a redis:\/\/ or rediss:\/\/ URL/],
  ['cluster.url with a path', { cluster: { url: 'https://node1.example.org/confd' } }, /cluster\.url: must be an http\(s\) URL with no path/],
  ['cluster.nodeId with a space', { cluster: { nodeId: 'node one' } }, /cluster\.nodeId: must be 1-63 characters/],
  ['cluster.nodeId too long', { cluster: { nodeId: 'n'.repeat(64) } }, /cluster\.nodeId: must be 1-63 characters/],
  ['bad log level', { log: { level: 'loud' } }, /log\.level: /],
  ['not an object', [1, 2], /top level must be a JSON object/],
  ['not JSON', '{"server": ', /is not valid JSON/],
];

for (const [name, content, re] of bad) {
  test(`invalid config is refused with the key path: ${name}`, async () => {
    await withFile(content, (file) => {
      assert.throws(() => loadConfig({ config: file }, NO_ENV, '/'), (e: Error) => {
        assert.match(e.message, re);
        return true;
      });
    });
  });
}

test('missing config file and bad --port flag', () => {
  assert.throws(() => loadConfig({ config: '/nonexistent/confd.json' }, NO_ENV, '/'), /cannot read config file \/nonexistent\/confd.json: no such file/);
  assert.throws(() => loadConfig({ port: 'abc' }, NO_ENV, '/'), /--port: must be a whole number/);
  assert.throws(() => loadConfig({ socket: `/tmp/${'x'.repeat(120)}.sock` }, NO_ENV, '/'), /too long for a Unix socket/);
});

test('redaction hides every secret, hashed or plaintext', () => {
  const dir = tempDir();
  const file = join(dir, 'c.json');
  const secret = 'S'.repeat(40);
  writeFileSync(file, JSON.stringify({ jwt: { secret }, api: { keySecret: `K${secret}` }, host: { users: [{ username: 'a', password: 'plain-pw-123' }, { username: 'b', password: '$argon2id$v=19$m=19456,t=2,p=1$abc$def' }] }, cluster: { redis: 'redis://confd:redis-pw-42@10.0.0.5:6379/0' } }));
  const shown = JSON.stringify(redactConfig(loadConfig({ config: file }, NO_ENV, '/')));
  assert.ok(!shown.includes(secret));
  assert.ok(!shown.includes('redis-pw-42'));
  assert.match(shown, /redis:\/\/confd:\[redacted\]@10\.0\.0\.5:6379\/0/);
  assert.ok(!shown.includes('plain-pw-123'));
  assert.ok(!shown.includes('argon2id'));
  assert.match(shown, /\[redacted\]/);
  cleanup(dir);
});

test('durations', () => {
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('30m'), 1800);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('2d'), 172800);
  for (const bad of ['', '1', 'h', '0s', '-1h', '1.5h', '1w', '1 h', '99999999999d']) assert.equal(parseDuration(bad), null, bad);
});

test('the example config is valid and matches the documented defaults', () => {
  const c = loadConfig({ config: 'config/confd.example.json' }, NO_ENV, join(import.meta.dirname, '..'));
  assert.equal(c.host.maxLoginAttempts, DEFAULT_CONFIG.host.maxLoginAttempts);
});

test('confd check-config: prints the effective config redacted, exit 0; names the key and exits 1 on error', async () => {
  const dir = tempDir();
  const good = join(dir, 'good.json');
  const badFile = join(dir, 'bad.json');
  writeFileSync(good, JSON.stringify({ jwt: { secret: 'x'.repeat(32) }, server: { port: 3999 } }));
  writeFileSync(badFile, JSON.stringify({ host: { maxLoginAttempts: -1 } }));
  const ok = await runConfd(['check-config', '--config', good]);
  assert.equal(ok.code, 0, ok.stderr);
  const printed = JSON.parse(ok.stdout);
  assert.equal(printed.server.port, 3999);
  assert.equal(printed.jwt.secret, '[redacted]');
  const ko = await runConfd(['check-config', '--config', badFile]);
  assert.equal(ko.code, 1);
  assert.match(ko.stderr, /host\.maxLoginAttempts: /);
  const viaEnv = await runConfd(['check-config'], { env: { CONFD_CONFIG: badFile } });
  assert.equal(viaEnv.code, 1);
  cleanup(dir);
});

test('confd start refuses a bad config (exit 2) and bad flags (exit 2), naming the problem', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'data'));
  const badFile = join(dir, 'bad.json');
  writeFileSync(badFile, JSON.stringify({ server: { port: 'x' } }));
  const r1 = await runConfd(['start', '--config', badFile, '--data-dir', join(dir, 'data')]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /server\.port/);
  const r2 = await runConfd(['start', '--port', 'abc', '--data-dir', join(dir, 'data')]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--port: must be a whole number/);
  const r3 = await runConfd(['start', '--log-level', 'loud']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /Allowed choices are fatal, error/);
  const r4 = await runConfd(['start', '--bogus']);
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /unknown option '--bogus'/);
  const r5 = await runConfd(['frobnicate']);
  assert.equal(r5.code, 2);
  cleanup(dir);
});
