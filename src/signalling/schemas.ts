/**
 * The zod schemas that parse every message a client sends (the types they produce are in
 * src/protocol). A message that is not JSON, too big (MAX_MESSAGE_BYTES), of unknown method or with
 * bad data gets an error response (when it has a usable id) or an `error` notification; the connection
 * stays open. Each schema is checked against its protocol type both ways at compile time, and
 * test/protocol.test.ts checks that every method of the protocol has a schema and no other.
 */
import { z } from 'zod';
import { displayName, peerId, visibleDisplayName } from '../validation/fields.ts';
import { CHAT_TEXT_MAX, USER_MESSAGES, ROOM_PASSWORD_MAX, SESSION_RE, type ClientMethod, type ClientRequests, type Hello } from '../protocol/index.ts';

/** True when A and B are the same type (each assignable to the other). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** The first message: the credentials. Anything else first is refused. */
export const helloSchema = z.strictObject({
  session: z.string().regex(SESSION_RE, { error: 'session must be 16-128 URL-safe characters' }),
  token: z.string().min(1).max(2048).optional(),
  host: z.string().min(1).max(128).optional(),
  roomPassword: z.string().max(ROOM_PASSWORD_MAX).optional(),
}) satisfies z.ZodType<Hello>;

const id = z.string().min(1).max(128);
const obj = z.looseObject({});
const kind = z.enum(['audio', 'video']);

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
    displayName: displayName.optional(),
    device: z.looseObject({ name: z.string().max(64).optional() }).optional(),
    rtpCapabilities: z.looseObject({ codecs: z.array(obj).max(64) }),
    sctpCapabilities: obj.optional(),
  }),
  produce: z.strictObject({
    transportId: id,
    kind,
    rtpParameters: z.looseObject({ codecs: z.array(obj).max(32) }),
    appData: z
      .looseObject({ source: z.enum(['mic', 'webcam', 'screen']).optional(), width: z.int().min(1).max(16384).optional(), height: z.int().min(1).max(16384).optional() })
      .optional(),
  }),
  closeProducer: z.strictObject({ producerId: id }),
  pauseProducer: z.strictObject({ producerId: id }),
  resumeProducer: z.strictObject({ producerId: id }),
  pauseConsumer: z.strictObject({ consumerId: id }),
  resumeConsumer: z.strictObject({ consumerId: id }),
  setConsumerPreferredLayers: z.strictObject({ consumerId: id, spatialLayer: z.int().min(0).max(10), temporalLayer: z.int().min(0).max(10).optional() }),
  setConsumerView: z.strictObject({ consumerId: id, width: z.int().min(0).max(16384), height: z.int().min(0).max(16384), visible: z.boolean() }),
  requestConsumerKeyFrame: z.strictObject({ consumerId: id }),
  changeDisplayName: z.strictObject({ displayName: visibleDisplayName }),
  getStats: z.strictObject({}),
  hostMutePeer: z.strictObject({ peerId, kind }),
  hostUnmutePeer: z.strictObject({ peerId, kind }),
  hostKickPeer: z.strictObject({ peerId }),
  hostLockRoom: z.strictObject({ locked: z.boolean() }),
  hostSetRoomPassword: z.strictObject({ password: z.string().min(1).max(ROOM_PASSWORD_MAX).nullable() }),
  hostSetLobby: z.strictObject({ enabled: z.boolean() }),
  hostAdmit: z.strictObject({ peerId }),
  hostDeny: z.strictObject({ peerId }),
  hostAdmitAll: z.strictObject({}),
  hostEndMeeting: z.strictObject({}),
  chat: z.strictObject({ text: z.string().min(1, { error: 'a chat message cannot be empty' }).max(CHAT_TEXT_MAX, { error: USER_MESSAGES.chatTooLong(CHAT_TEXT_MAX) }), to: peerId.optional() }),
  hostSetChat: z.strictObject({ enabled: z.boolean() }),
} as const satisfies { [M in ClientMethod]: z.ZodType<ClientRequests[M]> };

// Both ways: a schema that accepts more, or less, than its protocol type says fails to compile here.
type SchemaDrift = { [M in ClientMethod]: Same<z.infer<(typeof clientRequests)[M]>, ClientRequests[M]> extends true ? never : M }[ClientMethod];
const _noSchemaDrift: [SchemaDrift] extends [never] ? true : SchemaDrift = true;
const _helloSame: Same<z.infer<typeof helloSchema>, Hello> = true;
void _noSchemaDrift;
void _helloSame;

export const envelopeSchema = z.union([
  z.strictObject({ request: z.literal(true), id: z.int().min(0).max(2 ** 53), method: z.string().max(64), data: z.unknown().optional() }),
  z.strictObject({ response: z.literal(true), id: z.int().min(0).max(2 ** 53), ok: z.boolean(), data: z.unknown().optional(), errorCode: z.int().optional(), errorReason: z.string().max(1024).optional() }),
  z.strictObject({ notification: z.literal(true), method: z.string().max(64), data: z.unknown().optional() }),
]);
