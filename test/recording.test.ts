/**
 * `confctl record`: a real daemon, two Chromium pages with fake camera and microphone (real VP8 and
 * Opus from the browser's encoders), Debian's ffmpeg writing the WebM files and ffprobe measuring them.
 * Covers a 6-second recorded call, a participant rejoining mid-recording (its file rolls over to a
 * second part), ffmpeg killed mid-way (only its file ends), and a read-only recordings directory: the
 * call goes on each time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, closePage, joined, launchChromium, openPage, peerId, receivingFrom, skipWithoutChromium, visible } from './helpers/browser.ts';
import { ffmpegChildren, ffprobe, HAVE_FFMPEG, sideCars as sideCarsIn } from './helpers/recording.ts';
import { sleep, waitFor } from './helpers/wait.ts';

announceMissingChromium('recording tests');
if (!HAVE_FFMPEG) console.log('\n########## SKIPPED: recording tests need ffmpeg (apt-get install ffmpeg; see test/apt-packages.txt) ##########\n');

let daemon: RunningDaemon | undefined;
let browser: Browser | undefined;
const problems: string[] = [];
let a: Page | undefined;
let b: Page | undefined;
let ida = '';
let idb = '';

const ctl = (...args: string[]) => confctl(['--socket', daemon!.socket, ...args]);
const recDir = () => join(daemon!.dataDir, 'recordings');
const audit = async () => (await daemon!.admin('GET', '/v1/audit?limit=500')).body.events as any[];
const flagShown = (p: Page) => visible(p, '#flag-recording');
const sizeOf = (file: string) => (existsSync(file) ? statSync(file).size : 0);

const ffmpegs = () => ffmpegChildren(daemon!.proc.pid!).map((p) => p.pid);
const sideCars = () => sideCarsIn(recDir());

describe('recording with confctl', { concurrency: false, skip: !HAVE_FFMPEG }, () => {
  before(async () => {
    [daemon, browser] = await Promise.all([startConfd({ config: { mediasoup: { workers: 1 } } }), launchChromium()]);
    a = await openPage(browser, `${daemon.http}/join/rec?name=Ann%20Lee`, 'Ann', problems);
    b = await openPage(browser, `${daemon.http}/join/rec?name=Bob`, 'Bob', problems);
    await Promise.all([joined(a, 1), joined(b, 1)]);
    [ida, idb] = [await peerId(a), await peerId(b)];
    await Promise.all([receivingFrom(a, [idb]), receivingFrom(b, [ida])]);
  });

  after(async () => {
    if (a) await closePage(a).catch(() => {});
    if (b) await closePage(b).catch(() => {});
    await browser?.close().catch(() => {});
    if (daemon) {
      await daemon.stop();
      if (!process.env.CONFD_TEST_KEEP) cleanup(dirname(daemon.dataDir));
    }
  });

  test('a 6-second call with two peers: one WebM each (VP8 + Opus), private files, side-cars, audit, everyone told', async (t) => {
    if (skipWithoutChromium(t)) return;
    assert.equal(await flagShown(a!), false, 'no recording indicator before');
    const tStart = Date.now();
    const start = await ctl('--json', 'record', 'start', '--room', 'rec');
    assert.equal(start.code, 0, start.stderr + start.stdout);
    const started = JSON.parse(start.stdout);
    assert.equal(started.room, 'rec');
    assert.equal(started.files.length, 2, JSON.stringify(started));
    assert.deepEqual(started.files.map((f: any) => f.peerId).sort(), [ida, idb].sort());
    // The ~6 s below count from the first media in both files: a file starts at its first key frame,
    // which a loaded machine can take seconds to deliver (a file of 1.2 and one of 3.2 s were seen).
    await waitFor('both files to hold media', async () => started.files.map((f: any) => sizeOf(f.file)), (sizes: number[]) => sizes.every((n) => n > 20_000), 20_000);
    const tMedia = Date.now();
    await Promise.all([waitFor('Ann to see the indicator', () => flagShown(a!), Boolean), waitFor('Bob to see the indicator', () => flagShown(b!), Boolean)]);

    // While recording, dynacast keeps every sender's layers on (the recorder takes the top one).
    const dynacast = async () => ((await daemon!.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === 'rec')?.peers ?? []).flatMap((p: any) => p.dynacast ?? []);
    await waitFor('every simulcast sender to keep all layers', dynacast, (ds: any[]) => ds.length > 0 && ds.every((x) => x.maxSpatialLayer === x.layers - 1));
    // Even when no page shows any video (both tabs hidden: their consumers pause, and dynacast would
    // switch the senders down to layer 0 after its 2.5 s hold).
    const tabHidden = (p: Page, hidden: boolean) =>
      p.evaluate(`${hidden ? "Object.defineProperty(document, 'visibilityState', { configurable: true, value: 'hidden' })" : 'delete document.visibilityState'}; document.dispatchEvent(new Event('visibilitychange'))`);
    await Promise.all([tabHidden(a!, true), tabHidden(b!, true)]);
    await sleep(4000);
    assert.ok((await dynacast()).every((x: any) => x.maxSpatialLayer === x.layers - 1), JSON.stringify(await dynacast()));
    await Promise.all([tabHidden(a!, false), tabHidden(b!, false)]);

    const again = await ctl('record', 'start', '--room', 'rec');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already being recorded/);

    await sleep(2000); // ~6 s in all since the start, with the 4 s above
    // The files hold media at least up to the moment the stop is asked for, and none after it returned
    // (confctl's own start-up lies between the two: seconds on a loaded machine).
    const tStopAsked = Date.now();
    const stop = await ctl('record', 'stop', '--room', 'rec');
    const tStop = Date.now();
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /stopped recording room rec; 2 files written/);
    await Promise.all([waitFor('Ann to see the indicator go', () => flagShown(a!), (v) => !v), waitFor('Bob to see the indicator go', () => flagShown(b!), (v) => !v)]);

    assert.equal(statSync(recDir()).mode & 0o777, 0o700, 'recordings dir is 0700');
    for (const f of started.files) {
      assert.equal(statSync(f.file).mode & 0o777, 0o600, `${f.file} is 0600`);
      const p = ffprobe(f.file);
      assert.deepEqual(p.streams, ['audio:opus', 'video:vp8'], `${f.file}: ${JSON.stringify(p)}`);
      // At least the time since both files were seen holding media (their first frames came before
      // that), at most the time since the start.
      const [least, most] = [(tStopAsked - tMedia) / 1000 - 1, (tStop - tStart) / 1000 + 1];
      assert.ok(p.duration >= least && p.duration <= most, `${f.file} lasts ${p.duration} s: from ${least.toFixed(1)} to ${most.toFixed(1)} s expected`);
      const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', f.file, '-f', 'null', '-'], { encoding: 'utf8' });
      assert.equal(decode.status, 0);
      // WebRTC video has a variable frame rate: the null muxer re-times decoded frames on a rate guessed
      // from the first ones (e.g. 20 fps) and complains when two frames land on one tick. That is the
      // check's output side, not a decoding error: it is told apart, and the same decode with
      // -fps_mode vfr (which keeps the frames' own times) must be silent.
      // ffmpeg folds repeats of a line into "Last message repeated N times": such a line adds nothing
      // (the line it repeats is either the one told apart above or already fails the check).
      const errors = decode.stderr
        .split('\n')
        .filter((l) => l.trim() && !/^\s*Last message repeated \d+ times?$/.test(l))
        .filter((l) => !/\[null @ 0x[0-9a-f]+\] Application provided invalid, non monotonically increasing dts to muxer in stream 0/.test(l));
      assert.deepEqual(errors, [], `${f.file} decodes without errors`);
      const vfr = spawnSync('ffmpeg', ['-v', 'error', '-i', f.file, '-fps_mode', 'vfr', '-f', 'null', '-'], { encoding: 'utf8' });
      assert.equal(vfr.stderr.trim(), '', `${f.file} decodes without errors (-fps_mode vfr)`);
      assert.match(f.file, /\/rec_(Ann-Lee|Bob)_\d{8}T\d{6}Z_/, 'room, peer name and start time in the file name');
    }
    const cars = sideCars();
    assert.equal(cars.length, 2);
    for (const c of cars) {
      assert.equal(statSync(c.path).mode & 0o777, 0o600);
      assert.equal(c.room, 'rec');
      assert.ok([ida, idb].includes(c.peerId));
      assert.ok(['Ann Lee', 'Bob'].includes(c.peerName));
      assert.equal(c.stopReason, 'stopped');
      assert.equal(c.error, null);
      assert.ok(c.stoppedAt && c.startedAt < c.stoppedAt);
      assert.ok(c.sizeBytes > 10_000, `size ${c.sizeBytes}`);
      assert.deepEqual(c.codecs.map((x: any) => x.mimeType.toLowerCase()).sort(), ['audio/opus', 'video/vp8']);
    }
    assert.deepEqual(readdirSync(recDir()).filter((n) => n.endsWith('.sdp') || n.startsWith('.')), [], 'no SDP or temp files left');

    const events = await audit();
    const s = events.find((e) => e.type === 'recording.start');
    const e = events.find((x) => x.type === 'recording.stop');
    assert.ok(s && e, JSON.stringify(events.slice(-5)));
    const uid = process.getuid!();
    assert.match(s.by, new RegExp(`\\(uid ${uid}\\)`));
    assert.equal(s.room, 'rec');
    assert.equal(e.room, 'rec');

    const list = await ctl('record', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /ROOM\s+PEER\s+STARTED\s+DURATION\s+SIZE\s+STATE\s+FILE/);
    assert.match(list.stdout, /rec\s+Ann Lee\s+.*\s+0:[0-5]\d\s+\d+(\.\d)? (KiB|MiB)\s+stopped\s+rec_Ann-Lee_/);
    assert.match(list.stdout, /rec\s+Bob\s+/);
    const listJson = JSON.parse((await ctl('--json', 'record', 'list')).stdout);
    assert.equal(listJson.active.length, 0);
    assert.equal(listJson.recordings.length, 2);
    assert.ok(listJson.recordings.every((r: any) => r.durationSeconds > 4 && r.sizeBytes > 10_000));
    assert.deepEqual(problems, []);
  });

  test('a joiner learns of the recording and rolls over to a new part; ffmpeg killed mid-way ends only its own file and the call goes on', async (t) => {
    if (skipWithoutChromium(t)) return;
    const t0 = new Date().toISOString();
    const start = await ctl('--json', 'record', 'start', '--room', 'rec');
    assert.equal(start.code, 0, start.stderr + start.stdout);
    await waitFor('Bob to see the indicator', () => flagShown(b!), Boolean);
    // Bob reloads: the same peer comes back (a joiner), with new producers.
    await b!.reload();
    await joined(b!, 1);
    assert.equal(await peerId(b!), idb);
    await waitFor('the rejoined Bob to see the indicator', () => flagShown(b!), Boolean);
    await receivingFrom(a!, [idb]);
    const part2 = await waitFor(
      'Bob\'s file to roll over to part 2',
      async () => (JSON.parse((await ctl('--json', 'record', 'list')).stdout).active[0]?.files ?? []).find((f: any) => f.peerId === idb && f.part === 2),
      Boolean,
    );
    // Both files being written have media in them (under load a new producer's first key frame can take
    // a while): the survivor of the kill below must have something to finalise. (On a loaded machine
    // Bob's camera can come after his microphone's part has started: then his file is on part 3.)
    await waitFor(
      'both files being written to hold media',
      async () => (JSON.parse((await ctl('--json', 'record', 'list')).stdout).active[0]?.files ?? []).filter((f: any) => f.part >= 2 || f.peerId !== idb).map((f: any) => sizeOf(f.file)),
      (sizes: number[]) => sizes.length === 2 && sizes.every((n) => n > 30_000),
      20_000,
    );
    const pids = ffmpegs();
    assert.equal(pids.length, 2, `two ffmpeg processes: ${pids}`);
    process.kill(pids[0]!, 'SIGKILL');

    // That file ends; the other goes on, and so does the recording.
    const failed: any = await waitFor('recording.file_failed in the audit trail', async () => (await audit()).find((e) => e.type === 'recording.file_failed'), Boolean);
    assert.equal(failed.room, 'rec');
    assert.equal(failed.reason, 'ffmpeg_died');
    assert.match(failed.error, /ffmpeg was killed \(SIGKILL\)/);
    await waitFor('one ffmpeg to be left', async () => ffmpegs().length, (n) => n === 1);
    const still = JSON.parse((await ctl('--json', 'record', 'list')).stdout);
    assert.equal(still.active.length, 1, 'the recording goes on');
    assert.equal(still.active[0].files.length, 1);
    assert.equal(await flagShown(a!), true, 'everyone is still told');
    assert.ok(!(await audit()).some((e) => e.type === 'recording.failed'));
    assert.equal((await ctl('record', 'stop', '--room', 'rec')).code, 0);
    await Promise.all([waitFor('Ann to see the indicator go', () => flagShown(a!), (v) => !v), waitFor('Bob to see the indicator go', () => flagShown(b!), (v) => !v)]);
    await waitFor('every ffmpeg to be gone', async () => ffmpegs().length, (n) => n === 0);
    const ended = sideCars().filter((c) => c.stoppedAt && c.startedAt >= t0);
    assert.ok(ended.some((c) => c.stopReason === 'ffmpeg_died' && /SIGKILL/.test(c.error)), JSON.stringify(ended));
    assert.ok(ended.some((c) => c.peerId === idb && c.part === 1 && c.stopReason === 'left'), 'Bob\'s first part ended when his old connection left');
    // The survivor's file was finalised: it decodes.
    const other = ended.find((c) => c.stopReason === 'stopped');
    assert.ok(other, JSON.stringify(ended));
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', join(recDir(), other.file), '-fps_mode', 'vfr', '-f', 'null', '-'], { encoding: 'utf8' });
    assert.equal(decode.stderr.trim(), '', `${other.file} decodes`);
    assert.ok(part2);
    // The call goes on.
    await Promise.all([receivingFrom(a!, [idb]), receivingFrom(b!, [ida])]);
    // A new recording can start again.
    assert.equal((await ctl('record', 'start', '--room', 'rec')).code, 0);
    assert.equal((await ctl('record', 'stop', '--room', 'rec')).code, 0);
  });

  test('a read-only recordings directory: record start fails clearly, the call goes on', async (t) => {
    if (skipWithoutChromium(t)) return;
    if (process.getuid?.() !== 0) return t.skip('needs root for a read-only bind mount');
    const dir = recDir();
    mkdirSync(dir, { recursive: true });
    const mount = spawnSync('mount', ['--bind', dir, dir]);
    if (mount.status !== 0) return t.skip(`cannot bind-mount: ${mount.stderr}`);
    try {
      const ro = spawnSync('mount', ['-o', 'remount,bind,ro', dir]);
      assert.equal(ro.status, 0, String(ro.stderr));
      const before = (await audit()).length;
      const r = await ctl('record', 'start', '--room', 'rec');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /confctl: cannot write recordings in .*recordings: .*read-only file system/i);
      const events = (await audit()).slice(before);
      const failed = events.find((e) => e.type === 'recording.failed');
      assert.ok(failed, JSON.stringify(events));
      assert.equal(failed.reason, 'not_started');
      assert.equal(await flagShown(a!), false, 'nobody is told of a recording that did not start');
      assert.equal(ffmpegs().length, 0);
      await Promise.all([receivingFrom(a!, [idb]), receivingFrom(b!, [ida])]);
      assert.equal((await ctl('record', 'stop', '--room', 'rec')).code, 1, 'nothing to stop');
    } finally {
      spawnSync('umount', [dir]);
    }
    assert.deepEqual(problems, []);
  });
});
