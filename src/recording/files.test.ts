import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDir } from './files.ts';

test('prepareDir: many callers at once each prove the directory writable, and leave nothing behind', async () => {
  const base = mkdtempSync(join(tmpdir(), 'confd-files-'));
  try {
    const dir = join(base, 'recordings');
    await Promise.all(Array.from({ length: 8 }, () => prepareDir(dir)));
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
