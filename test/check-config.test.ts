/**
 * `confd check-config` and `confd start` with configs that validate but cannot serve remote guests:
 * the real bin/confd, its exit codes, its stderr lines and its log lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { reachabilityWarnings } from '../src/config/reachability.ts';
import { ROOT, runConfd, startConfd, tempDir } from './helpers/daemon.ts';

const PUBLIC_EXAMPLE = join(ROOT, 'config/confd.public.json');

/** Media on every address with nothing to announce, and a plain-http public page. */
const BAD_PUBLIC = {
  server: { publicUrl: 'http://meet.example.org' },
  mediasoup: { listenIp: '0.0.0.0', workers: 2 },
};

function writeConfig(content: unknown): string {
  const file = join(tempDir(), 'confd.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const WARNING_LINE = /^confd: warning: ([^:]+): (.+); fix: (.+)$/;

/** The keys of check-config's warning lines, in order; every other stderr line is left out. */
function warnedKeys(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => WARNING_LINE.exec(l))
    .filter((m) => m !== null)
    .map((m) => m[1]!);
}

test('check-config: a bad public setup is valid with warnings naming the keys (exit 0), and exit 1 with --strict', async () => {
  const file = writeConfig(BAD_PUBLIC);
  const r = await runConfd(['check-config', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(warnedKeys(r.stderr), ['server.publicUrl', 'mediasoup.announcedAddress'], r.stderr);
  assert.match(r.stderr, /^confd: warning: server\.publicUrl: http:\/\/meet\.example\.org is plain http .*; fix: .*https:\/\//m);
  assert.match(r.stderr, /^confd: warning: mediasoup\.announcedAddress: .*0\.0\.0\.0.*; fix: set mediasoup\.announcedAddress to /m);
  // The existing output stays: the redacted config on stdout, the verdict on stderr.
  assert.equal(JSON.parse(r.stdout).server.publicUrl, 'http://meet.example.org');
  assert.match(r.stderr, new RegExp(`^confd: configuration is valid \\(${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm'));

  const strict = await runConfd(['check-config', '--strict', '--config', file]);
  assert.equal(strict.code, 1, strict.stderr);
  assert.deepEqual(warnedKeys(strict.stderr), ['server.publicUrl', 'mediasoup.announcedAddress']);
  assert.match(strict.stderr, /^confd: --strict: 2 warnings above; fix them or drop --strict$/m);
  assert.equal(JSON.parse(strict.stdout).mediasoup.listenIp, '0.0.0.0', 'the config is still printed');
});

test('check-config --strict: a good public setup and the embedded default give no warnings (exit 0)', async () => {
  const good = writeConfig({
    server: { publicUrl: 'https://meet.example.org', trustProxy: ['127.0.0.1'] },
    mediasoup: { listenIp: '0.0.0.0', announcedAddress: '203.0.113.10', workers: 2 },
  });
  for (const args of [['--config', good], []]) {
    const r = await runConfd(['check-config', '--strict', ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(warnedKeys(r.stderr), []);
    assert.doesNotMatch(r.stderr, /warning/);
  }
});

test('check-config: turn.secret is redacted, and no warning line carries it', async () => {
  const secret = 'f00dcafe'.repeat(8);
  const file = writeConfig({ ...BAD_PUBLIC, turn: { urls: ['turn:127.0.0.1:3478'], secret } });
  const r = await runConfd(['check-config', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.equal(printed.turn.secret, '[redacted]');
  assert.deepEqual(printed.turn.urls, ['turn:127.0.0.1:3478']);
  assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'the secret appears nowhere');
  assert.deepEqual(warnedKeys(r.stderr), ['server.publicUrl', 'mediasoup.announcedAddress', 'turn.urls[0]'], r.stderr);
});

test('config/confd.public.json: complete, loads, and gives no warnings for any worker count', async () => {
  const example = JSON.parse(readFileSync(join(ROOT, 'config/confd.example.json'), 'utf8'));
  const pub = JSON.parse(readFileSync(PUBLIC_EXAMPLE, 'utf8'));
  const shape = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? `${k}{${Object.keys(v).join(',')}}` : k));
  assert.deepEqual(shape(pub), shape(example), 'every key of confd.example.json, so nothing is left to a default');

  const c = loadConfig({ config: PUBLIC_EXAMPLE }, {}, '/');
  assert.equal(c.server.publicUrl, 'https://meet.example.org');
  assert.equal(c.mediasoup.announcedAddress, '203.0.113.10');
  for (const workerCount of [1, 2, 16, 64]) assert.deepEqual(reachabilityWarnings(c, { workerCount }), [], `workerCount ${workerCount}`);

  const r = await runConfd(['check-config', '--strict', '--config', PUBLIC_EXAMPLE]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(warnedKeys(r.stderr), []);
  assert.equal(JSON.parse(r.stdout).turn.secret, '[redacted]');
});

test('confd start logs each warning at warn level, with its key and fix, before it is ready', async () => {
  const config = {
    server: { publicUrl: 'http://meet.example.org' },
    // One worker and the per-transport mode: no media port is bound until a transport is made.
    mediasoup: { workers: 1, port: null, portRange: [23100, 23199] },
  };
  const d = await startConfd({ config, timeoutMs: 60_000 });
  try {
    const expected = reachabilityWarnings(loadConfig({ config: writeConfig(config) }, {}, '/'));
    assert.deepEqual(expected.map((w) => w.key), ['server.publicUrl', 'mediasoup.listenIp']);
    const lines = d.logs;
    const warned = lines.filter((l) => l.level === 40 && typeof l.key === 'string' && typeof l.fix === 'string');
    assert.deepEqual(
      warned.map((l) => ({ key: l.key, problem: l.msg, fix: l.fix })),
      expected,
      d.stdout(),
    );
    const ready = lines.findIndex((l) => l.msg === 'confd ready');
    assert.ok(lines.indexOf(warned.at(-1)) < ready, 'logged at start-up, before "confd ready"');
  } finally {
    assert.equal(await d.stop(), 0);
  }
});

test('check-config: media ports inside the kernel\'s ephemeral port range are a warning; the defaults are outside it', async (t) => {
  let text: string;
  try {
    text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return t.skip('no /proc/sys/net/ipv4/ip_local_port_range here');
  }
  const [lo, hi] = text.trim().split(/\s+/).map(Number) as [number, number];
  const inside = writeConfig({ mediasoup: { workers: 1, port: lo + 100 } });
  const r = await runConfd(['check-config', '--config', inside]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(warnedKeys(r.stderr), ['mediasoup.port'], r.stderr);
  assert.match(r.stderr, new RegExp(`^confd: warning: mediasoup\\.port: media port ${lo + 100} .*ephemeral port range ${lo}-${hi}.*; fix: .*mediasoup\\.port`, 'm'));
  // The embedded default: nothing to warn about on a Linux default range.
  const def = await runConfd(['check-config', '--strict']);
  assert.equal(def.code, 0, def.stderr);
  const printed = JSON.parse(def.stdout).mediasoup;
  if (lo === 32768) assert.ok(printed.port < lo && printed.portRange[1] < lo, JSON.stringify(printed));
});
