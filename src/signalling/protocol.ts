/**
 * The signalling protocol between the web page (or any client) and the daemon, over one WebSocket at
 * `/ws?room=ROOM&peer=PEER_ID&name=NAME`. Modelled on mediasoup-demo (protoo). Secrets never go in the
 * URL (proxies and access logs keep URLs): the first message is a `hello` request carrying them,
 *
 *   {request: true, id, method: 'hello', data: {session, token?, host?, roomPassword?}}
 *
 * answered with {role, waiting} once the connection is admitted (or a refusal and a close). Then:
 *
 *   request       {request: true, id, method, data}          either side; answered by a response
 *   response      {response: true, id, ok: true, data}
 *                 {response: true, id, ok: false, errorCode, errorReason}
 *   notification  {notification: true, method, data}          either side; never answered
 *
 * Every message from a client is parsed with the schemas below before anything acts on it. A message
 * that is not JSON, too big (64 KiB), of unknown method or with bad data gets an error response (when it
 * has a usable id) or an `error` notification; the connection stays open. Types only are imported by the
 * browser bundle.
 */
import { z } from 'zod';

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const PEER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const DISPLAY_NAME_MAX = 64;
export const ROOM_PASSWORD_MAX = 128;
/** The tab's session secret: only the same tab may take over its peer id. */
export const SESSION_RE = /^[A-Za-z0-9_-]{16,128}$/;
/** Query parameters that carry secrets: refused in the URL, sent in `hello` instead. */
export const SECRET_QUERY_KEYS = ['session', 'token', 'host', 'roomPassword'] as const;

/** The first message: the credentials. Anything else first is refused. */
export const helloSchema = z.strictObject({
  session: z.string().regex(SESSION_RE, { error: 'session must be 16-128 URL-safe characters' }),
  /** Join token, from a link. */
  token: z.string().min(1).max(2048).optional(),
  /** Host session token, from a login. */
  host: z.string().min(1).max(128).optional(),
  /** The seed's roomPassword=0/false means "no password". */
  roomPassword: z.string().max(ROOM_PASSWORD_MAX).optional(),
});
export type Hello = z.infer<typeof helloSchema>;

/** Answer to `hello`: `waiting` true means wait for the `admitted` notification before going on. */
export interface HelloResponse {
  role: Role;
  waiting: boolean;
}

const id = z.string().min(1).max(128);
const obj = z.looseObject({});

/** Client -> server requests: method -> data schema. */
export const clientRequests = {
  getRouterRtpCapabilities: z.strictObject({}),
  createWebRtcTransport: z.strictObject({
    producing: z.boolean(),
    consuming: z.boolean(),
    forceTcp: z.boolean().optional(),
    sctpCapabilities: obj.optional(),
  }),
  connectWebRtcTransport: z.strictObject({ transportId: id, dtlsParameters: z.looseObject({ fingerprints: z.array(obj).min(1).max(8) }) }),
  restartIce: z.strictObject({ transportId: id }),
  join: z.strictObject({
    displayName: z.string().max(DISPLAY_NAME_MAX).optional(),
    device: z.looseObject({ name: z.string().max(64).optional() }).optional(),
    rtpCapabilities: z.looseObject({ codecs: z.array(obj).max(64) }),
    sctpCapabilities: obj.optional(),
  }),
  produce: z.strictObject({
    transportId: id,
    kind: z.enum(['audio', 'video']),
    rtpParameters: z.looseObject({ codecs: z.array(obj).max(32) }),
    appData: z.looseObject({ source: z.enum(['mic', 'webcam', 'screen']).optional() }).optional(),
  }),
  closeProducer: z.strictObject({ producerId: id }),
  pauseProducer: z.strictObject({ producerId: id }),
  resumeProducer: z.strictObject({ producerId: id }),
  pauseConsumer: z.strictObject({ consumerId: id }),
  resumeConsumer: z.strictObject({ consumerId: id }),
  setConsumerPreferredLayers: z.strictObject({ consumerId: id, spatialLayer: z.int().min(0).max(10), temporalLayer: z.int().min(0).max(10).optional() }),
  requestConsumerKeyFrame: z.strictObject({ consumerId: id }),
  changeDisplayName: z.strictObject({ displayName: z.string().min(1).max(DISPLAY_NAME_MAX) }),
  getStats: z.strictObject({}),
  // Host controls: refused (403) unless the connection has host rights at the moment of the request.
  hostMutePeer: z.strictObject({ peerId: z.string().regex(PEER_ID_RE), kind: z.enum(['audio', 'video']) }),
  /** Lifts a host's mute: the peer may resume (never resumed for it). */
  hostUnmutePeer: z.strictObject({ peerId: z.string().regex(PEER_ID_RE), kind: z.enum(['audio', 'video']) }),
  hostKickPeer: z.strictObject({ peerId: z.string().regex(PEER_ID_RE) }),
  hostLockRoom: z.strictObject({ locked: z.boolean() }),
  hostSetRoomPassword: z.strictObject({ password: z.string().min(1).max(ROOM_PASSWORD_MAX).nullable() }),
} as const;

