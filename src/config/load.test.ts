/** loadConfig: defaults < file < env < flags, systemd directories, every refusal naming its key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from './load.ts';
import { DEFAULT_CONFIG } from './defaults.ts';
import { tempDir, cleanup } from '../../test/helpers/daemon.ts';

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
  assert.equal(c.mediasoup.port, 10000);
  assert.equal(c.turn.ttlSeconds, 600, 'TURN credentials cannot be revoked: minutes, not hours');
  assert.deepEqual(c.mediasoup.portRange, [16000, 25999], "below the kernel's ephemeral range and the recorder's ffmpeg ports");
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
  ['turn.ttl of weeks (a credential cannot be revoked)', { turn: { urls: ['turn:turn.example.org'], secret: 'ab'.repeat(32), ttl: '8d' } }, /turn\.ttl: must be from 5m to 7d/],
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

test('the example config is valid and matches the documented defaults', () => {
  const c = loadConfig({ config: 'config/confd.example.json' }, NO_ENV, join(import.meta.dirname, '../..'));
  assert.equal(c.host.maxLoginAttempts, DEFAULT_CONFIG.host.maxLoginAttempts);
});
