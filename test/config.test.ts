/** The config as the commands see it: `confd check-config` and `confd start` with bad files and flags. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, cleanup, runConfd } from './helpers/daemon.ts';

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
