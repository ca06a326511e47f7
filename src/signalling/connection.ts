import type { WebSocket, RawData } from 'ws';
import type { Logger } from '../log.ts';
import { isConfdError } from '../errors.ts';
import { RequestError, type Peer, type PeerChannel, type Room } from '../sfu/room.ts';
import { clientRequests, envelopeSchema, ERROR_CODES, type ClientMethod, type Role, type ServerNotifications } from './protocol.ts';
import { tokenBucket } from './rate-limit.ts';

/** Messages a connection may send per second, and in one burst (joining sends ~10 at once). */
export const RATE_PER_SECOND = 50;
export const RATE_BURST = 100;
/** A client that keeps flooding after being told is cut off. */
const MAX_REFUSED_IN_A_ROW = 200;

export const CLOSE_CODES = {
  kicked: 4000,
  replaced: 4001,
  worker_died: 4002,
  room_closed: 4003,
  host_left: 4004,
  shutdown: 4005,
  badRequest: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  conflict: 4409,
  rate_limited: 4429,
  /** The room is locked by its host. */
  locked: 4423,
  /** The room has a password and none or a wrong one was given (the page asks for it). */
  passwordRequired: 4424,
} as const;

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

function describeIssue(issues: readonly { path: readonly PropertyKey[]; message: string; code: string; keys?: string[] }[]): string {
  const i = issues[0];
  if (!i) return 'invalid data';
  if (i.code === 'unrecognized_keys' && i.keys) return `unknown field(s) ${i.keys.join(', ')}${i.path.length ? ` in ${i.path.join('.')}` : ''}`;
  return `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`;
}

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

/**
 * One peer's WebSocket: parses and validates every message, dispatches requests to the room, carries
 * server->client requests (newConsumer) and notifications.
 */
export function attachPeer(
  ws: WebSocket,
  room: Room,
  peerId: string,
  displayName: string,
  admission: { role: Role; hasHostRights: () => boolean },
  log: Logger,
): { peer: Peer; channel: PeerChannel } {
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closedByServer = false;
  const limiter = tokenBucket(RATE_PER_SECOND, RATE_BURST);
  let refusedInARow = 0;

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
  };

  const peer = room.addPeer({ id: peerId, displayName, channel, role: admission.role, hasHostRights: admission.hasHostRights });

  const replyError = (id: number, code: number, reason: string) => sendJson(ws, { response: true, id, ok: false, errorCode: code, errorReason: reason });
  const notifyError = (reason: string) => sendJson(ws, { notification: true, method: 'error', data: { reason } });

  async function onMessage(raw: RawData, isBinary: boolean): Promise<void> {
    if (!limiter.take()) {
      if (++refusedInARow > MAX_REFUSED_IN_A_ROW) {
        log.warn({ room: room.name, peer: peerId }, 'signalling flood: closing connection');
        return channel.close('rate_limited', 'Too many messages; disconnected.');
      }
      return notifyError(`rate limit exceeded (${RATE_PER_SECOND} messages/s); message dropped`);
    }
    refusedInARow = 0;
    if (isBinary) return notifyError('binary messages are not accepted; send JSON text');
    let msg: unknown;
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      return notifyError('message is not valid JSON');
    }
    const env = envelopeSchema.safeParse(msg);
    if (!env.success) {
      const id = (msg as { id?: unknown } | null)?.id;
      const reason = `malformed message: ${describeIssue(env.error.issues as never)}`;
      if (typeof msg === 'object' && msg !== null && (msg as { request?: unknown }).request === true && Number.isInteger(id)) return replyError(id as number, ERROR_CODES.badRequest, reason);
      return notifyError(reason);
    }
    const m = env.data;
    if ('response' in m) {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data);
      else p.reject(new Error(m.errorReason ?? 'refused by client'));
      return;
    }
    if ('notification' in m) return; // clients have nothing to notify yet; ignored by design
    if (!Object.hasOwn(clientRequests, m.method)) return replyError(m.id, ERROR_CODES.badRequest, `unknown method "${m.method}"`);
    const method = m.method as ClientMethod;
    const parsed = clientRequests[method].safeParse(m.data ?? {});
    if (!parsed.success) return replyError(m.id, ERROR_CODES.badRequest, `${method}: ${describeIssue(parsed.error.issues as never)}`);
    try {
      const data = await room.handle(peer, method, parsed.data as never);
      sendJson(ws, { response: true, id: m.id, ok: true, data: data ?? {} });
    } catch (e) {
      if (e instanceof RequestError) return replyError(m.id, e.code, e.message);
      if (isConfdError(e)) return replyError(m.id, ERROR_CODES.badRequest, e.message);
      // mediasoup rejects bad parameters with TypeError / UnsupportedError: the client's fault, and safe to echo.
      const name = (e as Error).name;
      if (name === 'TypeError' || name === 'UnsupportedError' || name === 'InvalidStateError') return replyError(m.id, ERROR_CODES.badRequest, `${method}: ${(e as Error).message}`);
      log.error({ room: room.name, peer: peerId, method, err: e }, 'signalling request failed');
      replyError(m.id, ERROR_CODES.internal, 'internal error');
    }
  }

  ws.on('message', (raw, isBinary) => {
    onMessage(raw, isBinary).catch((e: unknown) => log.error({ err: e }, 'signalling message handler failed'));
  });
  ws.on('close', () => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('connection closed'));
    }
    pending.clear();
    // The room only forgets this peer if it is still the one registered under the id (not replaced).
    if (room.peers.get(peerId) === peer) room.removePeer(peerId);
  });
  return { peer, channel };
}
