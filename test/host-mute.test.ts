/**
 * A host's mute holds against a guest who tries to get around it: by reloading its tab (the mute
 * belongs to the participant, not to its connection), or by sending audio labelled as video.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, RequestFailed, type SfuClient } from './helpers/sfu-client.ts';
import { until } from './helpers/wait.ts';
import { login } from './helpers/login.ts';

const PW = 'mute-host-secret-pw';
let d: RunningDaemon;
let token: string;

before(async () => {
  d = await startConfd({ config: { mediasoup: { workers: 1 } } });
  const r = await confctl(['--socket', d.socket, 'user', 'add', 'mia', '--password-stdin'], { input: PW });
  assert.equal(r.code, 0, r.stderr);
  token = await login(d, 'mia', PW);
});
after(async () => {
  await d.stop();
  cleanup(join(d.dataDir, '..'));
});

const closeAll = async (...cs: SfuClient[]) => {
  for (const c of cs) if (c.open) await c.close();
};

/** The host, receiving, and a guest sending audio that the host has muted. */
async function mutedGuest(room: string): Promise<{ host: SfuClient; guest: SfuClient }> {
  const host = await connect(d.http, { room, peerId: `${room}-h`, query: { host: token } });
  await host.joinWithMedia({ consume: true });
  const guest = await connect(d.http, { room, peerId: `${room}-g` });
  await guest.joinWithMedia({ produce: ['audio'] });
  await until(() => host.consumersOf(guest.peerId).some((c) => c.packets > 5), 'host receives the guest');
  assert.deepEqual(await host.request('hostMutePeer', { peerId: guest.peerId, kind: 'audio' }), { muted: 1 });
  await guest.waitForNotification('mutedByHost');
  return { host, guest };
}

test('a muted guest reloading its tab is still muted: told again on join, and its audio is refused', async () => {
  const { host, guest } = await mutedGuest('reload');
  const again = await connect(d.http, { room: 'reload', peerId: guest.peerId });
  assert.equal((await guest.closed).code, 4001, 'the old connection gives way to the same tab');
  // It joins, then produces audio: the join goes through, the audio is refused.
  const refused = await again.joinWithMedia({ produce: ['audio'] }).catch((e: unknown) => e);
  assert.deepEqual(await again.waitForNotification('mutedByHost'), { kind: 'audio' }, 'the page is told again');
  assert.ok(refused instanceof Error && /a host muted your microphone/.test(refused.message), `audio refused, got ${String(refused)}`);
  await host.request('hostUnmutePeer', { peerId: guest.peerId, kind: 'audio' });
  await again.waitForNotification('unmutedByHost');
  await closeAll(again, host);
});

test('produce refuses a kind its codecs contradict: muted audio sent as "video" is a bad request', async () => {
  const { host, guest } = await mutedGuest('relabel');
  const transportId = guest.sendTransport!.id;
  const opus = { mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] };
  const rtpParameters = { mid: '7', codecs: [opus], headerExtensions: [], encodings: [{ ssrc: 424242 }], rtcp: { cname: 'relabel' } };
  const refused = await guest.request('produce', { transportId, kind: 'video', rtpParameters }).catch((e: unknown) => e);
  assert.ok(refused instanceof RequestFailed, `refused, got ${JSON.stringify(refused)}`);
  assert.equal(refused.errorCode, 400);
  assert.match(refused.errorReason, /audio\/opus.*video/);
  assert.ok(guest.open, 'a bad request leaves the connection open');
  assert.equal(host.messages.some((m) => m.request && m.method === 'newConsumer' && m.data.kind === 'video'), false, 'nothing was forwarded as video');
  await closeAll(guest, host);
});
