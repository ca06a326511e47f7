import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log.ts';
import type { Sfu } from '../sfu/room-registry.ts';
import { isRoomName } from '../sfu/room-name.ts';
import { timingSafeEqual } from 'node:crypto';
import type { ClientIpResolver } from '../http/client-ip.ts';
import { hashRoomPassword, type Peer, type Room } from '../sfu/room.ts';
import { attachPeer, closeWith, CLOSE_CODES } from './connection.ts';
import { DISPLAY_NAME_MAX, MAX_MESSAGE_BYTES, PEER_ID_RE, ROOM_PASSWORD_MAX, type Role } from './protocol.ts';

export const SIGNALLING_PATH = '/ws';
const PING_INTERVAL_MS = 15_000;
/** Concurrent signalling connections one address may hold. */
const MAX_CONNECTIONS_PER_IP = 64;

export interface JoinAttempt {
  room: string;
  peerId: string;
  displayName: string;
  /** Join token (`?token=`), from a link or sessionStorage.peer_token. */
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
  hasHostRights: () => boolean;
}

export type JoinDecision = { ok: true; admission: Admission } | { ok: false; code: number; message: string };

/** Decides who may connect and with which role (tokens, logins); room rules are applied here. */
export type JoinPolicy = (attempt: JoinAttempt) => JoinDecision | Promise<JoinDecision>;

/** Host presence for the leave-grace logout, and revocation events (see auth/host-protection.ts). */
export interface HostPresence {
  hostPresent(key: string): void;
  hostLeft(key: string): void;
  onRightsLost(listener: (keys: string[]) => void): void;
}

export interface SignallingOptions {
  server: Server;
  sfu: Sfu;
  policy: JoinPolicy;
  log: Logger;
  clientIp: ClientIpResolver;
  /** host.protected: guests wait until a host is in the room. */
  hostProtected: boolean;
  presence?: HostPresence;
}

export interface SignallingServer {
  close(): void;
  connections(): number;
}

interface Session {
  ws: WebSocket;
  /** Hash of the client's session secret: only the same browser tab may take over its peer id. */
  sessionHash: string;
}

function parseAttempt(req: IncomingMessage): { ok: true; attempt: Omit<JoinAttempt, 'ip'>; session: string } | { ok: false; message: string } {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams;
  const room = q.get('room') ?? '';
  const peerId = q.get('peer') ?? '';
  const session = q.get('session') ?? '';
  const name = (q.get('name') ?? '').trim();
  if (!isRoomName(room)) return { ok: false, message: 'invalid or missing room name' };
  if (!PEER_ID_RE.test(peerId)) return { ok: false, message: 'invalid or missing peer id' };
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(session)) return { ok: false, message: 'invalid or missing session secret (16-128 URL-safe characters)' };
  if ([...name].length > DISPLAY_NAME_MAX) return { ok: false, message: `name is longer than ${DISPLAY_NAME_MAX} characters` };
  const roomPassword = q.get('roomPassword');
  if (roomPassword !== null && roomPassword.length > ROOM_PASSWORD_MAX) return { ok: false, message: `room password is longer than ${ROOM_PASSWORD_MAX} characters` };
  return {
    ok: true,
    attempt: {
      room,
      peerId,
      displayName: name || `guest-${peerId.slice(0, 4)}`,
      token: q.get('token') || null,
      hostToken: q.get('host') || null,
      // The seed's roomPassword=0/false means "no password".
      roomPassword: roomPassword && roomPassword !== '0' && roomPassword !== 'false' ? roomPassword : null,
    },
    session,
  };
}

/** Guests waiting for a host, per room. */
const MAX_WAITING_PER_ROOM = 200;

type Gate = 'enter' | 'wait' | 'locked' | 'password';

function passwordMatches(room: Room, given: string | null): boolean {
  if (!room.access.passwordHash) return true;
  if (given === null) return false;
  return timingSafeEqual(room.access.passwordHash, hashRoomPassword(given));
}

