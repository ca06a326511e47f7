/**
 * A daemon that runs for weeks keeps nothing for the people who came and went: in a room that never
 * empties (a permanent meeting room), the peer ids kept for returning tabs, the chat allowances, the
 * lobby's per-address notices and the producers piped between the room's routers go once they are no
 * longer needed, and so do the signalling's per-address hello buckets. Found by `npm run soak`: each
 * grew by a few entries per joining guest, for ever. Counted from /metrics (confd_state_entries).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, joinPeer, type SfuClient } from './helpers/sfu-client.ts';
import { until, waitFor } from './helpers/wait.ts';
import { readMetrics, stateEntries } from './helpers/metrics.ts';

let d: RunningDaemon;

before(async () => {
  // Two workers, one peer per router: the room spreads over both, and producers are piped between them.
  // Reservations of a departed tab's id last 10 s (the shortest).
  d = await startConfd({ config: { mediasoup: { workers: 2, peersPerRouter: 1 }, host: { protected: false, leaveGraceSeconds: 10 } } });
});
after(async () => {
  await d.stop();
  cleanup(join(d.dataDir, '..'));
});

const entries = async () => stateEntries(await readMetrics(d));

const hears = (c: SfuClient, from: string) => until(() => c.consumersOf(from).some((s) => !s.closed && s.packets >= 5), `${c.peerId} hears ${from}`, 30_000);

test('a busy room and the signalling keep nothing for guests that came, chatted, knocked and left', async () => {
  const anchor = await joinPeer(d.http, { room: 'always-on', peerId: 'anchor', produce: ['audio'], consume: true });
  const before = await entries();
  assert.equal(before.peer_ids, 1, JSON.stringify(before));

  for (let i = 0; i < 8; i++) {
    const g = await joinPeer(d.http, { room: 'always-on', name: `Guest ${i}`, produce: ['audio'], consume: true, localAddress: `127.0.9.${i + 1}` });
    await hears(anchor, g.peerId);
    await hears(g, anchor.peerId);
    await g.request('chat', { text: `hello from ${i}` });
    await g.close();
  }
  assert.ok((await d.admin('PUT', '/v1/rooms/always-on/lobby', { enabled: true })).status === 200);
  for (let i = 0; i < 3; i++) {
    const k = await connect(d.http, { room: 'always-on', name: `Knock ${i}`, localAddress: `127.0.10.${i + 1}` });
    const hello = await k.hello;
    assert.ok(!(hello instanceof Error) && hello.waiting, `knock ${i} waits in the lobby: ${JSON.stringify(hello)}`);
    await k.close();
  }
  assert.ok((await d.admin('PUT', '/v1/rooms/always-on/lobby', { enabled: false })).status === 200);

  const during = await entries();
  for (const kind of ['peer_ids', 'hello_buckets', 'chat_buckets', 'lobby_addresses', 'pipes']) {
    assert.ok(during[kind]! > (before[kind] ?? 0), `${kind} counted while the guests' traces are fresh: ${JSON.stringify(during)}`);
  }
  // Each kind back to where it was, once its time is up: reservations 10 s, hello and chat buckets
  // refilled, knock notices 1 s, pipes with their producers; then the 15 s sweeps. One pipe stays for
  // good reason: the anchor's producer, on the room's second router for as long as both live.
  const level: Record<string, number> = { ...before, pipes: 1 };
  await waitFor(
    'every kind of state entry back to its level before the guests',
    entries,
    (now) => Object.entries(now).every(([kind, n]) => n <= (level[kind] ?? 0)),
    90_000,
  );
  await anchor.close();
});
