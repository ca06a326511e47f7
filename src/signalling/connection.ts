import type { WebSocket, RawData } from 'ws';
import type { Logger } from '../log.ts';
import { isConfdError } from '../errors.ts';
import { RequestError, type Peer, type PeerChannel, type Room, type TransportQuota } from '../sfu/room.ts';
import { clientRequests, envelopeSchema, ERROR_CODES, type ClientMethod, type Role, type ServerNotifications } from './protocol.ts';
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
    const reason = `malformed message: ${describeIssue(env.error.issues as never)}`;
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

export interface AttachOptions {
  peerId: string;
  displayName: string;
  admission: { role: Role; hasHostRights: () => boolean };
  ipKey: string;
  quota: TransportQuota;
}

/**
 * One peer's WebSocket in a room: validates every request, dispatches it to the room, carries
 * server->client requests (newConsumer) and notifications. The caller feeds it the frames that passed
 * its flood guard (`onMessage`). Throws RequestError when the room refuses the peer (full).
 */
export function attachPeer(ws: WebSocket, room: Room, o: AttachOptions, log: Logger): { peer: Peer; channel: PeerChannel; onMessage: (raw: RawData, isBinary: boolean) => void } {
  const { peerId } = o;
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closedByServer = false;

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

  const peer = room.addPeer({ id: peerId, displayName: o.displayName, channel, role: o.admission.role, hasHostRights: o.admission.hasHostRights, ipKey: o.ipKey, quota: o.quota });

  async function onMessage(raw: RawData, isBinary: boolean): Promise<void> {
    const m = readEnvelope(ws, raw, isBinary);
    if (m.kind === 'response') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.data);
      else p.reject(new Error(m.errorReason ?? 'refused by client'));
      return;
    }
    if (m.kind !== 'request') return; // clients have nothing to notify; bad frames were answered
    if (!Object.hasOwn(clientRequests, m.method)) return void replyError(ws, m.id, ERROR_CODES.badRequest, `unknown method "${m.method}"`);
    const method = m.method as ClientMethod;
    const parsed = clientRequests[method].safeParse(m.data ?? {});
    if (!parsed.success) return void replyError(ws, m.id, ERROR_CODES.badRequest, `${method}: ${describeIssue(parsed.error.issues as never)}`);
    try {
      const data = await room.handle(peer, method, parsed.data as never);
      sendJson(ws, { response: true, id: m.id, ok: true, data: data ?? {} });
    } catch (e) {
      if (e instanceof RequestError) return void replyError(ws, m.id, e.code, e.message);
      if (isConfdError(e)) return void replyError(ws, m.id, ERROR_CODES.badRequest, e.message);
      // mediasoup rejects bad parameters with TypeError / UnsupportedError: the client's fault, and safe to echo.
      const name = (e as Error).name;
      if (name === 'TypeError' || name === 'UnsupportedError' || name === 'InvalidStateError') return void replyError(ws, m.id, ERROR_CODES.badRequest, `${method}: ${(e as Error).message}`);
      log.error({ room: room.name, peer: peerId, method, err: e }, 'signalling request failed');
      replyError(ws, m.id, ERROR_CODES.internal, 'internal error');
    }
  }

  ws.on('close', () => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('connection closed'));
    }
    pending.clear();
    // The room only forgets this peer if it is still the one registered under the id (not replaced).
    if (room.peers.get(peerId) === peer) room.removePeer(peerId);
  });
  return {
    peer,
    channel,
    onMessage: (raw, isBinary) => void onMessage(raw, isBinary).catch((e: unknown) => log.error({ err: e }, 'signalling message handler failed')),
  };
}

export function describeIssue(issues: readonly { path: readonly PropertyKey[]; message: string; code: string; keys?: string[] }[]): string {
  const i = issues[0];
  if (!i) return 'invalid data';
  if (i.code === 'unrecognized_keys' && i.keys) return `unknown field(s) ${i.keys.join(', ')}${i.path.length ? ` in ${i.path.join('.')}` : ''}`;
  return `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`;
}
