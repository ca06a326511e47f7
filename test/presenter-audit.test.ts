/**
 * Issue 21, point 6: a presenter link must not wipe the admin audit trail. Each hello with a presenter
 * token used to add `login.token` to the admin ring and rewrite the database, so anyone holding the
 * link could evict every admin event by reconnecting. Now a repeat from the same address is no change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { startConfd, cleanup } from './helpers/daemon.ts';
import { connect } from './helpers/sfu-client.ts';

const HELLOS = 40;

test('many hellos with one presenter token: one login.token event, no database rewrite per repeat, admin events kept', async () => {
  const d = await startConfd({ config: { mediasoup: { workers: 1 } } });
  try {
    const metric = async () => {
      const text = await (await fetch(`${d.http}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('confd_db_writes_total '));
      assert.ok(line, `confd_db_writes_total in\n${text}`);
      return Number(line.split(' ')[1]);
    };
    const events = async () => (await d.admin('GET', '/v1/audit?limit=99999')).body.events as { type: string; id?: string }[];
    const pres = (await d.admin('POST', '/v1/tokens', { room: 'flood', presenter: true })).body;
    const hello = async () => {
      const c = await connect(d.http, { room: 'flood', token: pres.token });
      assert.equal(c.open, true, 'the presenter link is accepted');
      await c.close();
    };
    await hello();
    const adminBefore = (await events()).filter((e) => e.type !== 'login.token');
    assert.ok(adminBefore.some((e) => e.type === 'token.create' || e.type.startsWith('token.')), 'the token issue is audited');
    const writes = await metric();
    for (let i = 0; i < HELLOS; i++) await hello();
    assert.equal(await metric(), writes, `no database rewrite for ${HELLOS} repeats of a presenter hello from one address`);
    const after = await events();
    assert.equal(after.filter((e) => e.type === 'login.token' && e.id === pres.id).length, 1, 'the token login is recorded once for this address');
    assert.deepEqual(after.filter((e) => e.type !== 'login.token'), adminBefore, 'the admin events are all still there');
  } finally {
    await d.stop();
    cleanup(dirname(d.dataDir));
  }
});
