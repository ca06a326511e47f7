import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG } from './defaults.ts';
import type { Config } from './load.ts';
import { parseLocalPortRange, reachabilityWarnings, type Warning } from './reachability.ts';
import { fileConfigSchema } from './schema.ts';

const SECRET = 'ab'.repeat(32);

type Overrides = { [K in keyof Config]?: Record<string, unknown> };

/** A config as loadConfig would give it: defaults with `over` merged per section, through the schema. */
function config(over: Overrides = {}): Config {
  const merged: Record<string, unknown> = structuredClone(DEFAULT_CONFIG) as any;
  for (const [section, values] of Object.entries(over)) merged[section] = { ...(merged[section] as object), ...values };
  // Every case must be a config the schema accepts: a warning about an impossible config proves nothing.
  return { ...fileConfigSchema.parse(merged), configFile: null, socketPath: '/run/confd/confd.sock' };
}

/** A public setup that works: the shape of config/confd.public.json. */
const PUBLIC: Overrides = {
  server: { listen: '127.0.0.1', port: 3010, publicUrl: 'https://meet.example.org', trustProxy: ['127.0.0.1'] },
  mediasoup: { listenIp: '0.0.0.0', announcedAddress: '203.0.113.10', port: 10000, workers: 'auto' },
  turn: { urls: ['turn:turn.example.org:3478?transport=udp', 'turn:turn.example.org:3478?transport=tcp', 'turns:turn.example.org:5349?transport=tcp'], secret: SECRET, ttl: '10m' },
};

function publicWith(over: Overrides): Config {
  const out: Overrides = structuredClone(PUBLIC);
  for (const [section, values] of Object.entries(over)) (out as any)[section] = { ...(out as any)[section], ...values };
  return config(out);
}

const keys = (ws: Warning[]) => ws.map((w) => w.key);

function assertWarnings(ws: Warning[], expected: string[]) {
  assert.deepEqual(keys(ws), expected, JSON.stringify(ws, null, 2));
  for (const w of ws) {
    assert.ok(w.problem.length > 0 && w.fix.length > 0, `${w.key} has a problem and a fix`);
    assert.ok(!/\n/.test(w.problem + w.fix), 'one line each');
  }
}

test('the embedded default (everything on this machine) gives no warnings, whatever "auto" means', () => {
  for (const workerCount of [1, 2, 64]) assertWarnings(reachabilityWarnings(config(), { workerCount }), []);
});

test('good public setups give no warnings', () => {
  assertWarnings(reachabilityWarnings(config(PUBLIC), { workerCount: 8 }), []);
  // IPv6 everywhere, own TLS instead of a proxy, no TURN.
  assertWarnings(reachabilityWarnings(publicWith({
    server: { listen: '::', port: 443, publicUrl: 'https://meet.example.org', tls: { cert: 'c.pem', key: 'k.pem' } },
    mediasoup: { listenIp: '::', announcedAddress: '2001:db8::10' },
    turn: { urls: [], secret: null },
  }), { workerCount: 2 }), []);
  // Listening on the public address itself needs no announcedAddress.
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { listenIp: '203.0.113.10', announcedAddress: null } }), { workerCount: 2 }), []);
  // A DNS name for the media and the per-transport mode.
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { announcedAddress: 'media.example.org', port: null, portRange: [16000, 25999] } })), []);
  // A LAN meeting server: private addresses are right when the guests are on the LAN too.
  assertWarnings(reachabilityWarnings(publicWith({
    server: { publicUrl: 'https://192.168.1.10' },
    mediasoup: { announcedAddress: '192.168.1.10' },
    turn: { urls: [], secret: null },
  }), { workerCount: 2 }), []);
  // A private announced address behind TURN: guests are relayed to it.
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { announcedAddress: '10.0.0.5' } }), { workerCount: 2 }), []);
});

test('local http:// publicUrls are secure contexts: no warning', () => {
  for (const publicUrl of ['http://localhost:3010', 'http://127.0.0.5:3010', 'http://[::1]:3010', 'http://meet.localhost']) {
    assertWarnings(reachabilityWarnings(config({ server: { publicUrl } }), { workerCount: 1 }), []);
  }
});

