/**
 * Signalling frames for the fuzzer: mutations of valid protoo-style requests (every client method, with
 * ids the server really knows where we have them), plus envelopes with swapped types, bad ids, random
 * method names, junk text and binary frames. Each case says what kind of answer it must get.
 */
import { CHAT_TEXT_MAX, CLIENT_METHODS, type ClientMethod } from '../../src/protocol/index.ts';
import { deepJsonText, EDGE_NUMBERS, fromAlphabet, idLike, mutatedJsonText, mutateText, mutateValue, NASTY_CHARS, otherType, randomJson, randomString, type Rng } from './prng.ts';

/** Ids the generator may use so that some mutations reach real objects (ours and other peers'). */
export interface KnownIds {
  transports: string[];
  producers: string[];
  consumers: string[];
  peers: string[];
}

export interface SignallingCase {
  frame: string | Buffer;
  binary: boolean;
  /** A request id the server must answer (ok or error); null when only an error notification or nothing is due. */
  expectResponseId: number | null;
  /** What the case is, for failure messages. */
  what: string;
}

const OPUS = { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 };

function validData(rng: Rng, method: ClientMethod, ids: KnownIds): Record<string, unknown> {
  const anyId = (list: string[]) => (list.length > 0 && rng.chance(0.6) ? rng.pick(list) : idLike(rng));
  switch (method) {
    case 'getRouterRtpCapabilities':
    case 'getStats':
      return {};
    case 'createWebRtcTransport':
      return { producing: rng.chance(0.5), consuming: rng.chance(0.5), ...(rng.chance(0.3) ? { forceTcp: rng.chance(0.5) } : {}) };
    case 'connectWebRtcTransport':
      return {
        transportId: anyId(ids.transports),
        dtlsParameters: { role: rng.pick(['client', 'server', 'auto']), fingerprints: [{ algorithm: rng.pick(['sha-256', 'sha-1', 'sha-512', 'md5']), value: 'AB:CD:EF' }] },
      };
    case 'restartIce':
      return { transportId: anyId(ids.transports) };
    case 'join':
      return { displayName: randomString(rng, 20).slice(0, 64), device: { name: 'fuzz' }, rtpCapabilities: { codecs: rng.chance(0.5) ? [] : [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }] } };
    case 'produce':
      return {
        transportId: anyId(ids.transports),
        kind: rng.pick(['audio', 'video']),
        rtpParameters: { codecs: [OPUS], encodings: [{ ssrc: rng.int(1, 2 ** 32 - 1) }] },
        appData: { source: rng.pick(['mic', 'webcam', 'screen']) },
      };
    case 'closeProducer':
    case 'pauseProducer':
    case 'resumeProducer':
      return { producerId: anyId(ids.producers) };
    case 'pauseConsumer':
    case 'resumeConsumer':
    case 'requestConsumerKeyFrame':
      return { consumerId: anyId(ids.consumers) };
    case 'setConsumerPreferredLayers':
      return { consumerId: anyId(ids.consumers), spatialLayer: rng.int(0, 10), ...(rng.chance(0.5) ? { temporalLayer: rng.int(0, 10) } : {}) };
    case 'setConsumerView':
      return { consumerId: anyId(ids.consumers), width: rng.int(0, 4000), height: rng.int(0, 3000), visible: rng.chance(0.7) };
    case 'changeDisplayName':
      return { displayName: randomString(rng, 30).slice(0, 64) || 'x' };
    case 'hostMutePeer':
    case 'hostUnmutePeer':
      return { peerId: anyId(ids.peers), kind: rng.pick(['audio', 'video']) };
    case 'hostKickPeer':
      return { peerId: anyId(ids.peers) };
    case 'hostLockRoom':
      return { locked: rng.chance(0.5) };
    case 'hostSetRoomPassword':
      return { password: rng.chance(0.3) ? null : randomString(rng, 20) || 'pw' };
    case 'hostSetLobby':
      // Off only: a lobby turned on would hold the fuzzer's own reconnecting clients at the door.
      return { enabled: false };
    case 'hostAdmit':
    case 'hostDeny':
      return { peerId: anyId(ids.peers) };
    case 'hostAdmitAll':
    case 'hostEndMeeting':
      return {};
    case 'chat':
      // Markup, control and bidi characters, sizes around the limit, to everyone or to a (maybe real) peer.
      return {
        text: rng.weighted<() => string>([
          [6, () => randomString(rng, 80) || 'hi'],
          [1, () => '<img src=x onerror=alert(1)><b>bold</b>'],
          [1, () => 'x'.repeat(rng.pick([CHAT_TEXT_MAX - 1, CHAT_TEXT_MAX, CHAT_TEXT_MAX + 1]))],
          [1, () => rng.pick(NASTY_CHARS).repeat(rng.int(1, 5))],
        ])(),
        ...(rng.chance(0.4) ? { to: anyId(ids.peers) } : {}),
      };
    case 'hostSetChat':
      return { enabled: rng.chance(0.5) };
  }
}

