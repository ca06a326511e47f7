/**
 * TURN (issue 12): a real coturn (Debian's turnserver, configured from config/coturn/turnserver.conf by
 * test/helpers/coturn.ts) on loopback ports.
 *
 * (a) The credentials confd makes (src/auth/turn-credentials.ts) are the ones coturn accepts, and forged
 *     ones are refused, over UDP and TCP, spoken by a small STUN/TURN client (test/helpers/turn-client.ts).
 * (b) Media between two Chromium pages flows through the relay only: the pages' RTCPeerConnections are
 *     forced to iceTransportPolicy 'relay', and their selected candidate pairs are relay candidates.
 * (c) TURN credentials reach only admitted peers, and never the daemon's logs.
 *
 * coturn is not optional here: without turnserver the tests fail, naming `apt-get install coturn`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { TURN_CREDENTIALS_PER_ADDRESS, turnAddressTag, turnCredentials, turnPassword } from '../src/auth/turn-credentials.ts';
import { startCoturn, readRecipe, type Coturn } from './helpers/coturn.ts';
import { allocate, allocateOn, createPermission, release, StunConnection, type Transport } from './helpers/turn-client.ts';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { announceMissingChromium, HAVE_CHROMIUM, closePage, joined, launchChromium, openPage, peerId, receivingFrom, skipWithoutChromium } from './helpers/browser.ts';
import { connect, RequestFailed, type SfuClient } from './helpers/sfu-client.ts';
import { waitFor } from './helpers/wait.ts';

const SECRET = 'turn-test-secret-0123456789abcdef-0123456789abcdef';
const OTHER_SECRET = 'another-secret-0123456789abcdef-0123456789abcdef';
const PEER = 'peer-Ab_9';
const ADDRESS = '192.0.2.7';
const TRANSPORTS: Transport[] = ['udp', 'tcp'];

let turn: Coturn;
before(async () => {
  turn = await startCoturn({ secret: SECRET, realm: 'confd.test' });
});
after(async () => {
  await turn?.stop();
});

async function stopDaemon(d: RunningDaemon): Promise<void> {
  await d.stop();
  cleanup(dirname(d.dataDir));
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('(a) coturn accepts confd\'s credentials and refuses forged ones', () => {
  test('the recipe keeps its placeholders (no real secret committed) and the derived config changes only what a test must', () => {
    const recipe = readRecipe();
    const value = (k: string) => recipe.filter((l) => l.key === k).map((l) => l.value);
    assert.deepEqual(value('static-auth-secret'), ['REPLACE_WITH_turn.secret_FROM_CONFD_CONFIG']);
    assert.deepEqual(value('use-auth-secret'), [null]);
    assert.deepEqual(value('listening-port'), ['3478']);
    assert.deepEqual(value('tls-listening-port'), ['5349']);
    for (const flag of ['no-cli', 'fingerprint', 'no-multicast-peers', 'no-tlsv1', 'no-tlsv1_1']) assert.deepEqual(value(flag), [null], flag);
    assert.equal(value('allow-loopback-peers').length, 0, 'the recipe never allows loopback peers');
    // Every address is denied; only the media server's is allowed back (issue 21: no open relay to the internet).
    assert.deepEqual(value('denied-peer-ip'), ['0.0.0.0-255.255.255.255', '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']);
    assert.deepEqual(value('allowed-peer-ip'), ['203.0.113.10'], 'the placeholder media address, one line');

    const derived = readRecipe(turn.config);
    const dv = (k: string) => derived.filter((l) => l.key === k).map((l) => l.value);
    assert.deepEqual(dv('static-auth-secret'), [SECRET]);
    assert.deepEqual(dv('listening-port'), [String(turn.port)]);
    assert.deepEqual(dv('allowed-peer-ip'), ['127.0.0.1']);
    assert.deepEqual(dv('denied-peer-ip'), value('denied-peer-ip'), 'every denied range of the recipe is in force');
    assert.deepEqual(dv('tls-listening-port'), []);
    assert.deepEqual(dv('syslog'), []);
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: credentials from turnCredentials() allocate a relay on 127.0.0.1 in the relay port range`, async () => {
      const creds = turnCredentials({ urls: [], secret: SECRET, ttlSeconds: 3600 }, PEER, ADDRESS);
      assert.match(creds.username, new RegExp(`^\\d+:${PEER}:${turnAddressTag(SECRET, ADDRESS)}$`));
      const r = await allocate({ host: turn.host, port: turn.port, transport, username: creds.username, password: creds.credential });
      assert.equal(r.ok, true, JSON.stringify(r));
      if (!r.ok) return;
      assert.equal(r.realm, 'confd.test');
      assert.equal(r.relayed.family, 'IPv4');
      assert.equal(r.relayed.address, '127.0.0.1');
      assert.ok(r.relayed.port >= turn.relayPorts[0] && r.relayed.port <= turn.relayPorts[1], `relay port ${r.relayed.port} in ${turn.relayPorts}`);
      assert.equal(r.mapped?.address, '127.0.0.1');
      assert.equal(r.integrityValid, true, 'coturn signed its answer with the same long-term key');
      assert.equal(r.fingerprintValid, true, 'the recipe\'s `fingerprint` is in force');
    });

    test(`${transport}: forged credentials are refused with 401 after the challenge`, async () => {
      const good = turnCredentials({ urls: [], secret: SECRET, ttlSeconds: 3600 }, PEER, ADDRESS);
      const [expiry, , tag] = good.username.split(':') as [string, string, string];
      const past = `${nowSeconds() - 60}:${PEER}`;
      const forged: [string, string, string][] = [
        ['signed with another secret', good.username, turnCredentials({ urls: [], secret: OTHER_SECRET, ttlSeconds: 3600 }, PEER, ADDRESS).credential],
        ['another peer id with the valid password', `${expiry}:peer-other:${tag}`, good.credential],
        ['another address tag with the valid password', `${expiry}:${PEER}:${turnAddressTag(SECRET, '192.0.2.8')}`, good.credential],
        ['a later expiry with the valid password', `${Number(expiry) + 86_400}:${PEER}:${tag}`, good.credential],
        ['an expiry in the past, signed with the right secret', past, turnPassword(SECRET, past)],
        ['no expiry at all, signed with the right secret', PEER, turnPassword(SECRET, PEER)],
        ['an empty password', good.username, ''],
      ];
      for (const [what, username, password] of forged) {
        const r = await allocate({ host: turn.host, port: turn.port, transport, username, password });
        assert.deepEqual(r, { ok: false, code: 401, reason: 'Unauthorized', stage: 'authenticated', realm: 'confd.test' }, what);
      }
    });
  }

  test('the relay reaches the allowed media address only: loopback, private and public peers stay denied (403)', async () => {
    const creds = turnCredentials({ urls: [], secret: SECRET, ttlSeconds: 3600 }, PEER, ADDRESS);
    const c = await StunConnection.open('udp', turn.host, turn.port);
    try {
      const r = await allocateOn(c, { username: creds.username, password: creds.credential });
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.deepEqual(await createPermission(c, '127.0.0.1'), { ok: true }, 'allowed-peer-ip=127.0.0.1 (the test\'s media server)');
      // Permissions only: nothing is sent to these addresses. A public one other than the media server is
      // refused too: the relay is no proxy to the internet for whoever harvested a credential.
      for (const peer of ['8.8.8.8', '1.1.1.1', '203.0.113.11', '127.0.0.2', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1']) {
        assert.deepEqual(await createPermission(c, peer), { ok: false, code: 403, reason: 'Forbidden IP' }, peer);
      }
      await release(c);
    } finally {
      c.close();
    }
  });
});

// ---- (b) media through the relay ---------------------------------------------------------------------

/**
 * Every RTCPeerConnection of the page may only use relay candidates, and is recorded so that its
 * selected candidate pair can be read. A subclass keeps `instanceof` and static methods working.
 * A string, not a function: tsx would compile a function's class with a `__name` helper the page lacks.
 */