test('(a) media on loopback while guests come from elsewhere', () => {
  const ws = reachabilityWarnings(publicWith({ mediasoup: { listenIp: '127.0.0.1', announcedAddress: null } }), { workerCount: 2 });
  assertWarnings(ws, ['mediasoup.listenIp']);
  assert.match(ws[0]!.problem, /127\.0\.0\.1.*server\.publicUrl is https:\/\/meet\.example\.org/);
  assert.match(ws[0]!.fix, /mediasoup\.listenIp to 0\.0\.0\.0.*mediasoup\.announcedAddress/);
  // ::1 likewise, and an announcedAddress cannot make a loopback socket reachable.
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { listenIp: '::1' } }), { workerCount: 2 }), ['mediasoup.listenIp']);
  // The HTTP side on the network is a sign of remote guests too (a LAN test box).
  const lan = reachabilityWarnings(config({ server: { listen: '0.0.0.0', tls: { cert: 'c.pem', key: 'k.pem' } } }), { workerCount: 1 });
  assertWarnings(lan, ['mediasoup.listenIp']);
  assert.match(lan[0]!.problem, /served on 0\.0\.0\.0 \(server\.listen\)/);
});

test('(b) listening on every address without announcedAddress', () => {
  for (const listenIp of ['0.0.0.0', '::', '0:0::0']) {
    const ws = reachabilityWarnings(publicWith({ mediasoup: { listenIp, announcedAddress: null } }), { workerCount: 2 });
    assertWarnings(ws, ['mediasoup.announcedAddress']);
    assert.match(ws[0]!.problem, new RegExp(`listenIp is ${listenIp}`));
  }
  // Fires without any sign of remote guests too: such candidates work for nobody.
  assertWarnings(reachabilityWarnings(config({ mediasoup: { listenIp: '0.0.0.0' } }), { workerCount: 1 }), ['mediasoup.announcedAddress']);
});

test('(c) non-local http:// page: no cameras or microphones', () => {
  const ws = reachabilityWarnings(publicWith({ server: { publicUrl: 'http://meet.example.org' } }), { workerCount: 2 });
  assertWarnings(ws, ['server.publicUrl']);
  assert.match(ws[0]!.problem, /http:\/\/meet\.example\.org is plain http/);
  assert.match(ws[0]!.fix, /https:\/\/.*server\.tls\.cert/);
  assertWarnings(reachabilityWarnings(publicWith({ server: { publicUrl: 'http://192.168.1.10:3010' }, mediasoup: { announcedAddress: '192.168.1.10' } }), { workerCount: 2 }), ['server.publicUrl']);
  // No publicUrl, no TLS, served to the network: join links are http://HOSTNAME:PORT.
  const bare = reachabilityWarnings(publicWith({ server: { listen: '0.0.0.0', publicUrl: null } }), { workerCount: 2 });
  assertWarnings(bare, ['server.publicUrl']);
  assert.match(bare[0]!.problem, /without TLS on 0\.0\.0\.0/);
});

test('(d) turn.secret without turn.urls, or the reverse, is the schema\'s to refuse', () => {
  const base = structuredClone(DEFAULT_CONFIG) as any;
  for (const turn of [{ urls: [], secret: SECRET, ttl: '10m' }, { urls: ['turn:turn.example.org'], secret: null, ttl: '10m' }]) {
    const r = fileConfigSchema.safeParse({ ...base, turn });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error!.issues), /set both turn\.urls and turn\.secret/);
  }
});

