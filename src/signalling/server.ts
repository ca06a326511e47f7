import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash, timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../log.ts';
import type { Sfu } from '../sfu/room-registry.ts';
import { isRoomName } from '../sfu/room-name.ts';
import type { ClientIpResolver } from '../http/client-ip.ts';
import type { HostCheck } from '../http/host-check.ts';
import { rateKeyForIp } from '../store/ips.ts';
import { hashRoomPassword, RequestError, type Peer, type Room, type TransportQuota } from '../sfu/room.ts';
import { attachPeer, closeWith, CLOSE_CODES, floodGuard, readEnvelope, replyError, describeIssue, sendJson } from './connection.ts';
import { DISPLAY_NAME_MAX, ERROR_CODES, helloSchema, MAX_MESSAGE_BYTES, PEER_ID_RE, SECRET_QUERY_KEYS, type Hello, type HelloResponse, type Role } from './protocol.ts';

export const SIGNALLING_PATH = '/ws';
const PING_INTERVAL_MS = 15_000;
/**
 * Concurrent signalling connections one address (IPv6: one /64) may hold, whatever their state: before
 * its hello, waiting for a host, or in a room (a school or office behind one NAT needs dozens).
 */
const MAX_CONNECTIONS_PER_IP = 64;
/** The first message (`hello`, with the credentials) must come within this time. */
const HELLO_TIMEOUT_MS = 10_000;
/** A connection in a room must `join` within this time, or its seat is given back. */
const JOIN_DEADLINE_MS = 30_000;
/** Frames a client may send before its hello has been answered (the page sends none). */
const MAX_EARLY_FRAMES = 32;
/** Guests waiting for a host, per room. */
const MAX_WAITING_PER_ROOM = 200;

export interface JoinAttempt {
  room: string;
  peerId: string;
  displayName: string;
  /** Join token, from a link. */
  token: string | null;
  /** Host session token from a login. */
  hostToken: string | null;
  roomPassword: string | null;
  ip: string;
}

export interface Admission {
  role: Role;
  /** Identifies the host credential (session or presenter token) for presence and revocation. */
  hostKey: string | null;
  /** The credential this connection came in on (`token:JTI` or a host-session id), null for none. */
  credential: string | null;
  /** When that credential is revoked: true closes the connection, false only takes host rights away. */
  closeOnRevoke: boolean;
  hasHostRights: () => boolean;
  /** Re-checked when a waiting guest is finally let in. */
  stillValid: () => boolean;
}

export type JoinDecision = { ok: true; admission: Admission } | { ok: false; code: number; message: string };

/** Decides who may connect and with which role (tokens, logins); room rules are applied here. */
export type JoinPolicy = (attempt: JoinAttempt) => JoinDecision | Promise<JoinDecision>;

/** Host presence for the leave-grace logout (see auth/host-protection.ts). */
export interface HostPresence {
  hostPresent(key: string): void;
  hostLeft(key: string): void;
}

/** Credentials that ended (auth/host-protection.ts): their connections end or lose host rights at once. */
export interface CredentialEvents {
  onCredentialEnded(listener: (ended: { keys: string[]; kind: 'revoked' | 'expired' }) => void): void;
}

export interface SignallingOptions {
  server: Server;
  sfu: Sfu;
  policy: JoinPolicy;
  log: Logger;
  clientIp: ClientIpResolver;
  /** Host header check (DNS rebinding), shared with the HTTP server. */
  hostOk: HostCheck;
  /** host.protected: guests wait until a host is in the room. */
  hostProtected: boolean;
  presence?: HostPresence;
  credentials?: CredentialEvents;
  /** How long a departed peer id stays reserved for its own tab (a reload must not lose it to a squatter). */
  reserveIdMs: number;
}

export interface SignallingServer {
  close(): void;
  connections(): number;
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
  attempt?: JoinAttempt;
  admission?: Admission;
  sessionHash?: string;
  peer?: Peer;
  onMessage?: (raw: RawData, isBinary: boolean) => void;
  timer?: NodeJS.Timeout;
}

/** A peer id held by a tab: while it is connected, and for `reserveIdMs` after it left. */
interface IdClaim {
  conn: Conn | null;
  sessionHash: string;
  reservedUntil: number;
}

