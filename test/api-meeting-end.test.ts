/**
 * Ending a meeting is one action, whoever asks: `DELETE /api/v1/meeting/NAME`, `confctl end` and a host
 * on the page (`hostEndMeeting`) close everyone with `room_closed` (4003) and leave the same audit event
 * (on one node here; test/cluster.test.ts covers a cluster). Ending is not kicking: nobody is banned.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, joinPeer, type SfuClient } from './helpers/sfu-client.ts';
import { login } from './helpers/login.ts';
import { waitFor } from './helpers/wait.ts';
import { USER_MESSAGES } from '../src/protocol/user-messages.ts';

const KEY = 'm'.repeat(40);
let d: RunningDaemon;

before(async () => {
  d = await startConfd({ config: { api: { keySecret: KEY }, mediasoup: { workers: 1 } } });
  const r = await confctl(['--socket', d.socket, 'user', 'add', 'erin', '--password-stdin'], { input: PW });
  assert.equal(r.code, 0, r.stderr);
});
const PW = 'erin-ends-meetings-pw';
after(async () => {
  await d.stop();
  cleanup(join(d.dataDir, '..'));
});

type Event = { at: string; type: string; actor: string; room?: string; peers?: number };
const roomEnds = async () => ((await d.admin('GET', '/v1/audit?limit=1000')).body as { events: Event[] }).events.filter((e) => e.type === 'room.end');

test('DELETE /api/v1/meeting/NAME audits room.end as confctl end does', async () => {
  const viaCtl = await joinPeer(d.http, { room: 'by-ctl', peerId: 'c1' });
  assert.equal((await confctl(['--socket', d.socket, 'end', '--room', 'by-ctl'])).code, 0);
  assert.equal((await viaCtl.closed).code, 4003);

  const viaApi = await joinPeer(d.http, { room: 'by-api', peerId: 'a1' });
  const res = await fetch(`${d.http}/api/v1/meeting/by-api`, { method: 'DELETE', headers: { authorization: KEY } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { room: 'by-api', ended: true, peers: 1 });
  assert.equal((await viaApi.closed).code, 4003);

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

/** The `disconnected` a client was told before its socket closed, and the close code. */
async function endedWith(c: SfuClient): Promise<{ code: number; reason: string; message: string; rejoin: boolean }> {
  const { code } = await c.closed;
  const [told] = c.notifications('disconnected');
  return { code, reason: told?.reason, message: told?.message, rejoin: told?.rejoin };
}

test('a host ends the meeting for everyone: seated and lobby guests get room_closed 4003, audited as confctl end, nobody banned', async () => {
  const token = await login(d, 'erin', PW);
  const host = await connect(d.http, { room: 'by-host', peerId: 'h1', query: { host: token } });
  await host.joinWithMedia({});
  const guest = await joinPeer(d.http, { room: 'by-host', peerId: 'g1' });
  await host.request('hostSetLobby', { enabled: true });
  const knocking = await connect(d.http, { room: 'by-host', peerId: 'g2' });
  await host.waitForNotification('lobbyKnock', (k) => k.peerId === 'g2');

  const refused = await guest.request('hostEndMeeting', {}).catch((e: Error) => e);
  assert.match(String(refused), /only a host/, 'a guest cannot end the meeting');
  assert.deepEqual(await host.request('hostEndMeeting', {}).catch((e: Error) => e), {}, 'the host is answered before its socket closes');

  const told = { reason: 'room_closed', message: USER_MESSAGES.meetingEnded, rejoin: false };
  for (const c of [host, guest, knocking]) assert.deepEqual(await endedWith(c), { code: 4003, ...told }, c.peerId);
  // Audited as the store writes it, just after the room closed.
  const [event] = await waitFor('the room.end audit event', async () => (await roomEnds()).filter((e) => e.room === 'by-host'), (es) => es.length > 0);
  assert.deepEqual({ ...event, at: undefined }, { at: undefined, type: 'room.end', actor: 'host h1', room: 'by-host', peers: 2 });

  // Ending is not kicking: the same guest (same address, same tab) joins the next meeting at once.
  const back = await joinPeer(d.http, { room: 'by-host', peerId: 'g1' });
  assert.ok(back.open);
  await back.close();
});
