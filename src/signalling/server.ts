import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { createHash } from 'node:crypto';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../log.ts';
import type { JoinAttempt, JoinPolicy } from '../auth/admission.ts';
import type { Rooms } from '../rooms/registry.ts';
import type { StateEntries } from '../rooms/view.ts';
import type { Peer, PeerChannel, TransportQuota } from '../rooms/peer.ts';
import type { Room } from '../rooms/room.ts';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';
import type { ClientIpResolver } from '../edge/client-ip.ts';
import type { HostCheck } from '../edge/host-check.ts';
import { createOriginCheck } from '../edge/origin-check.ts';
import { rateKeyForIp } from '../store/ips.ts';
import { closeWith, CLOSE_CODES, createChannel, type Incoming, floodGuard, handleRequest, readEnvelope, replyError, sendJson } from './connection.ts';
import { firstProblem, SIGNALLING_WORDS } from '../validation/issues.ts';
import { cleanDisplayName, DISPLAY_NAME_MAX, ERROR_CODES, MAX_MESSAGE_BYTES, PEER_ID_RE, SECRET_QUERY_KEYS, type Hello, type HelloResponse } from '../protocol/index.ts';
import { helloSchema } from './schemas.ts';
import { tokenBucket, type RateLimiter } from './rate-limit.ts';
import { isConfdError } from '../errors.ts';
import { closeCode } from '../protocol/errors.ts';
import { setBounded } from '../bounded-map.ts';

export const SIGNALLING_PATH = '/ws';
const PING_INTERVAL_MS = 15_000;
/**
 * Concurrent signalling connections one address (IPv6: one /64) may hold, whatever their state: before
 * its hello, waiting for a host, or in a room (a school or office behind one NAT needs dozens).
 */
const MAX_CONNECTIONS_PER_IP = 64;
/** The first message (`hello`, with the credentials) must come within this time. */
const HELLO_TIMEOUT_MS = 10_000;
/** At shutdown, how long a connection has to answer the close before it is cut. */
const SHUTDOWN_CLOSE_MS = 2_000;
/**
 * Hellos per address (server.joinRate, default 20/s, burst 100): enough for a whole office behind one
 * NAT joining at the start of a meeting. A hello costs a credential check, a room's door and a
 * join/leave notice to everyone in the room, and in a cluster a Redis lookup (and maybe a lease), so
 * without it one address reconnecting in a loop took a core (issue 21: 871 hello+join/s).
 */
export const DEFAULT_JOIN_RATE = { perSecond: 20, burst: 100 } as const;
/** Addresses with a bucket at most (the oldest is dropped first; a dropped one starts full again). */
const MAX_HELLO_BUCKETS = 10_000;
/** Frames a client may send before its hello has been answered (the page sends none). */
const MAX_EARLY_FRAMES = 32;

export interface SignallingOptions {
  server: Server;
  rooms: Rooms;
  policy: JoinPolicy;
  log: Logger;
  clientIp: ClientIpResolver;
  /** Host header check (DNS rebinding), shared with the HTTP server. */
  hostOk: HostCheck;
  /** server.publicUrl's origin (e.g. https://meet.example.org), or null: pages served there may connect. */
  publicOrigin: string | null;
  /** Hellos each address may send (server.joinRate); default DEFAULT_JOIN_RATE. */
  joinRate?: { perSecond: number; burst: number };
  /** Cluster mode: where each room is held, and the other nodes' pages (whose joins are sent here). */
  cluster?: {
    route(room: string, address: string): Promise<{ here: true } | { here: false; node: { id: string; url: string } }>;
    originOk(origin: string): boolean;
    /** This node's own URL (cluster.url). */
    selfUrl: string;
  };
}

export interface SignallingServer {
  /** Tells every connection `shutdown` and closes it (at most SHUTDOWN_CLOSE_MS for an unanswered close). */
  close(): Promise<void>;
  connections(): number;
  /** What it keeps per address (StateEntries): hello buckets, connection and transport counts. */
  entries(): StateEntries;
}

type State = 'hello' | 'pending' | 'waiting' | 'room' | 'closed';

/** One signalling connection, whatever its state. */
interface Conn {
  ws: WebSocket;
  ip: string;
  ipKey: string;
  state: State;
  room: string;
  peerId: string;
  displayName: string;
  /** Frames that came before the connection was ready for them, replayed in order. */
  early: [RawData, boolean][];
  /** How the room talks to this connection, and where the client's answers to it go. */
  channel: PeerChannel;
  answer: (m: Extract<Incoming, { kind: 'response' }>) => void;
  timer?: NodeJS.Timeout;
  inRoom?: { room: Room; peer: Peer };
  leaveWaiting?: () => void;
  /** While waiting: for a host to arrive, or in the lobby. */
  waitingFor?: () => 'host' | 'lobby';
}

