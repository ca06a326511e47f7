/**
 * Recording against what guests can do on purpose, with protocol clients (werift peers sending
 * generated Opus RTP; their generated VP8 has no picture ffmpeg can size, so they send audio only)
 * instead of browsers: a real daemon, Debian's ffmpeg writing the files,
 * ffprobe reading them. A muted participant must not end anyone's file; one ffmpeg dying ends only its
 * own file; two `record start` at once; producers swapped quickly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { ffmpegChildren, ffprobe, HAVE_FFMPEG, sideCars as sideCarsIn } from './helpers/recording.ts';
import { joinPeer, type SfuClient } from './helpers/sfu-client.ts';
import { sleep, waitFor } from './helpers/wait.ts';

if (!HAVE_FFMPEG) console.log('\n########## SKIPPED: recording tests need ffmpeg (apt-get install ffmpeg; see test/apt-packages.txt) ##########\n');

let daemon: RunningDaemon | undefined;
const clients: SfuClient[] = [];

const ctl = (...args: string[]) => confctl(['--socket', daemon!.socket, ...args]);
const recDir = () => join(daemon!.dataDir, 'recordings');
const audit = async () => (await daemon!.admin('GET', '/v1/audit?limit=500')).body.events as any[];
const active = async (room: string) => ((await daemon!.admin('GET', '/v1/recordings')).body.active as any[]).find((r) => r.room === room);
const sideCars = () => sideCarsIn(recDir());
const ffmpegs = () => ffmpegChildren(daemon!.proc.pid!);

async function peer(room: string, name: string): Promise<SfuClient> {
  const c = await joinPeer(daemon!.http, { room, name, produce: ['audio'] });
  clients.push(c);
  return c;
}

describe('recording and hostile guests', { concurrency: false, skip: !HAVE_FFMPEG }, () => {
  before(async () => {
    daemon = await startConfd({ config: { mediasoup: { workers: 1 } } });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    if (daemon) {
      await daemon.stop();
      if (!process.env.CONFD_TEST_KEEP) cleanup(dirname(daemon.dataDir));
    }
  });

  test('a guest muted for 16 s ends nobody\'s file; one ffmpeg killed ends only its own file', async () => {
    const alice = await peer('mute', 'Alice');
    const bob = await peer('mute', 'Bob');
    const start = await ctl('--json', 'record', 'start', '--room', 'mute');
    assert.equal(start.code, 0, start.stderr + start.stdout);
    const files = JSON.parse(start.stdout).files as any[];
    const fileOf = (c: SfuClient) => files.find((f) => f.peerId === c.peerId).file as string;
    assert.equal(ffmpegs().length, 2);

    // Bob mutes his microphone: no RTP reaches his ffmpeg any more. ffmpeg's SDP input gives up after
    // 10 s without a packet by default: 16 s leaves a margin for a loaded machine.
    for (const id of bob.producerIds.values()) await bob.request('pauseProducer', { producerId: id });
    // Alice's generator's media time (20 ms a packet; a loaded machine sends fewer than 50 a second).
    const sent = () => [...alice.generators.values()].reduce((n, g) => n + g.packets, 0) * 0.02;
    const sentAtMute = sent();
    await sleep(16_000);
    const sentDuringMute = sent() - sentAtMute;
    const rec = await active('mute');
    assert.ok(rec, 'the recording is still active after 16 s of Bob muted');
    assert.deepEqual(rec.files.map((f: any) => f.peerId).sort(), [alice.peerId, bob.peerId].sort());
    assert.equal(ffmpegs().length, 2, 'both ffmpegs still run');
    assert.equal((await audit()).filter((e) => e.type === 'recording.failed').length, 0);

    // Bob's ffmpeg dies: his file ends, Alice's goes on.
    for (const id of bob.producerIds.values()) await bob.request('resumeProducer', { producerId: id });
    const bobs = ffmpegs().find((p) => p.file === fileOf(bob));
    assert.ok(bobs, JSON.stringify(ffmpegs()));
    process.kill(bobs.pid, 'SIGKILL');
    await waitFor('Bob\'s file to be closed', async () => sideCars().find((c) => c.peerId === bob.peerId)?.stopReason, (r) => r === 'ffmpeg_died');
    const after = await active('mute');
    assert.ok(after, 'the recording goes on');
    assert.deepEqual(after.files.map((f: any) => f.peerId), [alice.peerId]);
    assert.equal(ffmpegs().length, 1);
    assert.match(sideCars().find((c) => c.peerId === bob.peerId).error, /SIGKILL/);
    const lost: any = await waitFor('recording.file_failed in the audit trail', async () => (await audit()).find((e) => e.type === 'recording.file_failed'), Boolean);
    assert.equal(lost.peer, bob.peerId);
    assert.equal(lost.reason, 'ffmpeg_died');

    const stop = await ctl('record', 'stop', '--room', 'mute');
    assert.equal(stop.code, 0, stop.stderr);
    // Alice sent all along: her file holds at least what she sent while Bob was silent.
    const p = ffprobe(fileOf(alice));
    assert.deepEqual(p.streams, ['audio:opus']);
    assert.ok(p.duration >= sentDuringMute, `Alice's file lasts ${p.duration} s; she sent ${sentDuringMute.toFixed(1)} s of audio while Bob was muted`);
    assert.equal(sideCars().find((c) => c.peerId === alice.peerId).stopReason, 'stopped');
    assert.equal((await audit()).filter((e) => e.type === 'recording.failed').length, 0, 'no recording failed');
    assert.equal(daemon!.proc.exitCode, null, 'the daemon runs');
  });

  test('two record start at once: two rooms both start; one room starts once and the other is told it is taken', async () => {
    for (const room of ['twin1', 'twin2', 'twin3']) await peer(room, `In ${room}`);
    const failedBefore = (await audit()).filter((e) => e.type === 'recording.failed').length;
    // Straight to the admin socket, in the same tick: confctl's start-up would spread them apart.
    const start = (room: string) => daemon!.admin('POST', `/v1/rooms/${room}/recording`, {});
    const two = await Promise.all([start('twin1'), start('twin2')]);
    assert.deepEqual(two.map((r) => r.status), [201, 201], JSON.stringify(two.map((r) => r.body)));
    const same = await Promise.all([start('twin3'), start('twin3')]);
    assert.deepEqual(same.map((r) => r.status).sort(), [201, 409], JSON.stringify(same.map((r) => r.body)));
    assert.match(JSON.stringify(same.find((r) => r.status === 409)!.body), /already being recorded/);
    assert.equal((await audit()).filter((e) => e.type === 'recording.failed').length, failedBefore, 'no recording.failed');
    for (const room of ['twin1', 'twin2', 'twin3']) assert.equal((await daemon!.admin('DELETE', `/v1/rooms/${room}/recording`, {})).status, 200);
    assert.deepEqual(readdirSync(recDir()).filter((n) => n.startsWith('.')), [], 'no probe or SDP files left');
  });

  test('no ffmpeg: record start is refused with what to install, nothing is announced, the daemon runs', async () => {
    // CONFD_FFMPEG is how the recorder finds ffmpeg (findTool): pointing nowhere is ffmpeg missing.
    const bare = await startConfd({ config: { mediasoup: { workers: 1 } }, env: { CONFD_FFMPEG: '/nonexistent/ffmpeg' } });
    const c = await joinPeer(bare.http, { room: 'bare', name: 'Dee', produce: ['audio'] });
    try {
      const r = await confctl(['--socket', bare.socket, 'record', 'start', '--room', 'bare']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /ffmpeg is not installed: recording needs it \(Debian: apt-get install ffmpeg\)/);
      assert.deepEqual(c.notifications('recording'), [], 'nobody is told of a recording that did not start');
      const events = (await bare.admin('GET', '/v1/audit?limit=50')).body.events as any[];
      assert.ok(events.some((e) => e.type === 'recording.failed' && e.reason === 'not_started'), JSON.stringify(events.slice(-3)));
      assert.equal((await bare.admin('GET', '/v1/recordings')).body.active.length, 0);
      assert.equal(bare.proc.exitCode, null, 'the daemon runs');
    } finally {
      await c.close();
      await bare.stop();
      if (!process.env.CONFD_TEST_KEEP) cleanup(dirname(bare.dataDir));
    }
  });

  test('guests swapping microphones every 0.9 s: parts per participant stay bounded, logged once each', async () => {
    // With a camera too, the file of a swapped microphone's guest goes on (its ffmpeg still receives),
    // so each swap rolls the file over. (This generated VP8 has no size ffmpeg can read: those ffmpegs
    // give up after a few seconds, one file each.)
    const guests: SfuClient[] = [];
    for (const name of ['G1', 'G2', 'G3']) {
      const c = await joinPeer(daemon!.http, { room: 'churn', name, produce: ['audio', 'video'] });
      clients.push(c);
      guests.push(c);
    }
    const failedBefore = (await audit()).filter((e) => e.type === 'recording.failed').length;
    const start = await ctl('record', 'start', '--room', 'churn');
    assert.equal(start.code, 0, start.stderr);
    const files = () => readdirSync(recDir()).filter((n) => n.startsWith('churn_') && n.endsWith('.webm'));
    const swap = async (c: SfuClient) => {
      const old = c.producerIds.get('audio')!;
      await c.request('closeProducer', { producerId: old });
      c.generators.get(old)?.stop();
      await c.produce('audio');
    };
    const t0 = Date.now();
    for (let round = 0; round < 14; round++) {
      await Promise.all(guests.map(swap));
      await sleep(900);
    }
    // A swap racing a part's set-up (its producer closed before it resumed) ends nobody's recording.
    assert.ok(await active('churn'), 'the recording goes on');
    assert.equal((await audit()).filter((e) => e.type === 'recording.failed').length, failedBefore, 'no recording.failed');
    const perGuest = guests.map((g) => files().filter((n) => n.includes(`_${g.peerId.slice(0, 8)}`)).length);
    // The bound comes from the time up to the count (a loaded machine takes longer over the checks above).
    const seconds = (Date.now() - t0) / 1000;
    const bound = 2 + Math.ceil(seconds / 5);
    assert.ok(perGuest.every((n) => n <= bound), `parts per guest ${JSON.stringify(perGuest)} in ${seconds.toFixed(1)} s: at most ${bound} each`);
    const notes = daemon!.logs.filter((l) => l.room === 'churn' && /producers change too often/.test(l.msg ?? ''));
    assert.deepEqual(notes.map((l) => l.peer).sort(), guests.map((g) => g.peerId).sort(), 'one log line per guest');
    await ctl('record', 'stop', '--room', 'churn');
  });
});