const RELAY_ONLY = `(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  class RelayOnly extends Native {
    constructor(config, ...rest) {
      super({ ...config, iceTransportPolicy: 'relay' }, ...rest);
      made.push(this);
    }
    setConfiguration(config) {
      return super.setConfiguration({ ...config, iceTransportPolicy: 'relay' });
    }
  }
  window.RTCPeerConnection = RelayOnly;
  window.__pcs = made;
})();`;

/** Also records the ICE candidate errors (e.g. a TURN server's 401) of every peer connection. */
const RELAY_ONLY_WITH_ERRORS = `${RELAY_ONLY}
(() => {
  const Relay = window.RTCPeerConnection;
  const errors = [];
  window.__iceErrors = errors;
  window.RTCPeerConnection = class extends Relay {
    constructor(...args) {
      super(...args);
      this.addEventListener('icecandidateerror', (e) => errors.push({ url: e.url, errorCode: e.errorCode }));
    }
  };
})();`;

interface PcView {
  connectionState: string;
  iceTransportPolicy: string | undefined;
  iceServers: { urls: string[]; username: string | undefined; hasCredential: boolean }[];
  local: { candidateType: string; relayProtocol: string; protocol: string; address: string; url: string } | null;
  remote: { candidateType: string; protocol: string; address: string; port: number } | null;
}