const refusal = (ws: WebSocket, code: number, message: string) => closeWith(ws, code, 'refused', message);

function parseQuery(req: IncomingMessage): { ok: true; room: string; peerId: string; displayName: string } | { ok: false; message: string } {
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const secret = SECRET_QUERY_KEYS.find((k) => q.has(k));
  if (secret) return { ok: false, message: `"${secret}" must not be in the URL (proxies log URLs); send it in the hello message` };
  const room = q.get('room') ?? '';
  const peerId = q.get('peer') ?? '';
  const name = cleanDisplayName(q.get('name') ?? '');
  if (!isRoomName(room)) return { ok: false, message: roomNameError(room) };
  if (!PEER_ID_RE.test(peerId)) return { ok: false, message: 'invalid or missing peer id' };
  if ([...name].length > DISPLAY_NAME_MAX) return { ok: false, message: `name is longer than ${DISPLAY_NAME_MAX} characters` };
  return { ok: true, room, peerId, displayName: name || `guest-${peerId.slice(0, 4)}` };
}

/** The seed's roomPassword=0/false means "no password". */
const roomPasswordOf = (h: Hello) => (h.roomPassword && h.roomPassword !== '0' && h.roomPassword !== 'false' ? h.roomPassword : null);

/**
 * The WebSocket front door: checks the upgrade (path, Host, Origin, connections per address), reads the
 * hello, asks auth (policy) who it is and the room whether it may enter, then carries its messages.
 * Every room rule is the room's (src/rooms/room.ts); this layer translates results into replies and
 * close codes, and keeps the per-connection limits (flood guard, connections and transports per address).
 */