const refusal = (ws: WebSocket, code: number, message: string) => closeWith(ws, code, 'refused', message);

function parseQuery(req: IncomingMessage): { ok: true; room: string; peerId: string; displayName: string } | { ok: false; message: string } {
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const secret = SECRET_QUERY_KEYS.find((k) => q.has(k));
  if (secret) return { ok: false, message: `"${secret}" must not be in the URL (proxies log URLs); send it in the hello message` };
  const room = q.get('room') ?? '';
  const peerId = q.get('peer') ?? '';
  const name = (q.get('name') ?? '').trim();
  if (!isRoomName(room)) return { ok: false, message: 'invalid or missing room name' };
  if (!PEER_ID_RE.test(peerId)) return { ok: false, message: 'invalid or missing peer id' };
  if ([...name].length > DISPLAY_NAME_MAX) return { ok: false, message: `name is longer than ${DISPLAY_NAME_MAX} characters` };
  return { ok: true, room, peerId, displayName: name || `guest-${peerId.slice(0, 4)}` };
}

function passwordMatches(room: Room, given: string | null): boolean {
  if (!room.access.passwordHash) return true;
  if (given === null) return false;
  return timingSafeEqual(room.access.passwordHash, hashRoomPassword(given));
}

/** The seed's roomPassword=0/false means "no password". */
const roomPasswordOf = (h: Hello) => (h.roomPassword && h.roomPassword !== '0' && h.roomPassword !== 'false' ? h.roomPassword : null);