test('announcedAddress private or loopback while publicUrl is public', () => {
  const priv = reachabilityWarnings(publicWith({ mediasoup: { announcedAddress: '10.0.0.5' }, turn: { urls: [], secret: null } }), { workerCount: 2 });
  assertWarnings(priv, ['mediasoup.announcedAddress']);
  assert.match(priv[0]!.problem, /10\.0\.0\.5 is a private address/);
  assert.match(priv[0]!.fix, /TURN/);
  for (const a of ['192.168.0.7', '172.20.1.1', '100.64.0.1', 'fd00::1', '::ffff:10.1.2.3']) {
    assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { announcedAddress: a }, turn: { urls: [], secret: null } }), { workerCount: 2 }), ['mediasoup.announcedAddress']);
  }
  // TURN cannot relay to the server's loopback: warned with TURN configured too.
  const lo = reachabilityWarnings(publicWith({ mediasoup: { announcedAddress: '127.0.0.1' } }), { workerCount: 2 });
  assertWarnings(lo, ['mediasoup.announcedAddress']);
  assert.match(lo[0]!.problem, /loopback/);
});

test('a TURN URL on loopback while guests come from elsewhere', () => {
  const ws = reachabilityWarnings(publicWith({ turn: { urls: ['turn:turn.example.org:3478', 'turn:127.0.0.1:3478?transport=udp', 'turns:[::1]:5349'] } }), { workerCount: 2 });
  assertWarnings(ws, ['turn.urls[1]', 'turn.urls[2]']);
  // A local TURN is fine for local guests.
  assertWarnings(reachabilityWarnings(config({ turn: { urls: ['turn:127.0.0.1:3478'], secret: SECRET } }), { workerCount: 1 }), []);
});

test('(e) single-port mode: the workers\' ports reach server.port', () => {
  // 4 workers take 10000-10003; HTTP on 10003 collides, 10004 does not.
  const ws = reachabilityWarnings(config({ server: { port: 10003 } }), { workerCount: 4 });
  assertWarnings(ws, ['mediasoup.port']);
  assert.match(ws[0]!.problem, /media ports 10000-10003 .*4 workers.* include server\.port 10003 \(HTTP\)/);
  assertWarnings(reachabilityWarnings(config({ server: { port: 10004 } }), { workerCount: 4 }), []);
  assertWarnings(reachabilityWarnings(config({ server: { port: 10000 }, mediasoup: { workers: 1 } })), ['mediasoup.port']);
  // "auto" is os.availableParallelism() unless told.
  assertWarnings(reachabilityWarnings(config({ server: { port: 10000 } })), ['mediasoup.port']);
  // A number of workers in the config wins over the "auto" count.
  assertWarnings(reachabilityWarnings(config({ server: { port: 10003 }, mediasoup: { workers: 2 } }), { workerCount: 8 }), []);
  // Port 0 is any free port.
  assertWarnings(reachabilityWarnings(config({ server: { port: 0 } }), { workerCount: 64 }), []);
});

test('(e) single-port mode: ports beyond 65535', () => {
  const ws = reachabilityWarnings(config({ mediasoup: { port: 65534, workers: 3 } }));
  assertWarnings(ws, ['mediasoup.port']);
  assert.match(ws[0]!.fix, /at most 65533/);
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: 65533, workers: 3 } })), []);
});

test('(e) per-transport mode: portRange containing server.port', () => {
  const ws = reachabilityWarnings(config({ server: { port: 20000 }, mediasoup: { port: null } }), { workerCount: 2 });
  assertWarnings(ws, ['mediasoup.portRange']);
  assert.match(ws[0]!.problem, /16000-25999 \(mediasoup\.portRange\) include server\.port 20000/);
  // The single port mode ignores portRange.
  assertWarnings(reachabilityWarnings(config({ server: { port: 20000 } }), { workerCount: 2 }), []);
});

test('(e) the media ports or server.port on a TURN server of this machine', () => {
  const turnAt = (urls: string[]) => ({ urls, secret: SECRET });
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: 3478 }, turn: turnAt(['turn:127.0.0.1?transport=udp', 'turn:127.0.0.1?transport=tcp']) }), { workerCount: 2 }), ['mediasoup.port']);
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { port: 5348 }, turn: turnAt(['turns:203.0.113.10']) }), { workerCount: 2 }), ['mediasoup.port']);
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { port: null, portRange: [3400, 3500] }, turn: turnAt(['turn:meet.example.org:3478']) }), { workerCount: 2 }), ['mediasoup.portRange']);
  assertWarnings(reachabilityWarnings(publicWith({ server: { port: 3478 }, turn: turnAt(['turn:meet.example.org']) }), { workerCount: 2 }), ['server.port']);
  // Another machine's TURN server cannot collide with ours.
  assertWarnings(reachabilityWarnings(publicWith({ mediasoup: { port: 3478 }, turn: turnAt(['turn:turn.example.org:3478']) }), { workerCount: 2 }), []);
});