export function startSignalling(opts: SignallingOptions): SignallingServer {
  const { rooms, log, policy } = opts;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: true });
  const originOk = createOriginCheck(opts.publicOrigin, opts.cluster?.originOk);
  const byIp = new Map<string, Set<Conn>>();
  const alive = new WeakMap<WebSocket, boolean>();

  // Media transports cost the server ports (per-transport mode) or memory (single-port mode): each worker
  // says how many it can hold. No one address may hold more than a quarter of them, so one client cannot
  // starve every other room.
  const portCapacity = rooms.pool.list().reduce((n, w) => n + w.transportCapacity, 0);
  const maxTransports = Math.max(2, portCapacity);
  const maxTransportsPerIp = Math.max(2, Math.min(128, Math.floor(portCapacity / 4)));
  let transportsInUse = 0;
  const joinRate = opts.joinRate ?? DEFAULT_JOIN_RATE;
  const helloBuckets = new Map<string, RateLimiter>();
  function helloAllowed(ipKey: string): boolean {
    let bucket = helloBuckets.get(ipKey);
    if (!bucket) setBounded(helloBuckets, ipKey, (bucket = tokenBucket(joinRate.perSecond, joinRate.burst)), MAX_HELLO_BUCKETS);
    return bucket.take();
  }
  const transportsByIp = new Map<string, number>();

  function quotaFor(ipKey: string): TransportQuota {
    return {
      take() {
        const mine = transportsByIp.get(ipKey) ?? 0;
        if (transportsInUse >= maxTransports) return { code: 'unavailable', message: 'the server has no free media port right now; try again in a minute' };
        if (mine >= maxTransportsPerIp) return { code: 'rate_limited', message: `too many media transports from your address (at most ${maxTransportsPerIp})` };
        transportsInUse++;
        transportsByIp.set(ipKey, mine + 1);
        return null;
      },
      release() {
        transportsInUse = Math.max(0, transportsInUse - 1);
        const n = (transportsByIp.get(ipKey) ?? 1) - 1;
        if (n <= 0) transportsByIp.delete(ipKey);
        else transportsByIp.set(ipKey, n);
      },
    };
  }

  const ping = setInterval(() => {
    // A full bucket is what a new one would be: without this, every address ever seen kept one.
    for (const [ipKey, bucket] of helloBuckets) if (bucket.full()) helloBuckets.delete(ipKey);
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, PING_INTERVAL_MS);
  ping.unref();

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    const refuse = (status: string) => void socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    if (path !== SIGNALLING_PATH) return refuse('404 Not Found');
    if (!opts.hostOk(req.headers.host)) return refuse('421 Misdirected Request');
    const origin = req.headers.origin;
    if (origin && !originOk(origin, req.headers.host)) return refuse('403 Forbidden');
    const ip = opts.clientIp(req);
    const ipKey = rateKeyForIp(ip);
    if ((byIp.get(ipKey)?.size ?? 0) >= MAX_CONNECTIONS_PER_IP) return refuse('429 Too Many Requests');
    wss.handleUpgrade(req, socket, head, (ws) => open(ws, req, ip, ipKey));
  }

  function open(ws: WebSocket, req: IncomingMessage, ip: string, ipKey: string): void {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('error', (e) => log.debug({ err: e.message }, 'websocket error'));
    const q = parseQuery(req);
    const { channel, answer } = createChannel(ws);
    const conn: Conn = { ws, ip, ipKey, state: 'hello', room: q.ok ? q.room : '', peerId: q.ok ? q.peerId : '', displayName: q.ok ? q.displayName : '', early: [], channel, answer };
    let set = byIp.get(ipKey);
    if (!set) byIp.set(ipKey, (set = new Set()));
    set.add(conn);
    ws.on('close', () => forget(conn));
    if (!q.ok) return refusal(ws, CLOSE_CODES.badRequest, q.message);
    conn.timer = setTimeout(() => refusal(ws, CLOSE_CODES.badRequest, 'no hello message in time; send {request, id, method: "hello", data: {session, ...}} first'), HELLO_TIMEOUT_MS);
    conn.timer.unref();
    let flooded = false;
    const allowed = floodGuard(ws, () => {
      if (flooded) return;
      flooded = true;
      log.warn({ room: conn.room, peer: conn.peerId, ip, state: conn.state }, 'signalling flood: closing connection');
      channel.close('rate_limited', USER_MESSAGES.flood);
    });
    ws.on('message', (raw, isBinary) => {
      if (allowed()) route(conn, raw, isBinary);
    });
  }

  function route(conn: Conn, raw: RawData, isBinary: boolean): void {
    const { channel } = conn;
    switch (conn.state) {
      case 'hello': {
        const m = readEnvelope(conn.ws, raw, isBinary);
        if (m.kind !== 'request' || m.method !== 'hello') {
          if (m.kind === 'request') replyError(conn.ws, m.id, ERROR_CODES.badRequest, 'send "hello" first');
          return refusal(conn.ws, CLOSE_CODES.badRequest, 'the first message must be a "hello" request with the credentials');
        }
        const parsed = helloSchema.safeParse(m.data ?? {});
        if (!parsed.success) {
          const problem = `hello: ${firstProblem(parsed.error, SIGNALLING_WORDS)}`;
          replyError(conn.ws, m.id, ERROR_CODES.badRequest, problem);
          return refusal(conn.ws, CLOSE_CODES.badRequest, problem);
        }
        clearTimeout(conn.timer);
        conn.state = 'pending';
        admit(conn, m.id, parsed.data).catch((e: unknown) => {
          // The cluster's Redis is away: say so (rooms already open go on; this join cannot be placed).
          if (isConfdError(e) && e.code === 'cluster_unavailable') return channel.refuse(closeCode('cluster_unavailable'), e.message);
          // Too many new rooms from this address across the cluster (cluster/placement-rate.ts).
          if (isConfdError(e) && e.code === 'rate_limited') return channel.refuse(CLOSE_CODES.rate_limited, e.message);
          log.error({ err: e }, 'could not admit signalling connection');
          channel.refuse(CLOSE_CODES.internal, USER_MESSAGES.couldNotOpen);
        });
        return;
      }
      case 'pending':
        if (conn.early.length >= MAX_EARLY_FRAMES) return channel.refuse(CLOSE_CODES.rate_limited, 'Too many messages before the hello was answered.');
        conn.early.push([raw, isBinary]);
        return;
      case 'waiting': {
        // Nothing can be done before the host arrives or lets it in (no media method, no transport, no
        // consumer: it holds no seat); say so instead of dropping requests silently.
        const m = readEnvelope(conn.ws, raw, isBinary);
        if (m.kind === 'request') replyError(conn.ws, m.id, ERROR_CODES.conflict, conn.waitingFor?.() === 'lobby' ? USER_MESSAGES.stillInLobby : USER_MESSAGES.stillWaiting);
        return;
      }
      case 'room': {
        const m = readEnvelope(conn.ws, raw, isBinary);
        if (m.kind === 'response') return conn.answer(m);
        // Clients have nothing to notify; bad frames were answered.
        if (m.kind === 'request') void handleRequest(conn.ws, conn.inRoom!.room, conn.inRoom!.peer, m, log).catch((e: unknown) => log.error({ err: e }, 'signalling message handler failed'));
        return;
      }
      case 'closed':
        return;
    }
  }

  function forget(conn: Conn): void {
    const was = conn.state;
    conn.state = 'closed';
    clearTimeout(conn.timer);
    const set = byIp.get(conn.ipKey);
    set?.delete(conn);
    if (set?.size === 0) byIp.delete(conn.ipKey);
    if (was === 'room' && conn.inRoom) conn.inRoom.room.leave(conn.inRoom.peer);
    conn.leaveWaiting?.();
  }

  async function admit(conn: Conn, helloId: number, h: Hello): Promise<void> {
    const { ws, channel } = conn;
    const attempt: JoinAttempt = {
      room: conn.room,
      peerId: conn.peerId,
      displayName: conn.displayName,
      token: h.token ?? null,
      hostToken: h.host ?? null,
      roomPassword: roomPasswordOf(h),
      ip: conn.ip,
    };
    // On every node, before any credential or room is looked at.
    if (!helloAllowed(conn.ipKey)) return channel.refuse(CLOSE_CODES.rate_limited, USER_MESSAGES.tooManyJoins);
    if (opts.cluster) {
      // Before any credential is looked at: a room lives on one node, and its joins go there.
      const where = await opts.cluster.route(conn.room, conn.ipKey);
      if (conn.state === 'closed') return;
      if (!where.here) {
        // Sent "elsewhere" to where it already is (nodes sharing one URL behind a balancer): it would loop.
        if (!where.node.url || where.node.url === opts.cluster.selfUrl) {
          log.warn({ room: conn.room, node: where.node.id }, 'cannot send a join to the node holding its room: that node has no URL of its own (set cluster.url on each node)');
          return channel.refuse(closeCode('cluster_unavailable'), USER_MESSAGES.couldNotOpen);
        }
        log.debug({ room: conn.room, node: where.node.id }, 'join sent to the room\'s node');
        sendJson(ws, { response: true, id: helloId, ok: true, data: { moved: where.node.url } satisfies HelloResponse });
        conn.state = 'closed';
        return void ws.close(1000, 'moved');
      }
    }
    const decision = await policy(attempt);
    if (conn.state === 'closed') return;
    if (!decision.ok) return channel.refuse(decision.code, decision.message);
    const { admission } = decision;
    // Revoked while the policy was deciding: its event came before this connection could hear it.
    if (!admission.stillValid()) return channel.refuse(CLOSE_CODES.revoked, USER_MESSAGES.revokedJustNow);
    const room = rooms.room(conn.room);
    const result = await room.admit({
      peerId: conn.peerId,
      displayName: conn.displayName,
      ipKey: conn.ipKey,
      sessionHash: createHash('sha256').update(h.session).digest('hex'),
      admission,
      roomPassword: attempt.roomPassword,
      channel,
      quota: quotaFor(conn.ipKey),
    });
    const { loginNotValid } = decision;
    const respond = (waiting: boolean) =>
      sendJson(ws, { response: true, id: helloId, ok: true, data: { role: admission.role, waiting, ...(loginNotValid ? { loginNotValid } : {}) } satisfies HelloResponse });
    const replayEarly = () => {
      const early = conn.early;
      conn.early = [];
      for (const [raw, isBinary] of early) route(conn, raw, isBinary);
    };
    const inRoom = (peer: Peer) => {
      if (conn.state === 'closed') return room.leave(peer); // gone while it was let in
      conn.inRoom = { room, peer };
      conn.state = 'room';
    };
    if (result.kind === 'refused') return channel.refuse(result.code, result.message);
    if (result.kind === 'entered') {
      inRoom(result.peer);
      respond(false);
      return replayEarly();
    }
    if ((conn.state as State) === 'closed') return result.leave();
    conn.state = 'waiting';
    conn.leaveWaiting = result.leave;
    conn.waitingFor = result.why;
    respond(true);
    sendJson(ws, { notification: true, method: 'waiting', data: { message: result.message } });
    replayEarly();
    const peer = await result.admitted;
    conn.leaveWaiting = undefined;
    if (peer) inRoom(peer);
  }

  opts.server.on('upgrade', onUpgrade);
  return {
    connections: () => wss.clients.size,
    entries: () => ({ hello_buckets: helloBuckets.size, connection_addresses: byIp.size, transport_addresses: transportsByIp.size }),
    async close() {
      clearInterval(ping);
      opts.server.off('upgrade', onUpgrade);
      // Told why (a page reconnects by itself once the daemon is back), then let go; one that does not
      // answer the close in SHUTDOWN_CLOSE_MS is cut, so that it cannot hold the shutdown up.
      const open = [...wss.clients];
      for (const ws of open) closeWith(ws, CLOSE_CODES.shutdown, 'shutdown', USER_MESSAGES.shutdown, true);
      const cut = setTimeout(() => {
        for (const ws of open) ws.terminate();
      }, SHUTDOWN_CLOSE_MS);
      await Promise.all(open.map((ws) => (ws.readyState === ws.CLOSED ? null : new Promise((r) => ws.once('close', r)))));
      clearTimeout(cut);
      wss.close();
    },
  };
}
