/**
 * Recording at its edges, against a real daemon with Debian's ffmpeg writing the files and ffprobe
 * reading them (werift peers sending generated Opus, as in recording-guests.test.ts): a recording
 * stopped while participants are muted (no RTP reaches their ffmpeg), `record start` and `record
 * stop` racing each other, a recordings disk that is low or fills up (a tmpfs the test mounts: needs
 * root, as CI runs the tests), and the daemon stopped with SIGTERM while recording.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { ffmpegChildren, ffprobe, HAVE_FFMPEG, sideCars } from './helpers/recording.ts';
import { joinPeer, receiving, type SfuClient } from './helpers/sfu-client.ts';
import { pidAlive, until, waitFor } from './helpers/wait.ts';

if (!HAVE_FFMPEG) console.log('\n########## SKIPPED: recording tests need ffmpeg (apt-get install ffmpeg; see test/apt-packages.txt) ##########\n');

let d: RunningDaemon | undefined;
const clients: SfuClient[] = [];

const ctl = (...args: string[]) => confctl(['--socket', d!.socket, ...args]);
const recDir = () => join(d!.dataDir, 'recordings');
const audit = async () => (await d!.admin('GET', '/v1/audit?limit=1000')).body.events as any[];
const failures = async () => (await audit()).filter((e) => e.type === 'recording.failed');
const active = async () => (await d!.admin('GET', '/v1/recordings')).body.active as any[];
const ffmpegs = () => ffmpegChildren(d!.proc.pid!);
const cars = (room: string) => sideCars(recDir()).filter((c) => c.room === room);
/** A participant sending generated Opus, receiving everyone else. */
async function peer(room: string, name: string): Promise<SfuClient> {
  const c = await joinPeer(d!.http, { room, name, produce: ['audio'], consume: true });
  clients.push(c);
  return c;
}

/** Mutes a participant's microphone at the server: no RTP for its recording any more. */
async function mute(c: SfuClient): Promise<void> {
  for (const id of c.producerIds.values()) await c.request('pauseProducer', { producerId: id });
}

/**
 * Waits until each of `senders` has sent `seconds` more of audio (a generated Opus packet is 20 ms; a
 * loaded machine sends fewer than 50 a second). A file's size says nothing yet: ffmpeg writes in
 * 32 KiB blocks, and these packets are small.
 */
async function sent(senders: SfuClient[], seconds: number): Promise<void> {
  const packets = (c: SfuClient) => [...c.generators.values()].reduce((n, g) => n + g.packets, 0);
  const from = senders.map(packets);
  await waitFor(`${seconds} s of audio sent`, async () => senders.map((c, i) => packets(c) - from[i]!), (n) => n.every((x) => x >= seconds * 50), 60_000);
}

/** Starts recording `room` and waits until its participants have sent 4 s of audio into it. */
async function recordWithMedia(room: string, senders: SfuClient[]): Promise<{ file: string; peerId: string }[]> {
  const r = await ctl('--json', 'record', 'start', '--room', room);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const started = JSON.parse(r.stdout).files as { file: string; peerId: string }[];
  assert.equal(started.length, senders.length, r.stdout);
  await sent(senders, 4);
  return started;
}

/** The file is a finished WebM: ffprobe reads its duration and its Opus stream. */
function assertFinalised(file: string, what: string): void {
  const p = ffprobe(file);
  assert.deepEqual(p.streams, ['audio:opus'], `${what}: ${file}`);
  assert.ok(Number.isFinite(p.duration) && p.duration > 0, `${what}: ffprobe reads no duration in ${file} (${p.duration}): the WebM was not finalised`);
}

