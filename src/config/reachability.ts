/**
 * Setups the schema accepts but remote guests cannot use: each is valid on its own (every key passes
 * fileConfigSchema), and only the combination fails, usually silently (the page loads, the media
 * never flows). `confd check-config` prints these and `confd start` logs them; they never stop the
 * daemon, because a sysadmin may run a public-looking config on purpose on a test box.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Config } from './load.ts';

export interface Warning {
  /** The config key to change, e.g. 'mediasoup.listenIp'. */
  key: string;
  problem: string;
  fix: string;
}

export interface ReachabilityOptions {
  /** How many workers `mediasoup.workers: "auto"` means; default os.availableParallelism(), as the worker pool does. */
  workerCount?: number;
  /**
   * The kernel's ephemeral port range (Linux: /proc/sys/net/ipv4/ip_local_port_range, read by the
   * caller with readLocalPortRange), or undefined/null when unknown: then nothing is compared with it.
   */
  ephemeralPorts?: readonly [number, number] | null;
}

const HOW_TO_DEPLOY = 'docs/deployment.md';

function blockList(v4: [string, number][], v6: [string, number][]): BlockList {
  const b = new BlockList();
  for (const [net, bits] of v4) b.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of v6) b.addSubnet(net, bits, 'ipv6');
  return b;
}

// BlockList compares addresses, not spellings: '0:0::1' and '::ffff:127.0.0.1' match as browsers see them.
const LOOPBACK = blockList([['127.0.0.0', 8]], [['::1', 128]]);
const UNSPECIFIED = blockList([['0.0.0.0', 32]], [['::', 128]]);
/** Addresses no guest on the internet can send packets to: RFC 1918, CGNAT, link-local, ULA, loopback. */
const NOT_PUBLIC = blockList(
  [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['169.254.0.0', 16], ['127.0.0.0', 8], ['0.0.0.0', 8]],
  [['fc00::', 7], ['fe80::', 10], ['::1', 128], ['::', 128]],
);

function inList(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** A URL's host without IPv6 brackets or the trailing dot of a fully qualified name. */
function bareHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

/** A host that is this machine for every browser: what the Secure Contexts spec treats as potentially trustworthy. */
function isLocalHost(host: string): boolean {
  const h = bareHost(host);
  return h === 'localhost' || h.endsWith('.localhost') || inList(LOOPBACK, h);
}

/** Public as far as a pure function can tell: a DNS name (not resolved here) or a routable IP literal. */
function isPublicHost(host: string): boolean {
  const h = bareHost(host);
  if (isLocalHost(h)) return false;
  return isIP(h) === 0 || !inList(NOT_PUBLIC, h);
}

function publicUrlHost(config: Config): string | null {
  return config.server.publicUrl ? bareHost(new URL(config.server.publicUrl).hostname) : null;
}

/** Why this config looks meant for guests on other machines, or null when everything in it is local. */
function remoteIntent(config: Config): string | null {
  const host = publicUrlHost(config);
  if (host !== null && !isLocalHost(host)) return `server.publicUrl is ${config.server.publicUrl}`;
  if (!isLocalHost(config.server.listen)) return `the web page is served on ${config.server.listen} (server.listen)`;
  const announced = config.mediasoup.announcedAddress;
  if (announced !== null && !isLocalHost(announced)) return `mediasoup.announcedAddress is ${announced}`;
  return null;
}

interface TurnTarget {
  index: number;
  url: string;
  host: string;
  port: number;
}

/** turn:HOST[:PORT][?transport=udp|tcp] (RFC 7065); the schema has already checked the shape. */
function parseTurnUrl(url: string, index: number): TurnTarget | null {
  const m = /^(turns?):(\[[^\]]+\]|[^:?]+)(?::([0-9]+))?/.exec(url);
  if (!m) return null;
  const port = m[3] === undefined ? (m[1] === 'turns' ? 5349 : 3478) : Number(m[3]);
  return { index, url, host: bareHost(m[2]!), port };
}

