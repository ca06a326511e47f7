import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadJwtKey } from './secret.ts';
import { tempDir, cleanup } from '../../test/helpers/daemon.ts';

test('configured secrets shorter than 32 bytes are refused; the generated one is 32 bytes, mode 0600', () => {
  assert.throws(() => loadJwtKey('short-secret', tempDir()), /at least 32 bytes/);
  const d2 = tempDir();
  const { key: k, source } = loadJwtKey(null, d2);
  assert.equal(source, 'generated');
  assert.equal(k.symmetricKeySize, 32);
  assert.equal(statSync(join(d2, 'jwt.secret')).mode & 0o777, 0o600);
  const again = loadJwtKey(null, d2);
  assert.equal(again.source, 'file');
  assert.ok(again.key.equals(k));
  cleanup(d2);
});
