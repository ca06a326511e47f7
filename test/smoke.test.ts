import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startConfd, confctl } from './helpers/daemon.ts';

test('smoke: daemon starts, confctl status answers, SIGTERM exits 0', async () => {
  const d = await startConfd();
  const r = await confctl(['--socket', d.socket, 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).pid, d.proc.pid);
  assert.equal(await d.stop(), 0);
});