function mediaLoopback(config: Config): Warning[] {
  const ip = config.mediasoup.listenIp;
  const why = remoteIntent(config);
  if (!inList(LOOPBACK, ip) || why === null) return [];
  return [
    {
      key: 'mediasoup.listenIp',
      problem: `media listens on ${ip}, a loopback address guests on other machines cannot reach, but ${why}: they would get the page and no audio or video`,
      fix: `set mediasoup.listenIp to 0.0.0.0 (or this server's own address) and mediasoup.announcedAddress to the public IP or DNS name guests reach it at`,
    },
  ];
}

function unspecifiedWithoutAnnounced(config: Config): Warning[] {
  const ip = config.mediasoup.listenIp;
  if (!inList(UNSPECIFIED, ip) || config.mediasoup.announcedAddress !== null) return [];
  return [
    {
      key: 'mediasoup.announcedAddress',
      problem: `not set while mediasoup.listenIp is ${ip}: the ICE candidates guests get would name ${ip}, which no browser can connect to`,
      fix: `set mediasoup.announcedAddress to the public IP or DNS name of this server (a cloud VM with 1:1 NAT: its public IP), or set mediasoup.listenIp to that IP`,
    },
  ];
}

function announcedNotPublic(config: Config): Warning[] {
  const announced = config.mediasoup.announcedAddress;
  const host = publicUrlHost(config);
  if (announced === null || isIP(announced) === 0 || host === null || !isPublicHost(host)) return [];
  const loopback = inList(LOOPBACK, announced);
  // A private address can still work when every guest is relayed by a TURN server that may reach it
  // (coturn's denied-peer-ip exception for the media server); a loopback one cannot.
  if (!loopback && (!inList(NOT_PUBLIC, announced) || config.turn.urls.length > 0)) return [];
  return [
    {
      key: 'mediasoup.announcedAddress',
      problem: `${announced} is a ${loopback ? 'loopback' : 'private'} address, but server.publicUrl ${config.server.publicUrl} is public: guests on the internet would get ICE candidates they cannot reach`,
      fix: `set mediasoup.announcedAddress to the public IP guests reach this server at (a cloud VM with 1:1 NAT: its public IP)${loopback ? '' : ', or relay guests through TURN (turn.urls and turn.secret)'}`,
    },
  ];
}

const INSECURE_MEDIA = 'browsers give cameras and microphones only to https:// pages (and http://localhost), so guests could not send audio or video';
const TLS_FIX = `put a TLS reverse proxy in front of confd (${HOW_TO_DEPLOY}) and set server.publicUrl to its https:// URL, or set server.tls.cert and server.tls.key`;

function insecureOrigin(config: Config): Warning[] {
  const url = config.server.publicUrl;
  if (url !== null) {
    const u = new URL(url);
    if (u.protocol !== 'http:' || isLocalHost(u.hostname)) return [];
    return [{ key: 'server.publicUrl', problem: `${url} is plain http on a non-local host: ${INSECURE_MEDIA}`, fix: TLS_FIX }];
  }
  // Without publicUrl the daemon builds join links from its own listen address and scheme.
  if (isLocalHost(config.server.listen) || config.server.tls.cert !== null) return [];
  return [
    {
      key: 'server.publicUrl',
      problem: `not set while the web page is served without TLS on ${config.server.listen} (server.listen): join links would be plain http:// to this machine, and ${INSECURE_MEDIA}`,
      fix: TLS_FIX,
    },
  ];
}

/** A TURN credential cannot be revoked: one valid for hours outlives a kick or a revocation by hours. */
function turnTtlLong(config: Config): Warning[] {
  if (config.turn.urls.length === 0 || config.turn.ttlSeconds <= 3600) return [];
  return [
    {
      key: 'turn.ttl',
      problem: `${config.turn.ttl}: a TURN credential cannot be revoked, so a kicked or revoked guest may open new relays for that long`,
      fix: 'set turn.ttl to minutes (the default 10m): a relay already allocated outlives its credential, so calls in progress are not cut',
    },
  ];
}

function turnOnLoopback(config: Config, turns: TurnTarget[]): Warning[] {
  const why = remoteIntent(config);
  if (why === null) return [];
  return turns
    .filter((t) => isLocalHost(t.host))
    .map((t) => ({
      key: `turn.urls[${t.index}]`,
      problem: `${t.url} names ${t.host}, which guests on other machines cannot reach, but ${why}`,
      fix: `name the TURN server by the public DNS name or IP guests reach it at, e.g. turn:turn.example.org:3478?transport=udp`,
    }));
}