/** The page's connected peer connections, each with its selected candidate pair (from getStats). */
function connectedPcs(page: Page): Promise<PcView[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs?: RTCPeerConnection[] }).__pcs;
    if (!pcs) throw new Error('the relay-only init script did not run');
    const out = [];
    for (const pc of pcs) {
      if (pc.connectionState !== 'connected') continue;
      const stats = await pc.getStats();
      let pair: any = null;
      stats.forEach((s: any) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
      });
      const l: any = pair ? stats.get(pair.localCandidateId) : null;
      const r: any = pair ? stats.get(pair.remoteCandidateId) : null;
      const cfg = pc.getConfiguration();
      out.push({
        connectionState: pc.connectionState,
        iceTransportPolicy: cfg.iceTransportPolicy,
        iceServers: (cfg.iceServers ?? []).map((s) => ({ urls: ([] as string[]).concat(s.urls), username: s.username, hasCredential: typeof s.credential === 'string' && s.credential.length > 0 })),
        local: l ? { candidateType: l.candidateType, relayProtocol: l.relayProtocol, protocol: l.protocol, address: l.address, url: l.url } : null,
        remote: r ? { candidateType: r.candidateType, protocol: r.protocol, address: r.address, port: r.port } : null,
      });
    }
    return out;
  });
}

