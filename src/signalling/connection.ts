import type { WebSocket, RawData } from 'ws';
import type { Logger } from '../log.ts';
import { isConfdError } from '../errors.ts';
import type { Peer, PeerChannel } from '../rooms/peer.ts';
import type { Room } from '../rooms/room.ts';
import { ERROR_CODES, httpStatus, type ClientMethod, type ServerNotifications } from '../protocol/index.ts';
import { clientRequests, envelopeSchema } from './schemas.ts';
import { firstProblem, SIGNALLING_WORDS } from '../validation/issues.ts';
import { tokenBucket } from './rate-limit.ts';
import { CLOSE_CODES } from '../protocol/close-codes.ts';

/** Messages a connection may send per second, and in one burst (joining sends ~10 at once). */
export const RATE_PER_SECOND = 50;
export const RATE_BURST = 100;
/** A client that keeps flooding after being told is cut off. */
const MAX_REFUSED_IN_A_ROW = 200;

export { CLOSE_CODES };

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** Sends JSON if the socket is still open; never throws. */
export function sendJson(ws: WebSocket, msg: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

/** Closes with a `disconnected` notification first, so the page can say why. */
export function closeWith(ws: WebSocket, code: number, reason: ServerNotifications['disconnected']['reason'] | 'refused', message: string, rejoin = false): void {
  if (reason !== 'refused') sendJson(ws, { notification: true, method: 'disconnected', data: { reason, rejoin, message } });
  else sendJson(ws, { notification: true, method: 'error', data: { reason: message } });
  // Close reasons are limited to 123 bytes.
  ws.close(code, Buffer.from(message).subarray(0, 120).toString());
}

export type Incoming =
  | { kind: 'request'; id: number; method: string; data: unknown }
  | { kind: 'response'; id: number; ok: boolean; data: unknown; errorReason?: string }
  | { kind: 'notification' }
  /** Not usable: already answered (error response or notification). */
  | { kind: 'bad' };

/** Parses one frame's envelope; a bad frame is answered here and comes back as `bad`. */
export function readEnvelope(ws: WebSocket, raw: RawData, isBinary: boolean): Incoming {
  if (isBinary) return notifyError(ws, 'binary messages are not accepted; send JSON text');
  let msg: unknown;
  try {
    msg = JSON.parse(raw.toString());
  } catch {
    return notifyError(ws, 'message is not valid JSON');
  }
  const env = envelopeSchema.safeParse(msg);
  if (!env.success) {
    const id = (msg as { id?: unknown } | null)?.id;
    const reason = `malformed message: ${firstProblem(env.error, SIGNALLING_WORDS)}`;
    if (typeof msg === 'object' && msg !== null && (msg as { request?: unknown }).request === true && Number.isInteger(id)) return replyError(ws, id as number, ERROR_CODES.badRequest, reason);
    return notifyError(ws, reason);
  }
  const m = env.data;
  if ('response' in m) return { kind: 'response', id: m.id, ok: m.ok, data: m.data, errorReason: m.errorReason };
  if ('notification' in m) return { kind: 'notification' };
  return { kind: 'request', id: m.id, method: m.method, data: m.data };
}

export function replyError(ws: WebSocket, id: number, code: number, reason: string): { kind: 'bad' } {
  sendJson(ws, { response: true, id, ok: false, errorCode: code, errorReason: reason });
  return { kind: 'bad' };
}

function notifyError(ws: WebSocket, reason: string): { kind: 'bad' } {
  sendJson(ws, { notification: true, method: 'error', data: { reason } });
  return { kind: 'bad' };
}

/**
 * Every frame of a connection passes here first, whatever state the connection is in (hello, waiting,
 * in a room): `false` means drop it (the client was told). A client that keeps flooding is cut off,
 * and logged once.
 */
export function floodGuard(ws: WebSocket, onFlood: () => void): () => boolean {
  const limiter = tokenBucket(RATE_PER_SECOND, RATE_BURST);
  let refusedInARow = 0;
  return () => {
    if (limiter.take()) {
      refusedInARow = 0;
      return true;
    }
    if (++refusedInARow > MAX_REFUSED_IN_A_ROW) onFlood();
    else if (refusedInARow === 1) notifyError(ws, `rate limit exceeded (${RATE_PER_SECOND} messages/s); messages are dropped`);
    return false;
  };
}

/**
 * The room's way of talking to one connection (PeerChannel): notifications, server->client requests
 * (newConsumer) with their pending answers, and the close. Exists from the hello on, so a room can
 * talk to a waiting guest too. `answer` takes the client's responses.
 */
export function createChannel(ws: WebSocket): { channel: PeerChannel; answer: (m: Extract<Incoming, { kind: 'response' }>) => void } {
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closedByServer = false;
  ws.on('close', () => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('connection closed'));
    }
    pending.clear();
  });
  const channel: PeerChannel = {
    notify(method, data) {
      sendJson(ws, { notification: true, method, data });
    },
    request(method, data, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        if (ws.readyState !== ws.OPEN) return reject(new Error('connection closed'));
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method} not answered within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        sendJson(ws, { request: true, id, method, data });
      });
    },
    close(reason, message, rejoin = false) {
      if (closedByServer) return;
      closedByServer = true;
      closeWith(ws, CLOSE_CODES[reason], reason, message, rejoin);
    },
    refuse(code, message) {
      if (closedByServer) return;
      closedByServer = true;
      closeWith(ws, code, 'refused', message);
    },
  };
  return {
    channel,
    answer(m) {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data);
      else p.reject(new Error(m.errorReason ?? 'refused by client'));
    },
  };
}

/** One request of a peer in a room: validated against its schema, handed to the room, answered. */
export async function handleRequest(ws: WebSocket, room: Room, peer: Peer, m: Extract<Incoming, { kind: 'request' }>, log: Logger): Promise<void> {
  if (!Object.hasOwn(clientRequests, m.method)) return void replyError(ws, m.id, ERROR_CODES.badRequest, `unknown method "${m.method}"`);
  const method = m.method as ClientMethod;
  const parsed = clientRequests[method].safeParse(m.data ?? {});
  if (!parsed.success) return void replyError(ws, m.id, ERROR_CODES.badRequest, `${method}: ${firstProblem(parsed.error, SIGNALLING_WORDS)}`);
  try {
    const data = await room.handle(peer, method, parsed.data as never);
    sendJson(ws, { response: true, id: m.id, ok: true, data: data ?? {} });
  } catch (e) {
    if (isConfdError(e)) return void replyError(ws, m.id, httpStatus(e.code), e.message);
    // mediasoup rejects bad parameters with TypeError / UnsupportedError: the client's fault, and safe to echo.
    const name = (e as Error).name;
    if (name === 'TypeError' || name === 'UnsupportedError' || name === 'InvalidStateError') return void replyError(ws, m.id, ERROR_CODES.badRequest, `${method}: ${(e as Error).message}`);
    log.error({ room: room.name, peer: peer.id, method, err: e }, 'signalling request failed');
    replyError(ws, m.id, ERROR_CODES.internal, 'internal error');
  }
}