export function startSignalling(opts: SignallingOptions): SignallingServer {
  const { sfu, log, policy, presence } = opts;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: true });
  const claims = new Map<string, IdClaim>(); // key: room \0 peerId
  const byIp = new Map<string, Set<Conn>>();
  const byCredential = new Map<string, Set<Conn>>();
  const waiting = new Map<string, Set<Conn>>();
  const hostConnections = new Map<string, number>();
  const alive = new WeakMap<WebSocket, boolean>();

  // Media transports: each takes a UDP and a TCP port of its worker's slice of mediasoup.portRange. No
  // one address may hold more than a quarter of them, so one client cannot starve every other room.
  const portCapacity = sfu.pool.list().reduce((n, w) => n + (w.portRange.max - w.portRange.min + 1), 0);
  const maxTransports = Math.max(2, portCapacity);
  const maxTransportsPerIp = Math.max(2, Math.min(128, Math.floor(portCapacity / 4)));
  let transportsInUse = 0;
  const transportsByIp = new Map<string, number>();

  function quotaFor(ipKey: string): TransportQuota {
    return {
      take() {
        const mine = transportsByIp.get(ipKey) ?? 0;
        if (transportsInUse >= maxTransports) return { code: ERROR_CODES.unavailable, message: 'the server has no free media port right now; try again in a minute' };
        if (mine >= maxTransportsPerIp) return { code: ERROR_CODES.rateLimited, message: `too many media transports from your address (at most ${maxTransportsPerIp})` };
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
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
    const t = Date.now();
    for (const [k, c] of claims) if (!c.conn && c.reservedUntil <= t) claims.delete(k);
  }, PING_INTERVAL_MS);
  ping.unref();

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    const refuse = (status: string) => void socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    if (path !== SIGNALLING_PATH) return refuse('404 Not Found');
    if (!opts.hostOk(req.headers.host)) return refuse('421 Misdirected Request');
    // A page on another site must not open sessions with the visitor's cookies/IP: same origin only.
    const origin = req.headers.origin;
    if (origin) {
      let same = false;
      try {
        same = new URL(origin).host === req.headers.host;
      } catch {
        same = false;
      }
      if (!same) return refuse('403 Forbidden');
    }
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
    const conn: Conn = { ws, ip, ipKey, state: 'hello', room: q.ok ? q.room : '', peerId: q.ok ? q.peerId : '', displayName: q.ok ? q.displayName : '', early: [] };
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
      if (conn.peer) conn.peer.channel.close('rate_limited', 'Too many messages; disconnected.');
      else closeWith(ws, CLOSE_CODES.rate_limited, 'rate_limited', 'Too many messages; disconnected.');
    });
    ws.on('message', (raw, isBinary) => {
      if (!allowed()) return;
      route(conn, raw, isBinary);
    });
  }

  function route(conn: Conn, raw: RawData, isBinary: boolean): void {
    switch (conn.state) {
      case 'hello':
        return hello(conn, raw, isBinary);
      case 'pending':
        if (conn.early.length >= MAX_EARLY_FRAMES) return refusal(conn.ws, CLOSE_CODES.rate_limited, 'Too many messages before the hello was answered.');
        conn.early.push([raw, isBinary]);
        return;
      case 'waiting': {
        // Nothing can be done before the host arrives; say so instead of dropping requests silently.
        const m = readEnvelope(conn.ws, raw, isBinary);
        if (m.kind === 'request') replyError(conn.ws, m.id, ERROR_CODES.conflict, 'waiting for the host to arrive');
        return;
      }
      case 'room':
        return conn.onMessage?.(raw, isBinary);
      case 'closed':
        return;
    }
  }

  function hello(conn: Conn, raw: RawData, isBinary: boolean): void {
    const m = readEnvelope(conn.ws, raw, isBinary);
    if (m.kind !== 'request' || m.method !== 'hello') {
      if (m.kind === 'request') replyError(conn.ws, m.id, ERROR_CODES.badRequest, 'send "hello" first');
      return refusal(conn.ws, CLOSE_CODES.badRequest, 'the first message must be a "hello" request with the credentials');
    }
    const parsed = helloSchema.safeParse(m.data ?? {});
    if (!parsed.success) {
      replyError(conn.ws, m.id, ERROR_CODES.badRequest, `hello: ${describeIssue(parsed.error.issues as never)}`);
      return refusal(conn.ws, CLOSE_CODES.badRequest, `hello: ${describeIssue(parsed.error.issues as never)}`);
    }
    clearTimeout(conn.timer);
    conn.state = 'pending';
    admit(conn, m.id, parsed.data).catch((e: unknown) => {
      log.error({ err: e }, 'could not admit signalling connection');
      refusal(conn.ws, 1011, 'The server could not open this room right now; try again.');
    });
  }

  function forget(conn: Conn): void {
    conn.state = 'closed';
    clearTimeout(conn.timer);
    const set = byIp.get(conn.ipKey);
    set?.delete(conn);
    if (set?.size === 0) byIp.delete(conn.ipKey);
    const cred = conn.admission?.credential;
    if (cred) {
      const s = byCredential.get(cred);
      s?.delete(conn);
      if (s?.size === 0) byCredential.delete(cred);
    }
    const w = waiting.get(conn.room);
    if (w?.delete(conn) && w.size === 0) waiting.delete(conn.room);
    const key = `${conn.room}\0${conn.peerId}`;
    const claim = claims.get(key);
    if (claim?.conn === conn) claims.set(key, { conn: null, sessionHash: claim.sessionHash, reservedUntil: Date.now() + opts.reserveIdMs });
  }

  /** Room rules for a guest: a kick ban, locked and password refuse; under host protection no host means wait. */
  function gate(conn: Conn): { refuse: [number, string] } | 'wait' | 'enter' {
    const room = sfu.existingRoom(conn.room);
    const banned = room?.bannedFor(conn.ipKey) ?? 0;
    if (banned > 0) return { refuse: [CLOSE_CODES.forbidden, `You were removed from this room. Try again in ${Math.ceil(banned / 1000)} s.`] };
    if (room?.access.locked) return { refuse: [CLOSE_CODES.locked, 'This room is locked by its host.'] };
    if (room && !passwordMatches(room, conn.attempt!.roomPassword)) return { refuse: [CLOSE_CODES.passwordRequired, 'This room needs a password.'] };
    if (opts.hostProtected && !room?.hasHost()) return 'wait';
    return 'enter';
  }

  /**
   * Takes a peer id for this tab. The same tab (same session secret) replaces its old connection; any
   * other tab is refused while the id is connected, and for reserveIdMs after it left.
   */
  function claimPeerId(conn: Conn): boolean {
    const key = `${conn.room}\0${conn.peerId}`;
    const previous = claims.get(key);
    if (previous && previous.sessionHash !== conn.sessionHash && (previous.conn || previous.reservedUntil > Date.now())) {
      refusal(conn.ws, CLOSE_CODES.conflict, 'That peer id is in use in this room.');
      return false;
    }
    const old = previous?.conn;
    if (old && old !== conn) {
      // Same tab reconnecting (reload, network change): the new connection replaces the old one.
      const oldRoom = sfu.existingRoom(conn.room);
      const oldPeer = oldRoom?.peers.get(conn.peerId);
      if (oldPeer && old.peer === oldPeer) {
        oldPeer.channel.close('replaced', 'This session was opened again elsewhere.');
        oldRoom!.removePeer(conn.peerId);
      } else {
        closeWith(old.ws, CLOSE_CODES.replaced, 'replaced', 'This session was opened again elsewhere.');
      }
      old.state = 'closed';
    } else {
      // A connection still closing (a page reload) would remove the new peer's namesake too late.
      sfu.existingRoom(conn.room)?.removePeer(conn.peerId);
    }
    claims.set(key, { conn, sessionHash: conn.sessionHash!, reservedUntil: 0 });
    return true;
  }

  async function admit(conn: Conn, helloId: number, h: Hello): Promise<void> {
    const { ws } = conn;
    const attempt: JoinAttempt = {
      room: conn.room,
      peerId: conn.peerId,
      displayName: conn.displayName,
      token: h.token ?? null,
      hostToken: h.host ?? null,
      roomPassword: roomPasswordOf(h),
      ip: conn.ip,
    };
    conn.attempt = attempt;
    conn.sessionHash = createHash('sha256').update(h.session).digest('hex');
    const decision = await policy(attempt);
    if (conn.state === 'closed' || ws.readyState !== ws.OPEN) return;
    if (!decision.ok) return refusal(ws, decision.code, decision.message);
    const { admission } = decision;
    // Revoked while the policy was deciding: its event came before this connection could hear it.
    if (!admission.stillValid()) return refusal(ws, CLOSE_CODES.revoked, 'Your credentials were revoked just now. Ask the host for a new link, or log in again.');
    conn.admission = admission;
    if (admission.credential) {
      let s = byCredential.get(admission.credential);
      if (!s) byCredential.set(admission.credential, (s = new Set()));
      s.add(conn);
    }
    if (!claimPeerId(conn)) return;
    const respond = (w: boolean) => sendJson(ws, { response: true, id: helloId, ok: true, data: { role: admission.role, waiting: w } satisfies HelloResponse });
    if (admission.role === 'guest') {
      const g = gate(conn);
      if (typeof g === 'object') return refusal(ws, ...g.refuse);
      if (g === 'wait') return wait(conn, respond);
    } else if (attempt.roomPassword && !sfu.existingRoom(attempt.room)) {
      // The host opening a room may set its password with the seed's roomPassword parameter.
      const room = await sfu.room(attempt.room);
      room.access.passwordHash = hashRoomPassword(attempt.roomPassword);
    }
    if (await enter(conn)) respond(false);
    replayEarly(conn);
  }

  function replayEarly(conn: Conn): void {
    const early = conn.early;
    conn.early = [];
    for (const [raw, isBinary] of early) route(conn, raw, isBinary);
  }

  /** Puts the connection in its room; false when it could not (closed, room full). */
  async function enter(conn: Conn): Promise<boolean> {
    const { ws, admission } = conn;
    const room = await sfu.room(conn.room);
    if (conn.state === 'closed' || ws.readyState !== ws.OPEN) {
      // Gone while the room was being opened: a room nobody enters never sees a last peer leave, so it
      // would stay open for good. Checked after the others awaiting the same room have had their turn.
      setImmediate(() => {
        if (room.peers.size === 0) room.close();
      });
      return false;
    }
    let attached: ReturnType<typeof attachPeer>;
    try {
      attached = attachPeer(ws, room, { peerId: conn.peerId, displayName: conn.displayName, admission: admission!, ipKey: conn.ipKey, quota: quotaFor(conn.ipKey) }, log);
    } catch (e) {
      if (!(e instanceof RequestError)) throw e;
      if (room.peers.size === 0) room.close();
      refusal(ws, CLOSE_CODES.forbidden, e.message);
      return false;
    }
    conn.peer = attached.peer;
    conn.onMessage = attached.onMessage;
    conn.state = 'room';
    // Host rights that ended while the room was being opened: nobody told this peer yet.
    if (attached.peer.role === 'host' && !admission!.hasHostRights()) room.setRole(attached.peer, 'guest', 'Your host rights have ended (logged out or revoked).');
    conn.timer = setTimeout(() => {
      if (!attached.peer.joined) attached.channel.close('join_timeout', 'Connected but never joined the room; reload to try again.');
    }, JOIN_DEADLINE_MS);
    conn.timer.unref();
    const hk = admission!.hostKey;
    if (hk) {
      hostConnections.set(hk, (hostConnections.get(hk) ?? 0) + 1);
      presence?.hostPresent(hk);
      ws.on('close', () => {
        const n = (hostConnections.get(hk) ?? 1) - 1;
        if (n > 0) return void hostConnections.set(hk, n);
        hostConnections.delete(hk);
        presence?.hostLeft(hk);
      });
    }
    log.info({ room: conn.room, peer: conn.peerId, role: admission!.role }, 'peer connected');
    if (admission!.role === 'host') admitWaiting(conn.room);
    return true;
  }

  function wait(conn: Conn, respond: (waiting: boolean) => void): void {
    let set = waiting.get(conn.room);
    if (!set) waiting.set(conn.room, (set = new Set()));
    if (set.size >= MAX_WAITING_PER_ROOM) return refusal(conn.ws, CLOSE_CODES.forbidden, 'Too many guests are waiting for this room; try again later.');
    set.add(conn);
    conn.state = 'waiting';
    respond(true);
    sendJson(conn.ws, { notification: true, method: 'waiting', data: { message: 'Waiting for the host to join. This page will join by itself.' } });
    replayEarly(conn);
  }

  function admitWaiting(roomName: string): void {
    const set = waiting.get(roomName);
    if (!set) return;
    for (const w of [...set]) {
      // A credential that ended while its holder waited lets nobody in.
      if (!w.admission!.stillValid()) {
        set.delete(w);
        refusal(w.ws, CLOSE_CODES.revoked, 'Your join link is no longer valid (revoked or expired). Ask the host for a new one.');
        continue;
      }
      const g = gate(w);
      if (g === 'wait') continue;
      set.delete(w);
      if (typeof g === 'object') {
        refusal(w.ws, ...g.refuse);
        continue;
      }
      w.state = 'pending';
      enter(w)
        .then((entered) => {
          if (entered) sendJson(w.ws, { notification: true, method: 'admitted', data: {} });
          replayEarly(w);
        })
        .catch((e: unknown) => {
          log.error({ err: e }, 'could not admit a waiting guest');
          refusal(w.ws, 1011, 'The server could not open this room right now; try again.');
        });
    }
    if (set.size === 0) waiting.delete(roomName);
  }

  opts.credentials?.onCredentialEnded(({ keys, kind }) => {
    for (const key of keys) {
      for (const conn of [...(byCredential.get(key) ?? [])]) {
        const a = conn.admission!;
        if (kind === 'revoked' && a.closeOnRevoke) {
          const message = 'Your access to this room was revoked. Ask the host for a new link, or log in again.';
          log.info({ room: conn.room, peer: conn.peerId }, 'credential revoked: connection closed');
          if (conn.peer) conn.peer.channel.close('revoked', message);
          else closeWith(conn.ws, CLOSE_CODES.revoked, 'revoked', message);
          continue;
        }
        const room = sfu.existingRoom(conn.room);
        if (conn.peer && room?.peers.get(conn.peerId) === conn.peer) {
          room.setRole(conn.peer, 'guest', kind === 'expired' ? 'Your host rights have expired.' : 'Your host rights have ended (logged out or revoked).');
        }
      }
    }
  });

  opts.server.on('upgrade', onUpgrade);
  return {
    connections: () => wss.clients.size,
    close() {
      clearInterval(ping);
      opts.server.off('upgrade', onUpgrade);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