describe('recording at the edges', { concurrency: false, skip: !HAVE_FFMPEG }, () => {
  before(async () => {
    d = await startConfd({ config: { mediasoup: { workers: 1 } } });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    if (d) {
      await d.stop();
      if (!process.env.CONFD_TEST_KEEP) cleanup(dirname(d.dataDir));
    }
  });

  test('stopped while participants are muted: every file is finalised and every ffmpeg ends on SIGINT, not SIGKILL', async () => {
    const carol = await peer('mute', 'Carol');
    // Carol is muted before the recording starts: her ffmpeg never gets a packet.
    await mute(carol);
    const alice = await peer('mute', 'Alice');
    const bob = await peer('mute', 'Bob');
    const r = await ctl('--json', 'record', 'start', '--room', 'mute');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = JSON.parse(r.stdout).files as { file: string; peerId: string }[];
    assert.equal(files.length, 3, r.stdout);
    const fileOf = (c: SfuClient) => files.find((f) => f.peerId === c.peerId)!.file;
    await sent([alice, bob], 4);
    // Bob mutes mid-way: his ffmpeg has written media and now waits for packets that do not come.
    await mute(bob);
    const stop = await ctl('--json', 'record', 'stop', '--room', 'mute');
    assert.equal(stop.code, 0, stop.stderr);
    const carOf = (c: SfuClient) => cars('mute').find((x) => x.peerId === c.peerId);
    for (const c of [alice, bob]) {
      assert.equal(carOf(c)?.stopReason, 'stopped', c.peerId);
      assert.equal(carOf(c).error, null, `${carOf(c).peerName}'s ffmpeg did not end on its own: ${carOf(c).error}`);
    }
    assertFinalised(fileOf(alice), 'Alice, who spoke all along');
    assertFinalised(fileOf(bob), 'Bob, muted at the stop');
    // Carol's file never had media: no file is kept (ffmpeg had not even begun it), the side-car says why.
    assert.equal(carOf(carol)?.stopReason, 'stopped');
    assert.match(carOf(carol).error, /^no media reached this file/);
    assert.equal(existsSync(fileOf(carol)), false, 'no empty or broken WebM is left');
    assert.deepEqual(ffmpegs(), [], 'no ffmpeg left');
    assert.deepEqual(await failures(), []);
  });

  test('record start and stop racing: one recording at a time, a stop during a start stops it, no failure audited, no ffmpeg left', async () => {
    await peer('race', 'Rae');
    await peer('race', 'Sam');
    // Six starts at once, three through confctl and three straight to the admin socket.
    const viaCtl = () => ctl('record', 'start', '--room', 'race').then((x) => (x.code === 0 ? 'started' : /already being recorded/.test(x.stderr) ? 'taken' : `confctl ${x.code}: ${x.stderr}`));
    const viaSocket = () => d!.admin('POST', '/v1/rooms/race/recording', {}).then((x) => (x.status === 201 ? 'started' : x.status === 409 ? 'taken' : `${x.status}: ${JSON.stringify(x.body)}`));
    const six = await Promise.all([viaCtl(), viaSocket(), viaCtl(), viaSocket(), viaCtl(), viaSocket()]);
    assert.deepEqual([...six].sort(), ['started', 'taken', 'taken', 'taken', 'taken', 'taken'], JSON.stringify(six));
    assert.equal((await active()).filter((a) => a.room === 'race').length, 1);
    await until(() => ffmpegs().length === 2, 'two ffmpegs (one per participant)');

    // A stop and a start at once while it records: the stop ends it; the start is told it is taken,
    // or (when it came after the stop) starts a new recording. Either way one recording at most.
    const [stopped, again] = await Promise.all([d!.admin('DELETE', '/v1/rooms/race/recording', {}), d!.admin('POST', '/v1/rooms/race/recording', {})]);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.ok([201, 409].includes(again.status), JSON.stringify(again.body));
    const now = (await active()).filter((a) => a.room === 'race');
    assert.equal(now.length, again.status === 201 ? 1 : 0, JSON.stringify(now));
    if (again.status === 201) assert.equal((await d!.admin('DELETE', '/v1/rooms/race/recording', {})).status, 200);

    // A start and a stop at once on a room not being recorded: the stop waits for the start and
    // stops what it started; nothing is left recording.
    for (let i = 0; i < 3; i++) {
      const [start, stop] = await Promise.all([d!.admin('POST', '/v1/rooms/race/recording', {}), d!.admin('DELETE', '/v1/rooms/race/recording', {})]);
      assert.equal(start.status, 201, JSON.stringify(start.body));
      assert.equal(stop.status, 200, `round ${i}: the stop sent with the start: ${JSON.stringify(stop.body)}`);
      assert.deepEqual((await active()).filter((a) => a.room === 'race'), [], `round ${i}: nothing left recording`);
      await until(() => ffmpegs().length === 0, `round ${i}: every ffmpeg gone`);
    }
    assert.deepEqual(await failures(), [], 'no recording.failed');
    const events = (await audit()).filter((e) => e.room === 'race' && e.type.startsWith('recording.'));
    const starts = events.filter((e) => e.type === 'recording.start').length;
    assert.equal(events.filter((e) => e.type === 'recording.stop').length, starts, `a stop audited for every start: ${JSON.stringify(events)}`);
    // Stopped at once, a file may have had no media yet: then none is kept. Any file kept is finished.
    for (const c of cars('race')) {
      assert.equal(c.stopReason, 'stopped', JSON.stringify(c));
      // (It may hold a single packet: a WebM ffprobe reads, with no duration to speak of.)
      if (c.error === null) assert.deepEqual(ffprobe(join(recDir(), c.file)).streams, ['audio:opus'], JSON.stringify(c));
      else {
        assert.match(c.error, /^no media reached this file/, JSON.stringify(c));
        assert.equal(existsSync(join(recDir(), c.file)), false);
      }
    }
    assert.deepEqual(ffmpegs(), []);
  });

  test('a low or full recordings disk: start refused clearly; a recording running when it fills stops cleanly, files finalised, the call goes on', async () => {
    const dir = recDir();
    mkdirSync(dir, { recursive: true });
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=160m,mode=0700', 'tmpfs', dir], { encoding: 'utf8' });
    assert.equal(mount.status, 0, `cannot mount a tmpfs on ${dir} for the disk tests (they need root, as CI runs them): ${mount.stderr}`);
    const filler = join(dir, 'filler.bin');
    const free = () => {
      const s = statfsSync(dir);
      return s.bavail * s.bsize;
    };
    /** Adds to the filler until at most `left` bytes are free (0: until the disk refuses more). */
    const fillTo = (left: number) => {
      const fd = openSync(filler, 'a');
      try {
        const chunk = Buffer.alloc(1 << 20, 0x61);
        for (;;) {
          const room = free() - left;
          if (room <= 0) break;
          try {
            writeSync(fd, chunk, 0, Math.min(chunk.length, room));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw e;
          }
        }
      } finally {
        closeSync(fd);
      }
    };
    const MiB = 1 << 20;
    try {
      const ann = await peer('disk', 'Ann');
      const ben = await peer('disk', 'Ben');
      const pid = d!.proc.pid;

      // Below what a start needs (100 MiB): refused, saying how much is free and how much it needs.
      fillTo(60 * MiB);
      const refused = await ctl('record', 'start', '--room', 'disk');
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /only \d+ MiB free in \S+recordings \(at least 100 MiB needed to start a recording\)/);
      assert.ok((await failures()).some((e) => e.room === 'disk' && e.reason === 'not_started'));
      assert.deepEqual(ann.notifications('recording'), [], 'nobody is told of a recording that did not start');
      assert.deepEqual(ffmpegs(), []);

      // Room enough: it starts. Then the disk goes below what a recording needs to go on (32 MiB).
      rmSync(filler);
      const first = await recordWithMedia('disk', [ann, ben]);
      fillTo(16 * MiB);
      const low: any = await waitFor('recording.failed (disk_full)', async () => (await failures()).find((e) => e.room === 'disk' && e.reason === 'disk_full'), Boolean, 30_000);
      assert.match(low.error, /only \d+ MiB left on the recordings disk/);
      for (const c of [ann, ben]) await c.waitForNotification('recording', (s) => s.active === false);
      await until(() => ffmpegs().length === 0, 'every ffmpeg to end');
      for (const f of first) {
        const car = cars('disk').find((c) => c.file === f.file.split('/').pop());
        assert.equal(car?.stopReason, 'disk_full', JSON.stringify(car));
        assert.match(car.error ?? '', /only \d+ MiB left on the recordings disk/, 'the side-car says why');
        assertFinalised(f.file, 'a file stopped on a low disk');
      }
      assert.deepEqual(await active(), []);
      assert.equal(d!.proc.pid, pid);
      assert.equal(d!.proc.exitCode, null, 'the daemon runs');
      await Promise.all([ann, ben].map((c) => receiving(c, 1)));
      const again = await ctl('record', 'start', '--room', 'disk');
      assert.equal(again.code, 1, 'still too little room to start');

      // The disk fills up at once (another writer takes every byte): the recording stops, and with the
      // space the recorder held back, each file is still finalised and each side-car written.
      rmSync(filler);
      const second = await recordWithMedia('disk', [ann, ben]);
      const before = (await failures()).length;
      const marks = [ann, ben].map((c) => c.messages.length);
      fillTo(0);
      const full: any = await waitFor('a second recording.failed (disk_full)', async () => (await failures()).slice(before).find((e) => e.room === 'disk'), Boolean, 30_000);
      assert.equal(full.reason, 'disk_full', JSON.stringify(full));
      assert.match(full.error, /only 0 MiB left on the recordings disk/);
      for (const [i, c] of [ann, ben].entries()) await c.waitForNotification('recording', (s) => s.active === false, 10_000, marks[i]);
      await until(() => ffmpegs().length === 0, 'every ffmpeg to end');
      for (const f of second) {
        const car = cars('disk').find((c) => c.file === f.file.split('/').pop());
        assert.equal(car?.stopReason, 'disk_full', JSON.stringify(car));
        assertFinalised(f.file, 'a file stopped on a full disk');
      }
      assert.equal(d!.proc.exitCode, null, 'the daemon runs');
      await Promise.all([ann, ben].map((c) => receiving(c, 1)));
      assert.deepEqual(await active(), []);
    } finally {
      // CONFD_TEST_KEEP=1 keeps what the tmpfs held beside it, to look at.
      if (process.env.CONFD_TEST_KEEP) spawnSync('cp', ['-a', dir, `${dir}.kept`]);
      // Lazily: an ffmpeg a failed check left running must not keep the mount (and the next tests) busy.
      spawnSync('umount', ['-l', dir]);
    }
  });

  test('SIGTERM while recording (one participant muted): every file finalised with reason shutdown, audited, exit code 0', async () => {
    const ada = await peer('bye', 'Ada');
    const bo = await peer('bye', 'Bo');
    const files = await recordWithMedia('bye', [ada, bo]);
    await mute(bo);
    const dataDir = d!.dataDir;
    const recorders = ffmpegs().map((p) => p.pid);
    assert.equal(recorders.length, 2);
    assert.equal(await d!.stop(), 0, d!.stderr());
    for (const f of files) {
      const car = cars('bye').find((c) => c.file === f.file.split('/').pop());
      assert.equal(car?.stopReason, 'shutdown', JSON.stringify(car));
      assert.equal(car.error, null, JSON.stringify(car));
      assertFinalised(f.file, f.peerId === ada.peerId ? 'Ada, speaking at the shutdown' : 'Bo, muted at the shutdown');
    }
    const db = JSON.parse(readFileSync(join(dataDir, 'confd.db.json'), 'utf8'));
    const stops = (db.audit as any[]).filter((e) => e.type === 'recording.stop' && e.room === 'bye');
    assert.deepEqual(stops.map((e) => e.reason), ['shutdown'], JSON.stringify(stops));
    assert.deepEqual(recorders.filter(pidAlive), [], 'no ffmpeg outlives the daemon');
    // Not told that their media worker died (mediasoup's own SIGTERM handler used to close the workers
    // before the daemon's shutdown had begun: peers were asked to rejoin, files ended as media_lost).
    for (const c of [ada, bo]) {
      await until(() => c.closeInfo !== null, `${c.peerId} to be disconnected`);
      assert.deepEqual(c.notifications('disconnected').filter((b) => b.reason === 'worker_died'), [], c.peerId);
    }
  });
});