describe('(b) media between two Chromium pages through the TURN relay only', { concurrency: false }, () => {
  let browser: Browser | undefined;
  const problems: string[] = [];
  announceMissingChromium('TURN relay media tests');

  before(async () => {
    if (HAVE_CHROMIUM) browser = await launchChromium();
  });
  after(async () => {
    await browser?.close().catch(() => {});
  });

  for (const transport of TRANSPORTS) {
    test(`turn:...?transport=${transport}: audio and video both ways over relay candidates (relayProtocol ${transport})`, async (t) => {
      if (skipWithoutChromium(t)) return;
      const url = `turn:127.0.0.1:${turn.port}?transport=${transport}`;
      const d = await startConfd({ config: { turn: { urls: [url], secret: SECRET, ttl: '1h' }, mediasoup: { listenIp: '127.0.0.1', workers: 1 } } });
      const pages: Page[] = [];
      try {
        for (const name of ['Ann', 'Bob']) {
          const page = await openPage(browser!, null, `${transport}/${name}`, problems);
          await page.addInitScript({ content: RELAY_ONLY });
          await page.goto(`${d.http}/join/relay-${transport}?name=${name}`);
          pages.push(page);
        }
        const [a, b] = pages as [Page, Page];
        await Promise.all([joined(a, 1), joined(b, 1)]);
        const [ida, idb] = [await peerId(a), await peerId(b)];
        await Promise.all([receivingFrom(a, [idb]), receivingFrom(b, [ida])]);
        const status = await d.admin('GET', '/v1/status');
        const mediaPort = (status.body as { workers: { port: number | null }[] }).workers[0]?.port;
        assert.equal(typeof mediaPort, 'number', JSON.stringify(status.body));

        for (const [page, id] of [[a, ida], [b, idb]] as const) {
          // The send and the receive transport, both connected, both through the relay.
          const pcs = await waitFor(`${id}: two connected peer connections`, () => connectedPcs(page), (l) => l.length === 2 && l.every((p) => p.local && p.remote));
          for (const pc of pcs) {
            assert.equal(pc.iceTransportPolicy, 'relay');
            assert.equal(pc.iceServers.length, 1, JSON.stringify(pc.iceServers));
            assert.deepEqual(pc.iceServers[0]!.urls, [url]);
            assert.match(pc.iceServers[0]!.username ?? '', new RegExp(`^\\d+:${id}:${turnAddressTag(SECRET, '127.0.0.1')}$`), 'the credentials are this peer\'s, at its address');
            assert.equal(pc.iceServers[0]!.hasCredential, true);
            assert.deepEqual(pc.local, { candidateType: 'relay', relayProtocol: transport, protocol: 'udp', address: '127.0.0.1', url }, `${id}: local candidate`);
            // The other end is the SFU itself: a host candidate of mediasoup, reached by coturn over UDP.
            assert.equal(pc.remote?.candidateType, 'host');
            assert.equal(pc.remote?.address, '127.0.0.1');
            assert.equal(pc.remote?.protocol, 'udp');
            assert.equal(pc.remote?.port, mediaPort, 'the single media port of the one worker');
          }
        }
        // coturn's side: an allocation under each peer's username (expiry:peerId:tag), and a permission for the
        // SFU's address (without which the relay passes nothing to it).
        for (const id of [ida, idb]) {
          for (const step of ['ALLOCATE', 'CREATE_PERMISSION']) assert.match(turn.log(), new RegExp(`user <\\d+:${id}:[A-Za-z0-9_-]+>: incoming packet ${step} processed, success`), `coturn: ${step} for ${id}`);
        }
      } finally {
        await Promise.all(pages.map(closePage));
        await stopDaemon(d);
      }
    });
  }

  test('control: with a secret coturn does not share, the relay-only pages get 401 and no media connects', async (t) => {
    if (skipWithoutChromium(t)) return;
    const url = `turn:127.0.0.1:${turn.port}?transport=udp`;
    const d = await startConfd({ config: { turn: { urls: [url], secret: OTHER_SECRET, ttl: '1h' }, mediasoup: { listenIp: '127.0.0.1', workers: 1 } } });
    const pages: Page[] = [];
    // Chromium reports each failed candidate gathering as an error on the console: expected here.
    const expected: string[] = [];
    try {
      for (const name of ['Ann', 'Bob']) {
        const page = await openPage(browser!, null, `bad-secret/${name}`, expected);
        await page.addInitScript({ content: RELAY_ONLY_WITH_ERRORS });
        await page.goto(`${d.http}/join/relay-bad?name=${name}`);
        pages.push(page);
      }
      for (const page of pages) {
        await joined(page, 1);
        // Both transports of the page were refused by coturn...
        const errors = await waitFor(
          'coturn\'s 401 on both transports',
          () => page.evaluate(() => (window as unknown as { __iceErrors: { url: string; errorCode: number }[] }).__iceErrors),
          (e) => e.filter((x) => x.errorCode === 401).length >= 2,
        );
        for (const e of errors) assert.deepEqual(e, { url, errorCode: 401 });
      }
      // ...and with no relay candidate and host candidates forbidden, nothing connects: forcing 'relay' is real.
      for (const page of pages) {
        assert.deepEqual(await connectedPcs(page), []);
        const states = await page.evaluate(() => (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.map((pc) => pc.iceConnectionState));
        assert.ok(states.every((s) => s !== 'connected' && s !== 'completed'), JSON.stringify(states));
      }
      assert.match(turn.log(), /Cannot find credentials of user <\d+:/);
    } finally {
      await Promise.all(pages.map(closePage));
      await stopDaemon(d);
    }
  });

  test('no page threw or logged an error', (t) => {
    if (skipWithoutChromium(t)) return;
    assert.deepEqual(problems, []);
  });
});

// ---- (c) credentials only for admitted peers, never in logs ------------------------------------------

describe('(c) TURN credentials go to admitted peers only, and never into the logs', () => {
  test('a waiting guest gets none; once admitted, its connection gets one expiry:peerId:tag credential for all its transports, valid 10 minutes; the logs never show it', async () => {
    const turnUrls = [`turn:127.0.0.1:${turn.port}?transport=udp`, `turn:127.0.0.1:${turn.port}?transport=tcp`];
    // Debug logging: the most the daemon would ever write about a transport.
    const d = await startConfd({ config: { host: { protected: true }, turn: { urls: turnUrls, secret: SECRET }, mediasoup: { workers: 1 }, log: { level: 'debug' } } });
    const clients: SfuClient[] = [];
    try {
      const guest = await connect(d.http, { room: 'lobby', peerId: 'guest-1' });
      clients.push(guest);
      assert.deepEqual(await guest.hello, { role: 'guest', waiting: true });
      const early = await guest.request('createWebRtcTransport', { producing: false, consuming: true }).catch((e: Error) => e);
      assert.ok(early instanceof RequestFailed, String(early));
      // Every request but hello is refused while waiting (409, as in test/host-protection.test.ts).
      assert.equal(early.errorCode, 409);
      assert.equal(early.errorReason, 'waiting for the host to arrive');
      assert.doesNotMatch(JSON.stringify(guest.messages), /iceServers|turn:|credential/, 'nothing about TURN reaches a waiting guest');

      const issued = await d.admin('POST', '/v1/tokens', { room: 'lobby', presenter: true });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const host = await connect(d.http, { room: 'lobby', peerId: 'host-1', token: (issued.body as { token: string }).token });
      clients.push(host);
      assert.deepEqual(await host.hello, { role: 'host', waiting: false });
      await guest.waitForNotification('admitted');

      const seen: { peer: string; username: string; credential: string; transportId: string }[] = [];
      for (const [c, peer] of [[guest, 'guest-1'], [host, 'host-1']] as const) {
        for (const dir of [{ producing: true, consuming: false }, { producing: false, consuming: true }]) {
          const from = nowSeconds();
          const t = await c.request('createWebRtcTransport', dir);
          const to = nowSeconds();
          assert.equal(t.iceServers.length, 1, JSON.stringify(t.iceServers));
          const s = t.iceServers[0];
          assert.deepEqual(Object.keys(s).sort(), ['credential', 'urls', 'username']);
          assert.deepEqual(s.urls, turnUrls);
          const m = /^(\d+):([^:]+):([^:]+)$/.exec(s.username);
          assert.ok(m, s.username);
          assert.equal(m[2], peer);
          assert.equal(m[3], turnAddressTag(SECRET, '127.0.0.1'), 'the client address, keyed');
          const expiry = Number(m[1]);
          const first = seen.find((x) => x.peer === peer);
          if (first) assert.equal(s.username, first.username, 'the second transport of the connection reuses its credential');
          else assert.ok(expiry >= from + 600 && expiry <= to + 600, `expiry ${expiry} is turn.ttl's default 10m after the request (${from}..${to})`);
          assert.equal(s.credential, turnPassword(SECRET, s.username));
          seen.push({ peer, username: s.username, credential: s.credential, transportId: t.id });
        }
      }
      // An ICE restart (a client's answer to a network change, maybe past the credential's expiry) gets
      // the relays again: the connection's credential while more than half its life is left.
      const restart = await host.request('restartIce', { transportId: seen.find((x) => x.peer === 'host-1')!.transportId });
      assert.ok(restart.iceParameters?.usernameFragment, JSON.stringify(restart));
      assert.deepEqual(restart.iceServers.map((x: { username: string }) => x.username), [seen.find((x) => x.peer === 'host-1')!.username]);
      // What the daemon handed out works on the real TURN server.
      const g = seen[0]!;
      const r = await allocate({ host: turn.host, port: turn.port, transport: 'udp', username: g.username, password: g.credential });
      assert.equal(r.ok, true, JSON.stringify(r));

      await Promise.all(clients.map((c) => c.close()));
      clients.length = 0;
      await stopDaemon(d);
      const logs = d.stdout() + d.stderr();
      assert.ok(logs.length > 0);
      for (const s of seen) assert.equal(logs.includes(s.credential), false, `${s.peer}'s TURN password is not in the daemon's logs`);
      assert.equal(logs.includes(SECRET), false, 'nor is turn.secret');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await stopDaemon(d);
    }
  });

  test(`one address gets at most ${TURN_CREDENTIALS_PER_ADDRESS} live credentials (one per connection); then none, logged once; another address still gets one`, async () => {
    // More connections from one address than the hello bucket lets through (server.joinRate): lifted
    // here, as this test is about the TURN limit behind it.
    const d = await startConfd({ config: { server: { joinRate: { perSecond: 10_000, burst: 10_000 } }, turn: { urls: [`turn:127.0.0.1:${turn.port}?transport=udp`], secret: SECRET }, mediasoup: { workers: 1 } } });
    try {
      const transportOf = async (localAddress: string, peerId: string) => {
        const c = await connect(d.http, { room: 'harvest', peerId, localAddress });
        try {
          return (await c.request('createWebRtcTransport', { producing: false, consuming: true })).iceServers as { username: string }[];
        } finally {
          await c.close();
        }
      };
      const usernames = new Set<string>();
      for (let i = 0; i < TURN_CREDENTIALS_PER_ADDRESS; i++) {
        const servers = await transportOf('127.0.0.1', `h-${i}`);
        assert.equal(servers.length, 1, `connection ${i} gets TURN`);
        usernames.add(servers[0]!.username);
      }
      assert.equal(usernames.size, TURN_CREDENTIALS_PER_ADDRESS, 'one credential per connection');
      assert.deepEqual(await transportOf('127.0.0.1', 'h-over'), [], 'past the limit: no TURN for this address');
      assert.deepEqual(await transportOf('127.0.0.1', 'h-over2'), []);
      const other = await transportOf('127.0.0.2', 'h-other');
      assert.equal(other.length, 1, 'another address is not limited by this one');
      assert.match(other[0]!.username, new RegExp(`:h-other:${turnAddressTag(SECRET, '127.0.0.2')}$`));
      assert.equal(d.logs.filter((l) => /^TURN credentials: this address holds the most allowed/.test(l.msg ?? '')).length, 1, 'one warning, not one per connection');
    } finally {
      await stopDaemon(d);
    }
  });

  test('a daemon without TURN configured answers iceServers: []', async () => {
    const d = await startConfd({ config: { mediasoup: { workers: 1 } } });
    try {
      const c = await connect(d.http, { room: 'plain', peerId: 'plain-1' });
      try {
        const t = await c.request('createWebRtcTransport', { producing: true, consuming: false });
        assert.deepEqual(t.iceServers, []);
      } finally {
        await c.close();
      }
    } finally {
      await stopDaemon(d);
    }
  });
});
