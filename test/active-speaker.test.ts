/**
 * Active speaker through a real daemon, with a room over two workers: werift peers send audio with the
 * ssrc-audio-level header extension (speech-like levels for the one who speaks, silence for the others).
 * The room announces the dominant speaker only once heard, tells who is speaking now, and raises the
 * priority of every consumer of the speaker's video (read back from the admin API: mediasoup's own
 * consumer.priority), resetting the previous speaker's. One speaker sends from the second router: its
 * audio reaches the observers on the first router through a pipe.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { joinPeer, receiving, type SfuClient } from './helpers/sfu-client.ts';
import { sleep, until } from './helpers/wait.ts';
import { SPEAKER_PRIORITY } from '../src/rooms/priorities.ts';

const SILENT = 127;

describe('active speaker and consumer priorities', { timeout: 120_000 }, () => {
  let d: RunningDaemon;
  const clients: SfuClient[] = [];
  before(async () => {
    d = await startConfd({ config: { mediasoup: { workers: 2, peersPerRouter: 2, portRange: [48000, 48999] } } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (d) {
      await d.stop();
      cleanup(dirname(d.dataDir));
    }
  });

  const room = async () => (await d.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === 'talk');
  const join = async (id: string) => {
    const c = await joinPeer(d.http, { room: 'talk', peerId: id, produce: ['audio', 'video'], consume: true });
    c.setAudioLevel(SILENT);
    clients.push(c);
    return c;
  };
  /** The raised consumers as [receiver, sender, kind, priority], sorted. */
  const raised = async () =>
    ((await room()).priorities as any[]).map((p) => [p.peer, p.fromPeer, p.kind, p.priority]).sort((x, y) => String(x).localeCompare(String(y)));
  const announced = (c: SfuClient, since: number, peerId: string | null) => c.waitForNotification('activeSpeaker', (x) => x.peerId === peerId, 15_000, since);

  test('silence announces nobody; a speaker on the second router is announced and their video raised; the floor moves on; a joiner is told', async () => {
    const [a1, a2, b1] = [await join('a1'), await join('a2'), await join('b1')];
    const r = await room();
    assert.deepEqual(r.routers.map((x: any) => x.peers), [2, 1], 'b1 is alone on the second router');
    await Promise.all([a1, a2, b1].map((c) => receiving(c, 4)));

    // Everybody silent: the observer has a dominant producer already, but nobody was heard.
    await sleep(2000);
    assert.equal((await room()).activeSpeaker, null);
    for (const c of [a1, a2, b1]) assert.deepEqual(c.notifications('activeSpeaker'), [], `${c.peerId} was told of no speaker`);
    assert.deepEqual(await raised(), []);

    // b1 speaks (its audio is piped from the second router to the observers on the first).
    const mark = new Map(clients.map((c) => [c, c.messages.length]));
    b1.setAudioLevel('speech');
    await Promise.all([a1, a2, b1].map((c) => announced(c, mark.get(c)!, 'b1')));
    await a1.waitForNotification('speaking', (x) => x.peerIds.includes('b1'), 10_000, mark.get(a1));
    await until(async () => (await raised()).length === 2, 'the priorities of b1 video consumers to be raised');
    assert.deepEqual(await raised(), [
      ['a1', 'b1', 'video', SPEAKER_PRIORITY],
      ['a2', 'b1', 'video', SPEAKER_PRIORITY],
    ]);
    const r2 = await room();
    assert.equal(r2.activeSpeaker, 'b1');

    // b1 stops, a1 speaks: the floor moves; b1's consumers go back to the default.
    const mark2 = new Map(clients.map((c) => [c, c.messages.length]));
    b1.setAudioLevel(SILENT);
    a1.setAudioLevel('speech');
    await Promise.all([a1, a2, b1].map((c) => announced(c, mark2.get(c)!, 'a1')));
    await a2.waitForNotification('speaking', (x) => x.peerIds.length === 1 && x.peerIds[0] === 'a1', 10_000, mark2.get(a2));
    await until(async () => JSON.stringify(await raised()) === JSON.stringify([['a2', 'a1', 'video', SPEAKER_PRIORITY], ['b1', 'a1', 'video', SPEAKER_PRIORITY]]), 'a1 raised, b1 reset');

    // A peer joining now is told who the speaker is, and its new consumer of a1's video starts raised.
    const c1 = await join('c1');
    await c1.waitForNotification('activeSpeaker', (x) => x.peerId === 'a1', 10_000);
    await receiving(c1, 6);
    await until(async () => (await raised()).some(([to, from]) => to === 'c1' && from === 'a1'), 'c1 consumer of a1 video raised');
    assert.deepEqual((await raised()).filter(([to]) => to === 'c1'), [['c1', 'a1', 'video', SPEAKER_PRIORITY]]);

    // The speaker leaves: nobody is the speaker, no priority stays raised.
    const mark3 = new Map(clients.map((c) => [c, c.messages.length]));
    await a1.close();
    await Promise.all([a2, b1, c1].map((c) => announced(c, mark3.get(c)!, null)));
    await until(async () => (await raised()).length === 0 && (await room()).activeSpeaker === null, 'no speaker, nothing raised').catch(async (e: Error) => {
      const r = await room();
      throw new Error(`${e.message}: speaker ${r.activeSpeaker}, raised ${JSON.stringify(await raised())}, peers ${JSON.stringify(r.peers.map((p: any) => [p.id, p.consumers]))}`);
    });
  });
});
