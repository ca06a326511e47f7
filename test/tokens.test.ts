/** The daemon's join tokens, end to end: issued by confctl, verified with the secret the daemon keeps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openStore } from '../src/store/db.ts';
import { createJoinTokens } from '../src/auth/tokens.ts';
import { loadJwtKey } from '../src/auth/secret.ts';
import { cleanup, startConfd, confctl } from './helpers/daemon.ts';

test('a token issued by the daemon (confctl) verifies with the secret it keeps in the data dir', async () => {
  const d = await startConfd();
  try {
    const r = await confctl(['--socket', d.socket, '--json', 'token', 'issue', '--room', 'standup', '--ttl', '30m']);
    assert.equal(r.code, 0, r.stderr);
    const { token } = JSON.parse(r.stdout);
    const { key: daemonKey, source } = loadJwtKey(null, d.dataDir);
    assert.equal(source, 'file');
    // Verify against the daemon's own store file once it has stopped (the daemon is the only writer).
    assert.equal(await d.stop(), 0);
    const s = await openStore(d.dataDir);
    const t = createJoinTokens({ key: daemonKey, store: s, defaultTtlSeconds: 3600, maxTtlSeconds: 86400 });
    assert.ok(t.verifyJoinToken(token, 'standup').ok);
    const wrong = t.verifyJoinToken(token, 'other');
    assert.equal(!wrong.ok && wrong.reason, 'wrong_room');
    await s.close();
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  }
});
