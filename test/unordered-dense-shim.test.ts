import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/daemon.ts';

test('ankerl::unordered_dense shim for the mediasoup worker: map/set/hash as the worker uses them, C++20 and C++17 (ASan/UBSan)', (t) => {
  const probe = spawnSync('c++', ['--version']);
  if (probe.error || probe.status !== 0) {
    console.warn('\n!!! SKIPPED: no C++ compiler; apt-get install $(cat scripts/mediasoup/apt-packages.txt) !!!\n');
    t.skip('no C++ compiler');
    return;
  }
  const r = spawnSync('bash', [join(ROOT, 'scripts/mediasoup/unordered-dense/run-test.sh')], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const results = [...(r.stdout + r.stderr).matchAll(/unordered-dense shim: (\d+) passed, (\d+) failed/g)];
  assert.equal(results.length, 2, `expected a C++20 and a C++17 run:\n${r.stdout}`);
  for (const [, ok, bad] of results) {
    assert.ok(Number(ok) > 0 && Number(bad) === 0, `${r.stdout}`);
  }
});
