/**
 * Ending a meeting is one admin action, whoever asks: `DELETE /api/v1/meeting/NAME` leaves the same
 * audit event as `confctl end` (on one node here; test/cluster.test.ts covers a cluster).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { joinPeer } from './helpers/sfu-client.ts';

const KEY = 'm'.repeat(40);
let d: RunningDaemon;

before(async () => {
  d = await startConfd({ config: { api: { keySecret: KEY }, mediasoup: { workers: 1 } } });
});
after(async () => {
  await d.stop();
  cleanup(join(d.dataDir, '..'));
});

type Event = { at: string; type: string; actor: string; room?: string; peers?: number };
const roomEnds = async () => ((await d.admin('GET', '/v1/audit?limit=1000')).body as { events: Event[] }).events.filter((e) => e.type === 'room.end');

test('DELETE /api/v1/meeting/NAME audits room.end as confctl end does', async () => {
  const viaCtl = await joinPeer(d.http, { room: 'by-ctl', peerId: 'c1' });
  assert.equal((await confctl(['--socket', d.socket, 'end', '--room', 'by-ctl'])).code, 0);
  assert.equal((await viaCtl.closed).code, 4000);

  const viaApi = await joinPeer(d.http, { room: 'by-api', peerId: 'a1' });
  const res = await fetch(`${d.http}/api/v1/meeting/by-api`, { method: 'DELETE', headers: { authorization: KEY } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { room: 'by-api', ended: true, peers: 1 });
  assert.equal((await viaApi.closed).code, 4000);

  const strip = ({ at: _at, ...e }: Event) => e;
  const events = (await roomEnds()).map(strip);
  assert.deepEqual(events, [
    { type: 'room.end', actor: 'admin', room: 'by-ctl', peers: 1 },
    { type: 'room.end', actor: 'admin', room: 'by-api', peers: 1 },
  ]);
  const missing = await fetch(`${d.http}/api/v1/meeting/by-api`, { method: 'DELETE', headers: { authorization: KEY } });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: { message: string } }).error.message, /no meeting "by-api" is running/);
});
