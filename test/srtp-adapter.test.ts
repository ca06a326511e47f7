import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/daemon.ts';

test('libsrtp 3 adapter over Debian libsrtp2, 3.0 (opaque policy) and 3.0-beta levels: round trips, tampering, short buffers, policy bounds, error codes (ASan/UBSan)', (t) => {
  const probe = spawnSync('pkg-config', ['--exists', 'libsrtp2']);
  if (probe.error || probe.status !== 0) {
    console.warn('\n!!! SKIPPED: libsrtp2-dev / pkg-config missing; apt-get install $(cat scripts/mediasoup/apt-packages.txt) !!!\n');
    t.skip('libsrtp2-dev not installed');
    return;
  }
  const r = spawnSync('bash', [join(ROOT, 'scripts/mediasoup/srtp-adapter/run-test.sh')], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const out = r.stdout + r.stderr;
  const results = [...out.matchAll(/srtp-adapter: (\d+) passed, (\d+) failed/g)];
  assert.equal(results.length, 2, `expected a libsrtp 3.0 and a 3.0-beta run:\n${out}`);
  for (const [, ok, bad] of results) {
    assert.ok(Number(ok) > 0 && Number(bad) === 0, out);
  }
  assert.match(out, /libsrtp 3\.0 API \(opaque srtp_policy_t/);
  assert.match(out, /libsrtp 3\.0-beta API \(struct srtp_policy_t/);
});
