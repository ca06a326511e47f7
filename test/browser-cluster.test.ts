/**
 * The page in a cluster: a page served by one node joins a room held by another. Its signalling is
 * sent there (`moved`), and the two browsers see and hear each other through that node's SFU.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { announceMissingChromium, closePage, joined, launchChromium, openPage, peerId, receivingFrom, skipWithoutChromium } from './helpers/browser.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';

announceMissingChromium('cluster page tests');

describe('the page across two nodes', { concurrency: false, timeout: 120_000 }, () => {
  let c: TestCluster | undefined;
  let browser: Browser | undefined;
  const problems: string[] = [];

  before(async (t) => {
    if (skipWithoutChromium(t as any)) return;
    c = await startCluster({ nodes: ['node-a', 'node-b'] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await c?.stop();
  });

  test('a page served by one node joins the room held by the other: its signalling moves there, media flows both ways', async (t) => {
    if (skipWithoutChromium(t)) return;
    const [N1, N2] = c!.nodes as [TestCluster['nodes'][number], TestCluster['nodes'][number]];
    const sockets: string[] = [];
    const ann = await openPage(browser!, `${N1.http}/join/across?name=Ann`, 'ann', problems);
    await joined(ann, 0);
    // A: the node that holds the room (idle nodes tie and it stays on N1, but CPU at start-up may count); B: the other.
    const holder = (await N1.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === 'across')?.node;
    const [A, B] = holder === 'node-a' ? [N1, N2] : [N2, N1];
    const bob: Page = await openPage(browser!, null, 'bob', problems);
    bob.on('websocket', (ws) => sockets.push(ws.url()));
    await bob.goto(`${B.http}/join/across?name=Bob`);
    await joined(bob, 1);
    const [annId, bobId] = [await peerId(ann), await peerId(bob)];
    await receivingFrom(bob, [annId]);
    await receivingFrom(ann, [bobId]);
    const port = (u: string) => new URL(u).port;
    assert.deepEqual(sockets.map(port), [port(B.http), port(A.http)], 'first to B (which serves the page), then to A');
    const rooms = (await B.admin('GET', '/v1/rooms')).body.rooms;
    assert.deepEqual(rooms.map((r: any) => [r.name, r.node, r.peers.length]), [['across', 'node-a', 2]]);
    assert.deepEqual(problems, []);
    await closePage(bob);
    await closePage(ann);
  });
});