// turn.secret without turn.urls, or the reverse, is refused by fileConfigSchema (turn's refine), and
// no flag or environment variable sets either after parsing, so no loaded Config can have it.

interface PortClaim {
  key: string;
  what: string;
  /** What to change so this claim stops overlapping the other. */
  move: string;
  lo: number;
  hi: number;
}

function range(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/**
 * Ports this machine would bind twice. Every claim below includes TCP (HTTP; mediasoup's ICE-TCP;
 * coturn listens on UDP and TCP on each of its ports), so any overlap is a collision whatever the protocol.
 */
function portCollisions(config: Config, workerCount: number, turns: TurnTarget[]): Warning[] {
  const warnings: Warning[] = [];
  const { port, portRange } = config.mediasoup;
  let media: PortClaim;
  if (port !== null) {
    const hi = port + workerCount - 1;
    media = { key: 'mediasoup.port', what: `media ports ${range(port, hi)} (mediasoup.port, one per worker, ${workerCount} worker${workerCount === 1 ? '' : 's'})`, move: 'move mediasoup.port', lo: port, hi };
    if (hi > 65535) {
      warnings.push({
        key: 'mediasoup.port',
        problem: `${workerCount} workers from port ${port} need ports up to ${hi}, beyond 65535: the workers past 65535 cannot listen`,
        fix: `set mediasoup.port to at most ${65536 - workerCount}, or fewer mediasoup.workers`,
      });
    }
  } else {
    media = { key: 'mediasoup.portRange', what: `media ports ${range(portRange[0], portRange[1])} (mediasoup.portRange)`, move: 'move mediasoup.portRange', lo: portRange[0], hi: portRange[1] };
  }
  const others: PortClaim[] = [];
  // Port 0 is "any free port": the kernel picks one that is not in use.
  if (config.server.port !== 0) others.push({ key: 'server.port', what: `server.port ${config.server.port} (HTTP)`, move: 'change server.port', lo: config.server.port, hi: config.server.port });
  // Only a TURN server on this machine can collide; a pure function cannot resolve names, so "this
  // machine" is a loopback name or one of the addresses the config itself gives this server.
  const ownNames = new Set([config.mediasoup.listenIp, config.mediasoup.announcedAddress, publicUrlHost(config)].filter((h): h is string => h !== null && !inList(UNSPECIFIED, h)).map(bareHost));
  const seen = new Set<string>();
  for (const t of turns) {
    if (!(isLocalHost(t.host) || ownNames.has(t.host)) || seen.has(`${t.host}:${t.port}`)) continue;
    seen.add(`${t.host}:${t.port}`);
    others.push({
      key: `turn.urls[${t.index}]`,
      what: `the TURN server's port ${t.port} (${t.url})`,
      move: `move the TURN server to another port (coturn's listening-port or tls-listening-port, then turn.urls[${t.index}])`,
      lo: t.port,
      hi: t.port,
    });
  }
  const overlaps = (a: PortClaim, b: PortClaim) => a.lo <= b.hi && b.lo <= a.hi;
  for (const other of others) {
    if (!overlaps(media, other)) continue;
    warnings.push({
      key: media.key,
      problem: `${media.what} include ${other.what}: one of them cannot listen`,
      fix: `${media.move} so its ports leave ${range(other.lo, other.hi)} out, or ${other.move}`,
    });
  }
  const http = others.find((o) => o.key === 'server.port');
  for (const other of others) {
    if (http === undefined || other === http || !overlaps(http, other)) continue;
    warnings.push({ key: 'server.port', problem: `${http.what} is also ${other.what}: one of them cannot listen`, fix: `change server.port, or ${other.move}` });
  }
  return warnings;
}

/** "LOW HIGH" as Linux prints ip_local_port_range, or null when the text is not such a range. */
export function parseLocalPortRange(text: string): [number, number] | null {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return null;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return lo >= 1 && lo <= hi && hi <= 65535 ? [lo, hi] : null;
}

/** This machine's ephemeral port range, or null where it cannot be read (not Linux, no /proc). */
export function readLocalPortRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] | null {
  try {
    return parseLocalPortRange(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Media ports the kernel also hands to outgoing sockets: any outgoing connection (a Redis client, a
 * DNS lookup, a browser on this machine) can hold one, and the next restart fails with "media port
 * in use". Listening ports belong below the range.
 */
function mediaPortsEphemeral(config: Config, workerCount: number, ephemeral: readonly [number, number] | null | undefined): Warning[] {
  if (!ephemeral) return [];
  const [elo, ehi] = ephemeral;
  const { port, portRange } = config.mediasoup;
  const [key, lo, hi, what] =
    port !== null
      ? ['mediasoup.port', port, port + workerCount - 1, `media port${workerCount === 1 ? '' : 's'} ${range(port, port + workerCount - 1)} (mediasoup.port, one per worker)`]
      : ['mediasoup.portRange', portRange[0], portRange[1], `media ports ${range(portRange[0], portRange[1])} (mediasoup.portRange)`];
  if (hi < elo || lo > ehi) return [];
  return [
    {
      key,
      problem: `${what} ${lo === hi ? 'is' : 'are'} inside the kernel's ephemeral port range ${elo}-${ehi} (net.ipv4.ip_local_port_range): an outgoing connection can hold one, and confd then fails to start with "media port in use"`,
      fix: `set ${key} below ${elo} (e.g. mediasoup.port 10000 or mediasoup.portRange [16000, 25999], the defaults) and open it in the firewall, or reserve the ports with net.ipv4.ip_local_reserved_ports`,
    },
  ];
}

const HOW_TO_CLUSTER = 'docs/cluster.md';

/** Cluster mode: where browsers are sent, and who can reach the shared Redis. */
function clusterSetup(config: Config): Warning[] {
  const { redis, url } = config.cluster;
  if (redis === null) return [];
  const warnings: Warning[] = [];
  if (url === null && config.server.publicUrl === null) {
    warnings.push({
      key: 'cluster.url',
      problem: `not set (nor server.publicUrl): joins other nodes send here would be told this node's listening address (${config.server.listen}:${config.server.port}), which browsers elsewhere may not reach`,
      fix: `set cluster.url to the URL browsers reach this node itself at, e.g. https://node1.meet.example.org (${HOW_TO_CLUSTER})`,
    });
  } else if (url !== null) {
    const u = new URL(url);
    if (u.protocol === 'http:' && !isLocalHost(u.hostname)) {
      warnings.push({ key: 'cluster.url', problem: `${url} is plain http on a non-local host: a page on https:// may not open signalling there, and ${INSECURE_MEDIA}`, fix: `give the node a TLS name (its own server block in the reverse proxy, ${HOW_TO_CLUSTER}) and set cluster.url to its https:// URL` });
    }
  }
  const r = new URL(redis);
  if (!isLocalHost(r.hostname) && r.protocol === 'redis:' && r.password === '') {
    warnings.push({
      key: 'cluster.redis',
      problem: `${redis} names a Redis on another machine with no password and no TLS: whoever reaches it can make hosts, read the state and send this node admin requests`,
      fix: `protect Redis (requirepass or an ACL user, bind to a private network, rediss:// for TLS) and put the password in the URL, e.g. redis://:PASSWORD@${r.host} (${HOW_TO_CLUSTER})`,
    });
  }
  return warnings;
}

/** The setups in `config` that cannot work for guests on other machines, each with what to change. */
export function reachabilityWarnings(config: Config, opts: ReachabilityOptions = {}): Warning[] {
  const workers = config.mediasoup.workers;
  const workerCount = workers === 'auto' ? (opts.workerCount ?? availableParallelism()) : workers;
  const turns = config.turn.urls.map(parseTurnUrl).filter((t): t is TurnTarget => t !== null);
  return [
    ...insecureOrigin(config),
    ...mediaLoopback(config),
    ...unspecifiedWithoutAnnounced(config),
    ...announcedNotPublic(config),
    ...turnOnLoopback(config, turns),
    ...turnTtlLong(config),
    ...portCollisions(config, workerCount, turns),
    ...mediaPortsEphemeral(config, workerCount, opts.ephemeralPorts),
    ...clusterSetup(config),
  ];
}