export function startSignalling(opts: SignallingOptions): SignallingServer {
  const { sfu, log, policy, presence } = opts;
  interface Waiter {
    ws: WebSocket;
    attempt: JoinAttempt;
    admission: Admission;
    key: string;
    sessionHash: string;
  }
  const waiting = new Map<string, Set<Waiter>>();
  const hostKeys = new WeakMap<Peer, string>();
  const hostConnections = new Map<string, number>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: true });
  const sessions = new Map<string, Session>(); // key: room \0 peerId
  const perIp = new Map<string, number>();
  const alive = new WeakMap<WebSocket, boolean>();

  const ping = setInterval(() => {
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
    if (path !== SIGNALLING_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    // A page on another site must not open sessions with the visitor's cookies/IP: same origin only.
    const origin = req.headers.origin;
    if (origin) {
      let same = false;
      try {
        same = new URL(origin).host === req.headers.host;
      } catch {
        same = false;
      }
      if (!same) {
        socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
    }
    const ip = opts.clientIp(req);
    if ((perIp.get(ip) ?? 0) >= MAX_CONNECTIONS_PER_IP) {
      socket.end('HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
      ws.on('close', () => {
        const n = (perIp.get(ip) ?? 1) - 1;
        if (n <= 0) perIp.delete(ip);
        else perIp.set(ip, n);
      });
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('error', (e) => log.debug({ err: e.message }, 'websocket error'));
      accept(ws, req, ip).catch((e: unknown) => {
        log.error({ err: e }, 'could not admit signalling connection');
        closeWith(ws, 1011, 'refused', 'The server could not open this room right now; try again.');
      });
    });
  }

  /** Room rules for a guest: locked and password refuse; under host protection no host means wait. */
  function gate(attempt: JoinAttempt): Gate {
    const room = sfu.existingRoom(attempt.room);
    if (room?.access.locked) return 'locked';
    if (room && !passwordMatches(room, attempt.roomPassword)) return 'password';
    if (opts.hostProtected && !room?.hasHost()) return 'wait';
    return 'enter';
  }

  function refuseByGate(ws: WebSocket, g: 'locked' | 'password'): void {
    if (g === 'locked') closeWith(ws, CLOSE_CODES.locked, 'refused', 'This room is locked by its host.');
    else closeWith(ws, CLOSE_CODES.passwordRequired, 'refused', 'This room needs a password.');
  }

  /** Takes over a peer id: the same tab (same session secret) replaces its old connection. */
  function claimPeerId(ws: WebSocket, attempt: JoinAttempt, key: string, sessionHash: string): boolean {
    const previous = sessions.get(key);
    if (previous && previous.ws !== ws && previous.ws.readyState <= previous.ws.OPEN) {
      if (previous.sessionHash !== sessionHash) {
        closeWith(ws, CLOSE_CODES.conflict, 'refused', 'That peer id is in use in this room.');
        return false;
      }
      // Same tab reconnecting (reload, network change): the new connection replaces the old one.
      const oldRoom = sfu.existingRoom(attempt.room);
      const oldPeer = oldRoom?.peers.get(attempt.peerId);
      if (oldPeer) {
        oldPeer.channel.close('replaced', 'This session was opened again elsewhere.');
        oldRoom!.removePeer(attempt.peerId);
      } else {
        closeWith(previous.ws, CLOSE_CODES.replaced, 'replaced', 'This session was opened again elsewhere.');
      }
    } else if (previous && previous.ws !== ws) {
      // Still closing (e.g. a page reload): its close event would come after the new peer took the id and
      // no longer remove the old one, leaving its transports and producers behind. Remove it now.
      sfu.existingRoom(attempt.room)?.removePeer(attempt.peerId);
    }
    sessions.set(key, { ws, sessionHash });
    return true;
  }

  async function enter(ws: WebSocket, attempt: JoinAttempt, admission: Admission, key: string): Promise<Room | null> {
    const room = await sfu.room(attempt.room);
    if (ws.readyState !== ws.OPEN) {
      // Gone while the room was being opened: a room nobody enters never sees a last peer leave, so it
      // would stay open for good. Checked after the others awaiting the same room have had their turn.
      setImmediate(() => {
        if (room.peers.size === 0) room.close();
      });
      return null;
    }
    const { peer } = attachPeer(ws, room, attempt.peerId, attempt.displayName, admission, log);
    if (admission.hostKey) {
      const hk = admission.hostKey;
      hostKeys.set(peer, hk);
      hostConnections.set(hk, (hostConnections.get(hk) ?? 0) + 1);
      presence?.hostPresent(hk);
      ws.on('close', () => {
        const n = (hostConnections.get(hk) ?? 1) - 1;
        if (n > 0) return void hostConnections.set(hk, n);
        hostConnections.delete(hk);
        presence?.hostLeft(hk);
      });
    }
    log.info({ room: attempt.room, peer: attempt.peerId, role: admission.role }, 'peer connected');
    if (admission.role === 'host') admitWaiting(attempt.room);
    void key;
    return room;
  }

  function admitWaiting(roomName: string): void {
    const set = waiting.get(roomName);
    if (!set) return;
    for (const w of [...set]) {
      const g = gate(w.attempt);
      if (g === 'wait') continue;
      set.delete(w);
      w.ws.removeAllListeners('message');
      if (g !== 'enter') {
        refuseByGate(w.ws, g);
        continue;
      }
      enter(w.ws, w.attempt, w.admission, w.key)
        .then((room) => {
          if (room) w.ws.send(JSON.stringify({ notification: true, method: 'admitted', data: {} }));
        })
        .catch((e: unknown) => {
          log.error({ err: e }, 'could not admit a waiting guest');
          closeWith(w.ws, 1011, 'refused', 'The server could not open this room right now; try again.');
        });
    }
    if (set.size === 0) waiting.delete(roomName);
  }

  function wait(w: Waiter): void {
    let set = waiting.get(w.attempt.room);
    if (!set) waiting.set(w.attempt.room, (set = new Set()));
    if (set.size >= MAX_WAITING_PER_ROOM) return closeWith(w.ws, CLOSE_CODES.forbidden, 'refused', 'Too many guests are waiting for this room; try again later.');
    set.add(w);
    w.ws.on('message', (raw, isBinary) => {
      // Nothing can be done before the host arrives; say so instead of dropping requests silently.
      if (isBinary) return;
      try {
        const m = JSON.parse(raw.toString()) as { request?: unknown; id?: unknown };
        if (m && m.request === true && Number.isInteger(m.id)) {
          w.ws.send(JSON.stringify({ response: true, id: m.id, ok: false, errorCode: 409, errorReason: 'waiting for the host to arrive' }));
        }
      } catch {
        /* ignored while waiting */
      }
    });
    w.ws.on('close', () => {
      set.delete(w);
      if (set.size === 0 && waiting.get(w.attempt.room) === set) waiting.delete(w.attempt.room);
    });
    w.ws.send(JSON.stringify({ notification: true, method: 'waiting', data: { message: 'Waiting for the host to join. This page will join by itself.' } }));
  }

  async function accept(ws: WebSocket, req: IncomingMessage, ip: string): Promise<void> {
    const parsed = parseAttempt(req);
    if (!parsed.ok) return closeWith(ws, CLOSE_CODES.badRequest, 'refused', parsed.message);
    const attempt: JoinAttempt = { ...parsed.attempt, ip };
    // Messages a client sends right after opening would be emitted before anything listens (and be
    // lost) while the policy and the room are async: hold them in the socket until the peer is attached.
    ws.pause();
    try {
      const decision = await policy(attempt);
      if (!decision.ok) return closeWith(ws, decision.code, 'refused', decision.message);
      const { admission } = decision;
      if (ws.readyState !== ws.OPEN) return;
      const key = `${attempt.room}\0${attempt.peerId}`;
      const sessionHash = createHash('sha256').update(parsed.session).digest('hex');
      if (!claimPeerId(ws, attempt, key, sessionHash)) return;
      ws.on('close', () => {
        if (sessions.get(key)?.ws === ws) sessions.delete(key);
      });
      if (admission.role === 'guest') {
        const g = gate(attempt);
        if (g === 'locked' || g === 'password') return refuseByGate(ws, g);
        if (g === 'wait') return wait({ ws, attempt, admission, key, sessionHash });
      } else if (attempt.roomPassword && !sfu.existingRoom(attempt.room)) {
        // The host opening a room may set its password with the seed's roomPassword parameter.
        const room = await sfu.room(attempt.room);
        room.access.passwordHash = hashRoomPassword(attempt.roomPassword);
      }
      await enter(ws, attempt, admission, key);
    } finally {
      ws.resume();
    }
  }

  presence?.onRightsLost((keys) => {
    const lost = new Set(keys);
    for (const summary of sfu.rooms()) {
      const room = sfu.existingRoom(summary.name);
      for (const peer of room?.peers.values() ?? []) {
        const hk = hostKeys.get(peer);
        if (hk && lost.has(hk)) room!.setRole(peer, 'guest', 'Your host rights have ended (logged out or revoked).');
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