const METHODS: readonly ClientMethod[] = CLIENT_METHODS;
const SERVER_METHODS = ['newConsumer', 'newPeer', 'peerClosed', 'disconnected', 'error', 'waiting', 'admitted', 'role', 'activeSpeaker', 'consumerClosed'];

function methodName(rng: Rng): string {
  return rng.weighted<() => string>([
    [6, () => rng.pick(METHODS)],
    [1, () => rng.pick(SERVER_METHODS)],
    [1, () => rng.pick(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', ''])],
    [1, () => rng.pick(METHODS).toUpperCase()],
    [1, () => `${rng.pick(METHODS)}${rng.pick(NASTY_CHARS)}`],
    [1, () => randomString(rng, 70)],
  ])();
}

function requestId(rng: Rng, next: () => number): unknown {
  return rng.weighted<() => unknown>([
    [10, () => next()],
    [1, () => rng.pick([-1, 0.5, 2 ** 53 + 2, 1e308, -0])],
    [1, () => otherType(rng, 1)],
  ])();
}

/**
 * One case. `nextId` hands out fresh integer ids, so an expected response can be matched to its case
 * even when several requests are in flight.
 */
export function signallingCase(rng: Rng, ids: KnownIds, nextId: () => number): SignallingCase {
  const shape = rng.weighted<string>([
    [10, 'mutated-data'],
    [8, 'valid'],
    [4, 'mutated-envelope'],
    [3, 'text-mutation'],
    [2, 'other-method-data'],
    [1, 'junk'],
    [1, 'binary'],
    [1, 'deep'],
  ]);
  const method = rng.pick(METHODS);
  const id = nextId();
  const base = { request: true, id, method, data: validData(rng, method, ids) };

  const json = (msg: unknown, what: string): SignallingCase => {
    const frame = JSON.stringify(msg) ?? 'null';
    return { frame, binary: false, expectResponseId: answerableId(frame), what };
  };

  switch (shape) {
    case 'valid':
      return json(base, `valid ${method}`);
    case 'mutated-data':
      return json({ ...base, data: mutateValue(rng, base.data) }, `${method} with mutated data`);
    case 'other-method-data': {
      const other = rng.pick(METHODS);
      return json({ ...base, data: validData(rng, other, ids) }, `${method} with ${other}'s data`);
    }
    case 'mutated-envelope': {
      const env: Record<string, unknown> = { ...base };
      switch (rng.int(0, 8)) {
        case 0:
          env.method = methodName(rng);
          break;
        case 1:
          env.id = requestId(rng, nextId);
          break;
        case 2:
          delete env[rng.pick(['request', 'id', 'method', 'data'])];
          break;
        case 3:
          // Types swapped: a request dressed as a response or a notification, or all of them at once.
          Object.assign(env, rng.pick([{ request: undefined, response: true, ok: rng.chance(0.5) }, { request: undefined, notification: true }, { response: true }, { notification: true }, { request: 'true' }, { request: 1 }, { request: false }]));
          break;
        case 4:
          env[randomString(rng, 12)] = randomJson(rng, 2);
          break;
        case 5:
          env.data = otherType(rng, env.data);
          break;
        case 6:
          return json(rng.pick([[base], { message: base }, { request: true, id: base.id, method: base.method, data: base.data, errorCode: 500 }]), 'wrapped envelope');
        case 7:
          env.method = rng.pick(METHODS);
          env.data = randomJson(rng, 3);
          break;
        default:
          return json({ response: true, id: rng.pick([id, 1, 0, rng.pick(EDGE_NUMBERS)]), ok: rng.chance(0.5), data: randomJson(rng, 2), ...(rng.chance(0.5) ? { errorCode: rng.pick(EDGE_NUMBERS), errorReason: randomString(rng, 40) } : {}) }, 'stray response');
      }
      for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
      return json(env, `${method} with a mutated envelope`);
    }
    case 'text-mutation': {
      const frame = mutateText(rng, JSON.stringify(rng.chance(0.5) ? base : { ...base, data: mutateValue(rng, base.data) }));
      return { frame, binary: false, expectResponseId: answerableId(frame), what: `${method} mutated as text` };
    }
    case 'deep': {
      const frame = `{"request":true,"id":${id},"method":${JSON.stringify(method)},"data":${deepJsonText(rng, rng.int(500, 20_000))}}`;
      return { frame, binary: false, expectResponseId: answerableId(frame), what: `${method} with deeply nested data` };
    }
    case 'binary': {
      const b = rng.chance(0.5) ? Buffer.from(JSON.stringify(base)) : rng.bytes(rng.int(0, 512));
      return { frame: b, binary: true, expectResponseId: null, what: 'binary frame' };
    }
    default: {
      const frame = rng.chance(0.5) ? randomString(rng, 300) : rng.bytes(rng.int(1, 300)).toString('latin1');
      return { frame, binary: false, expectResponseId: answerableId(frame), what: 'junk text' };
    }
  }
}

/**
 * The id the server must answer, judged from the frame the way the daemon promises: a JSON object with
 * `request: true` and an integer id gets a response even when the rest of it is malformed; anything else
 * gets an `error` notification, or nothing for well-formed responses and notifications.
 */
export function answerableId(frame: string): number | null {
  let msg: unknown;
  try {
    msg = JSON.parse(frame);
  } catch {
    return null;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return null;
  const m = msg as { request?: unknown; id?: unknown };
  return m.request === true && Number.isInteger(m.id) ? (m.id as number) : null;
}

/** A first frame: a hello (valid, mutated in value or text), another method first, or junk. */
export function helloCase(rng: Rng, token: string): { frame: string; binary: boolean; what: string } {
  const valid = { request: true, id: rng.int(0, 1000), method: 'hello', data: { session: fromAlphabet(rng, 'abcdefghijklmnopqrstuvwxyz0123456789-_', rng.int(16, 40)), token } };
  const shape = rng.weighted<string>([
    [3, 'valid'],
    [6, 'mutated'],
    [2, 'other-first'],
    [1, 'junk'],
    [1, 'binary'],
  ]);
  switch (shape) {
    case 'valid':
      return { frame: JSON.stringify(valid), binary: false, what: 'a valid hello' };
    case 'mutated':
      return { frame: mutatedJsonText(rng, valid), binary: false, what: 'a mutated hello' };
    case 'other-first':
      return { frame: JSON.stringify({ request: true, id: 1, method: methodName(rng), data: {} }), binary: false, what: 'another request before hello' };
    case 'junk':
      return { frame: randomString(rng, 300), binary: false, what: 'junk before hello' };
    default:
      return { frame: JSON.stringify(valid), binary: true, what: 'a hello as a binary frame' };
  }
}
