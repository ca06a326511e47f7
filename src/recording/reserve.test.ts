import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReserve } from './reserve.ts';

test('the reserve holds its bytes once however often asked, and gives them back at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'confd-reserve-'));
  try {
    const r = createReserve(dir, 3 * 1024 * 1024 + 5);
    await Promise.all([r.hold(), r.hold(), r.hold()]);
    const held = () => readdirSync(dir).map((n) => statSync(join(dir, n)));
    assert.deepEqual(held().map((s) => [s.size, s.mode & 0o777]), [[3 * 1024 * 1024 + 5, 0o600]]);
    r.release();
    assert.deepEqual(held(), []);
    r.release();
    await r.hold();
    assert.deepEqual(held().map((s) => s.size), [3 * 1024 * 1024 + 5], 'held again after a release');
    // Released while being written: the write stops and nothing is left.
    r.release();
    const writing = r.hold();
    r.release();
    await writing;
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