export type ClientMethod = keyof typeof clientRequests;
export type ClientRequestData<M extends ClientMethod> = z.infer<(typeof clientRequests)[M]>;

export const envelopeSchema = z.union([
  z.strictObject({ request: z.literal(true), id: z.int().min(0).max(2 ** 53), method: z.string().max(64), data: z.unknown().optional() }),
  z.strictObject({ response: z.literal(true), id: z.int().min(0).max(2 ** 53), ok: z.boolean(), data: z.unknown().optional(), errorCode: z.int().optional(), errorReason: z.string().max(1024).optional() }),
  z.strictObject({ notification: z.literal(true), method: z.string().max(64), data: z.unknown().optional() }),
]);

/** Error codes in error responses (HTTP-like so they read at a glance). */
export const ERROR_CODES = {
  badRequest: 400,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  tooLarge: 413,
  rateLimited: 429,
  internal: 500,
  /** No media port or transport left on the server: try again later. */
  unavailable: 503,
} as const;

// ---- Server -> client (types only: the server builds these itself) -------------------------------

export type Role = 'host' | 'guest';

export interface PeerInfo {
  id: string;
  displayName: string;
  device: { name?: string };
  role: Role;
}

export interface RoomState {
  locked: boolean;
  hasPassword: boolean;
}

/** Answer to `join`. */
export interface JoinResponse {
  peers: PeerInfo[];
  role: Role;
  room: RoomState;
}

/** Server -> client request: the client sets up the consumer, answers, then the server resumes it. */
export interface NewConsumerData {
  peerId: string;
  producerId: string;
  id: string;
  kind: 'audio' | 'video';
  rtpParameters: unknown;
  type: string;
  appData: Record<string, unknown>;
  producerPaused: boolean;
}

export interface ServerNotifications {
  newPeer: PeerInfo;
  peerClosed: { peerId: string };
  peerDisplayNameChanged: { peerId: string; displayName: string };
  consumerClosed: { consumerId: string };
  consumerPaused: { consumerId: string };
  consumerResumed: { consumerId: string };
  consumerScore: { consumerId: string; score: unknown };
  producerScore: { producerId: string; score: unknown };
  activeSpeaker: { peerId: string | null; volume?: number };
  /** Sent instead of admitting a guest while the room has no host; the guest is admitted when one arrives. */
  waiting: { message: string };
  /** The waiting guest was admitted: proceed with getRouterRtpCapabilities / join. */
  admitted: Record<string, never>;
  /** This connection's role changed (e.g. host rights revoked by the admin). */
  role: { role: Role; message: string };
  peerRoleChanged: { peerId: string; role: Role };
  roomState: RoomState;
  /** Muted by a host: the server refuses to resume or re-produce that kind until a host lifts it. */
  mutedByHost: { kind: 'audio' | 'video' };
  unmutedByHost: { kind: 'audio' | 'video' };
  /** The server ended this session: `rejoin` true means reconnect (e.g. the media worker was replaced). */
  disconnected: {
    reason: 'kicked' | 'replaced' | 'worker_died' | 'room_closed' | 'host_left' | 'shutdown' | 'rate_limited' | 'revoked' | 'join_timeout';
    rejoin: boolean;
    message: string;
  };
  error: { reason: string };
}
