import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log.ts';
import type { Sfu } from '../sfu/room-registry.ts';
import { isRoomName } from '../sfu/room-name.ts';
import { normaliseIp } from '../store/ips.ts';
import { attachPeer, closeWith, CLOSE_CODES } from './connection.ts';
import { DISPLAY_NAME_MAX, MAX_MESSAGE_BYTES, PEER_ID_RE } from './protocol.ts';

export const SIGNALLING_PATH = '/ws';
const PING_INTERVAL_MS = 15_000;
/** Concurrent signalling connections one address may hold. */
const MAX_CONNECTIONS_PER_IP = 64;

export interface JoinAttempt {
  room: string;
  peerId: string;
  displayName: string;
  token: string | null;
  ip: string;
}

export type JoinDecision = { ok: true } | { ok: false; code: number; message: string };

/** Decides whether a connection may enter a room (tokens now; host protection adds to it). */
export type JoinPolicy = (attempt: JoinAttempt) => JoinDecision;

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
  return { ok: true, attempt: { room, peerId, displayName: name || `guest-${peerId.slice(0, 4)}`, token: q.get('token') || null }, session };
}

export function startSignalling(opts: { server: Server; sfu: Sfu; policy: JoinPolicy; log: Logger }): SignallingServer {
  const { sfu, log, policy } = opts;
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
    const ip = normaliseIp(req.socket.remoteAddress ?? '') ?? 'unknown';
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

  async function accept(ws: WebSocket, req: IncomingMessage, ip: string): Promise<void> {
    const parsed = parseAttempt(req);
    if (!parsed.ok) return closeWith(ws, CLOSE_CODES.badRequest, 'refused', parsed.message);
    const attempt = { ...parsed.attempt, ip };
    const decision = policy(attempt);
    if (!decision.ok) return closeWith(ws, decision.code, 'refused', decision.message);

    const key = `${attempt.room}\0${attempt.peerId}`;
    const sessionHash = createHash('sha256').update(parsed.session).digest('hex');
    const previous = sessions.get(key);
    if (previous && previous.ws.readyState <= previous.ws.OPEN) {
      if (previous.sessionHash !== sessionHash) return closeWith(ws, CLOSE_CODES.conflict, 'refused', 'That peer id is in use in this room.');
      // Same tab reconnecting (reload, network change): the new connection replaces the old one.
      const oldRoom = sfu.existingRoom(attempt.room);
      oldRoom?.peers.get(attempt.peerId)?.channel.close('replaced', 'This session was opened again elsewhere.');
      oldRoom?.removePeer(attempt.peerId);
    } else if (previous) {
      // Still closing (e.g. a page reload): its close event would come after the new peer took the id and
      // no longer remove the old one, leaving its transports and producers behind. Remove it now.
      sfu.existingRoom(attempt.room)?.removePeer(attempt.peerId);
    }
    // Messages a client sends right after opening would be emitted before attachPeer listens (and be
    // lost) while the room is being created: hold them in the socket until the peer is attached.
    ws.pause();
    try {
      const room = await sfu.room(attempt.room);
      if (ws.readyState !== ws.OPEN) return;
      sessions.set(key, { ws, sessionHash });
      ws.on('close', () => {
        if (sessions.get(key)?.ws === ws) sessions.delete(key);
      });
      attachPeer(ws, room, attempt.peerId, attempt.displayName, log);
    } finally {
      ws.resume();
    }
    log.info({ room: attempt.room, peer: attempt.peerId }, 'peer connected');
  }

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