test('turn.ttl of hours: warned (a credential cannot be revoked); minutes: not', () => {
  assertWarnings(reachabilityWarnings(publicWith({ turn: { ttl: '12h' } }), { workerCount: 2 }), ['turn.ttl']);
  assertWarnings(reachabilityWarnings(publicWith({ turn: { ttl: '1h' } }), { workerCount: 2 }), []);
});

test('cluster: a node needs a URL browsers reach, and a Redis elsewhere needs a password or TLS', () => {
  const node = { url: 'https://node1.meet.example.org', nodeId: 'node1' };
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { ...node, redis: 'redis://:pw@10.0.0.5:6379' } })), []);
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { ...node, redis: 'rediss://10.0.0.5:6380' } })), []);
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { ...node, redis: 'redis://127.0.0.1:6379' } })), []);
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { ...node, redis: 'redis://10.0.0.5:6379' } })), ['cluster.redis']);
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { ...node, url: 'http://node1.meet.example.org', redis: 'redis://127.0.0.1:6379' } })), ['cluster.url']);
  // No cluster.url: server.publicUrl is where joins are sent (one name per node, e.g. DNS per node).
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { url: null, nodeId: null, redis: 'redis://127.0.0.1:6379' } })), []);
  assertWarnings(reachabilityWarnings(config({ cluster: { redis: 'redis://127.0.0.1:6379' } })), ['cluster.url']);
  // Not clustered: nothing to say about cluster keys.
  assertWarnings(reachabilityWarnings(publicWith({ cluster: { url: 'http://node1.meet.example.org', redis: null } })), []);
});

test('(f) media ports inside the kernel\'s ephemeral range (outgoing sockets can hold them): a warning when the range is known', () => {
  const linux: [number, number] = [32768, 60999];
  // The defaults sit below Linux's default range (and below the recorder's ffmpeg ports just under it).
  assertWarnings(reachabilityWarnings(config(), { ephemeralPorts: linux }), []);
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: null } }), { ephemeralPorts: linux }), []);
  assert.ok(DEFAULT_CONFIG.mediasoup.portRange[1] < linux[0] - 6000, 'the default portRange leaves ffmpeg\'s receive ports free');
  const single = reachabilityWarnings(config({ mediasoup: { port: 40000, workers: 2 } }), { ephemeralPorts: linux });
  assertWarnings(single, ['mediasoup.port']);
  assert.match(single[0]!.problem, /media ports 40000-40001 .* inside the kernel's ephemeral port range 32768-60999/);
  assert.match(single[0]!.fix, /below 32768/);
  // The last worker's port reaching in counts too.
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: 32767, workers: 2 } }), { ephemeralPorts: linux }), ['mediasoup.port']);
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: null, portRange: [30000, 39999] } }), { ephemeralPorts: linux }), ['mediasoup.portRange']);
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: null, portRange: [61000, 62000] } }), { ephemeralPorts: linux }), []);
  // Unknown range (no /proc): nothing to compare with.
  assertWarnings(reachabilityWarnings(config({ mediasoup: { port: 40000, workers: 2 } })), []);
});

test('parseLocalPortRange: /proc/sys/net/ipv4/ip_local_port_range as read, or null', () => {
  assert.deepEqual(parseLocalPortRange('32768\t60999\n'), [32768, 60999]);
  assert.deepEqual(parseLocalPortRange('1024 65000'), [1024, 65000]);
  for (const bad of ['', 'x y', '60999 32768', '0 70000', '32768']) assert.equal(parseLocalPortRange(bad), null, JSON.stringify(bad));
});
