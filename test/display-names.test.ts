/**
 * Display names cannot act on the admin's terminal (issue 21, point 2): a guest whose name carries
 * ESC sequences, BEL, CR/LF and bidi overrides knocks at a lobby and joins a room; `confctl lobby list`
 * and `confctl rooms` print no raw control character, and what everyone sees is the cleaned name.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, joinPeer, RequestFailed, type SfuClient } from './helpers/sfu-client.ts';
import { waitFor } from './helpers/wait.ts';

/** Retitles the terminal, rings, erases the row, then prints a forged one reversed by an RTL override. */
const EVIL = 'Eve\x1b]0;owned\x07\r\x1b[2K\nann  Ann\u202e';
const CLEAN = 'Eve]0;owned [2K ann Ann';
/** What a terminal acts on (line feeds are the output's own; there must be no other). */
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('display names and the admin terminal', { concurrency: false }, () => {
  let d: RunningDaemon;
  const open: SfuClient[] = [];
  const ctl = (...args: string[]) => confctl(['--socket', d.socket, ...args]);

  before(async () => {
    d = await startConfd({ config: { host: { protected: false }, mediasoup: { workers: 1 } } });
  });
  after(async () => {
    for (const c of open) if (c.open) await c.close();
    await d.stop();
    cleanup(join(d.dataDir, '..'));
  });

  test('a knocking guest\'s name reaches `confctl lobby list` cleaned, and the table stays one row', async () => {
    assert.equal((await ctl('lobby', 'on', '--room', 'door')).code, 0);
    const g = await connect(d.http, { room: 'door', peerId: 'eve', name: EVIL });
    open.push(g);
    assert.deepEqual(await g.hello, { role: 'guest', waiting: true });
    const json = await waitFor('the guest in the lobby', async () => JSON.parse((await ctl('--json', 'lobby', 'list', '--room', 'door')).stdout), (r) => r.waiting.length === 1);
    assert.equal(json.waiting[0].displayName, CLEAN);
    const list = await ctl('lobby', 'list', '--room', 'door');
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, RAW, JSON.stringify(list.stdout));
    const lines = list.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, `title, header, one row: ${JSON.stringify(list.stdout)}`);
    assert.match(lines[2]!, /^eve +Eve\]0;owned \[2K ann Ann +\d{4}-/);
    assert.match((await g.waitForNotification('waiting')).message, new RegExp(`as "${CLEAN.replace(/[[\]]/g, '\\$&')}"`));
  });

  test('join and changeDisplayName are cleaned for everyone; `confctl rooms` prints no raw control character', async () => {
    const watcher = await joinPeer(d.http, { room: 'hall', peerId: 'watcher', name: 'Watcher', consume: true });
    open.push(watcher);
    const eve = await joinPeer(d.http, { room: 'hall', peerId: 'eve2', name: EVIL });
    open.push(eve);
    const seen = await watcher.waitForNotification('newPeer', (p) => p.id === 'eve2');
    assert.equal(seen.displayName, CLEAN);

    await eve.request('changeDisplayName', { displayName: 'Host\r\n\u202e(the real one)\x1b[0m' });
    const renamed = await watcher.waitForNotification('peerDisplayNameChanged', (p) => p.peerId === 'eve2');
    assert.equal(renamed.displayName, 'Host (the real one)[0m');
    const blank = await eve.request('changeDisplayName', { displayName: '\x1b\u202e\x07 ' }).catch((e: unknown) => e);
    assert.ok(blank instanceof RequestFailed, 'a name with nothing visible is refused');
    assert.equal(blank.errorCode, 400);
    assert.match(blank.errorReason, /displayName: must have at least one visible character/);

    const rooms = await ctl('rooms');
    assert.equal(rooms.code, 0, rooms.stderr);
    assert.doesNotMatch(rooms.stdout, RAW, JSON.stringify(rooms.stdout));
    assert.match(rooms.stdout, /\n  eve2  Host \(the real one\)\[0m  producers=/);
    assert.equal((await d.admin('GET', '/v1/status')).status, 200, 'the daemon runs on');
  });
});
