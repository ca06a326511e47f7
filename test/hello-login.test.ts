/**
 * A host login that is not valid is said so (issue 21, point 22a): the page sent a host credential in
 * `hello` (a garbage token, a logged-out session, one made from another address) and used to be let in
 * as a plain guest without a word. The hello answer now carries `loginNotValid`, the sentence to show;
 * the connection still enters as a guest where guests may.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, type SfuClient } from './helpers/sfu-client.ts';
import { login } from './helpers/login.ts';
import { USER_MESSAGES } from '../src/protocol/user-messages.ts';

const PW = 'alice-hello-password-1';

describe('hello with a host login that is not valid', { concurrency: false }, () => {
  let d: RunningDaemon;
  const open: SfuClient[] = [];
  const hello = async (room: string, host?: string) => {
    const c = await connect(d.http, { room, ...(host === undefined ? {} : { query: { host } }) });
    open.push(c);
    return c.hello;
  };

  before(async () => {
    d = await startConfd({ config: { host: { protected: false }, mediasoup: { workers: 1 } } });
    assert.equal((await confctl(['--socket', d.socket, 'user', 'add', 'alice', '--password-stdin'], { input: PW })).code, 0);
  });
  after(async () => {
    for (const c of open) if (c.open) await c.close();
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  });

  test('a garbage or logged-out host token enters as a guest and is told its login is not valid', async () => {
    assert.deepEqual(await hello('h1', 'x'.repeat(43)), { role: 'guest', waiting: false, loginNotValid: USER_MESSAGES.hostLoginNotValid });
    const token = await login(d, 'alice', PW);
    assert.deepEqual(await hello('h2', token), { role: 'host', waiting: false }, 'a valid login: nothing to say');
    assert.deepEqual(await hello('h2'), { role: 'guest', waiting: false }, 'no login sent: nothing to say');
    const out = await fetch(`${d.http}/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.ok(out.ok, `logout: HTTP ${out.status}`);
    assert.deepEqual(await hello('h3', token), { role: 'guest', waiting: false, loginNotValid: USER_MESSAGES.hostLoginNotValid });
    assert.equal((await d.admin('GET', '/v1/status')).status, 200, 'the daemon runs on');
  });
});
