import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from './load.ts';
import { redactConfig } from './redact.ts';
import { tempDir, cleanup } from '../../test/helpers/daemon.ts';

const NO_ENV = {};

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
