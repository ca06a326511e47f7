/**
 * Malformed signalling of every kind against one real daemon, while a well-behaved call goes on in the
 * same room. Every refusal must be well-formed: an error response {response, id, ok:false, errorCode,
 * errorReason} when the message had a usable id, else an `error` notification; client mistakes are 4xx,
 * never 500. Afterwards the daemon (same pid) still answers and the call was not disturbed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import WebSocket from 'ws';
import { cleanup, startConfd, type RunningDaemon } from './helpers/daemon.ts';
import { connect, connectRefused, joinPeer, randomSession, type Message, type SfuClient } from './helpers/sfu-client.ts';
import { CHAT_TEXT_MAX, CLIENT_METHODS, MAX_MESSAGE_BYTES, type ClientMethod } from '../src/protocol/index.ts';
import { clientRequests } from '../src/signalling/schemas.ts';
import { RATE_BURST, RATE_PER_SECOND } from '../src/signalling/connection.ts';
import { sleep, until } from './helpers/wait.ts';

const ROOM = 'calm';
const NO_ID = 'no-such-id-1234';

/** Every error response any test connection received, checked for shape and 4xx at the end. */
const allErrorResponses: Message[] = [];

function assertErrorResponse(m: Message, id: number, what: string): void {
  assert.deepEqual(Object.keys(m).sort(), ['errorCode', 'errorReason', 'id', 'ok', 'response'], `${what}: error response fields: ${JSON.stringify(m)}`);
  assert.equal(m.response, true);
  assert.equal(m.id, id, `${what}: id`);
  assert.equal(m.ok, false);
  assert.ok(Number.isInteger(m.errorCode) && m.errorCode! >= 400 && m.errorCode! < 500, `${what}: errorCode ${m.errorCode} (${m.errorReason})`);
  assert.ok(typeof m.errorReason === 'string' && m.errorReason.length > 0 && m.errorReason.length <= 1024, `${what}: errorReason`);
}

function assertErrorNotification(m: Message, what: string): void {
  assert.deepEqual(Object.keys(m).sort(), ['data', 'method', 'notification'], `${what}: ${JSON.stringify(m)}`);
  assert.equal(m.notification, true);
  assert.equal(m.method, 'error');
  assert.deepEqual(Object.keys(m.data).sort(), ['reason'], what);
  assert.ok(typeof m.data.reason === 'string' && m.data.reason.length > 0, `${what}: reason`);
}

const isErrorNotification = (m: Message) => m.notification === true && m.method === 'error';

/** Messages sent per connection, to stay under the rate limit (burst 100, 50/s) when a test sends many. */
const sent = new WeakMap<SfuClient, number>();
async function pace(c: SfuClient): Promise<void> {
  const n = (sent.get(c) ?? 0) + 1;
  sent.set(c, n);
  if (n > RATE_BURST - 20) await sleep(25);
}

/** Sends a frame that must be answered with an `error` notification; returns its reason. */
async function expectNotification(c: SfuClient, frame: string | Buffer, what: string, binary = typeof frame !== 'string'): Promise<string> {
  await pace(c);
  const since = c.messages.length;
  c.sendRaw(frame, binary);
  const m = await c.waitFor((x) => isErrorNotification(x) || x.response === true, 5000, since);
  assertErrorNotification(m, what);
  assert.equal(c.open, true, `${what}: connection stays open`);
  return m.data.reason;
}

/** Sends a JSON text that must be answered with an error response for `id`; returns it. */
async function expectErrorResponse(c: SfuClient, frame: string, id: number, what: string): Promise<Message> {
  await pace(c);
  const since = c.messages.length;
  c.sendRaw(frame, false);
  const m = await c.waitFor((x) => isErrorNotification(x) || x.response === true, 5000, since);
  assertErrorResponse(m, id, what);
  allErrorResponses.push(m);
  assert.equal(c.open, true, `${what}: connection stays open`);
  return m;
}

let nextRawId = 100_000;
/** A request with the given (possibly bad) data; resolves with the raw response message. */
async function rawRequest(c: SfuClient, method: string, data: unknown): Promise<Message> {
  await pace(c);
  const id = nextRawId++;
  const since = c.messages.length;
  c.sendJson({ request: true, id, method, data });
  return c.waitFor((x) => x.response === true && x.id === id, 5000, since);
}

async function expectRefused(c: SfuClient, method: string, data: unknown, code: number | null, what: string, reason?: RegExp): Promise<Message> {
  const m = await rawRequest(c, method, data);
  assertErrorResponse(m, m.id!, what);
  allErrorResponses.push(m);
  if (code !== null) assert.equal(m.errorCode, code, `${what}: ${m.errorReason}`);
  if (reason) assert.match(m.errorReason!, reason, what);
  return m;
}

/** Something that makes the peer still answer: a valid request after the bad ones. */
async function stillWorks(c: SfuClient): Promise<void> {
  await pace(c);
  const caps = await c.request('getRouterRtpCapabilities', {});
  assert.ok(Array.isArray(caps.codecs));
  assert.equal(c.open, true);
}

/** Example data per method: valid in shape (ids unknown), plus wrong values per field. */
const CASES: { [M in ClientMethod]: { valid: Record<string, unknown>; wrong: Record<string, unknown[]> } } = {
  getRouterRtpCapabilities: { valid: {}, wrong: {} },
  createWebRtcTransport: {
    valid: { producing: true, consuming: false },
    wrong: { producing: ['yes', 1, null], consuming: [0, {}], forceTcp: ['true', 1], sctpCapabilities: ['x', 5, [], null] },
  },
  connectWebRtcTransport: {
    valid: { transportId: NO_ID, dtlsParameters: { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] } },
    wrong: {
      transportId: [5, '', 'x'.repeat(129), null, ['a']],
      dtlsParameters: ['x', [], { fingerprints: [] }, { fingerprints: 'x' }, { fingerprints: [1] }, { fingerprints: Array(9).fill({}) }, { role: 'client' }],
    },
  },
  restartIce: { valid: { transportId: NO_ID }, wrong: { transportId: [5, '', {}] } },
  join: {
    valid: { displayName: 'Zed', device: { name: 'x' }, rtpCapabilities: { codecs: [] } },
    wrong: {
      displayName: [5, 'x'.repeat(65), null],
      device: ['x', { name: 5 }, { name: 'x'.repeat(65) }],
      rtpCapabilities: [[], 'x', {}, { codecs: 'x' }, { codecs: Array(65).fill({}) }, { codecs: [5] }],
      sctpCapabilities: ['x', 1],
    },
  },
  produce: {
    valid: { transportId: NO_ID, kind: 'audio', rtpParameters: { codecs: [] }, appData: { source: 'mic' } },
    wrong: {
      transportId: [1, ''],
      kind: ['data', 'AUDIO', 1, null],
      rtpParameters: ['x', {}, { codecs: Array(33).fill({}) }, { codecs: ['x'] }],
      appData: ['x', { source: 'camera' }, { source: 1 }],
    },
  },
  closeProducer: { valid: { producerId: NO_ID }, wrong: { producerId: [1, '', null] } },
  pauseProducer: { valid: { producerId: NO_ID }, wrong: { producerId: [true, 'x'.repeat(129)] } },
  resumeProducer: { valid: { producerId: NO_ID }, wrong: { producerId: [[], ''] } },
  pauseConsumer: { valid: { consumerId: NO_ID }, wrong: { consumerId: [1, ''] } },
  resumeConsumer: { valid: { consumerId: NO_ID }, wrong: { consumerId: [{}, ''] } },
  setConsumerPreferredLayers: {
    valid: { consumerId: NO_ID, spatialLayer: 0, temporalLayer: 0 },
    wrong: { consumerId: [1], spatialLayer: [-1, 11, 1.5, '1', null], temporalLayer: [-1, 11, 0.5, '0'] },
  },
  setConsumerView: {
    valid: { consumerId: NO_ID, width: 320, height: 180, visible: true },
    wrong: { consumerId: [1, ''], width: [-1, 16385, 1.5, '320', null], height: [-1, 1e9, 0.5, '180'], visible: ['yes', 1, null] },
  },
  requestConsumerKeyFrame: { valid: { consumerId: NO_ID }, wrong: { consumerId: [1, ''] } },
  changeDisplayName: { valid: { displayName: 'Zed' }, wrong: { displayName: ['', 'x'.repeat(65), 5, null] } },
  getStats: { valid: {}, wrong: {} },
  hostMutePeer: { valid: { peerId: 'someone', kind: 'audio' }, wrong: { peerId: ['', 5, 'a b', 'x'.repeat(65)], kind: ['data', 1, null] } },
  hostUnmutePeer: { valid: { peerId: 'someone', kind: 'audio' }, wrong: { peerId: ['', 5, 'a b', 'x'.repeat(65)], kind: ['data', 1, null] } },
  hostKickPeer: { valid: { peerId: 'someone' }, wrong: { peerId: ['', 5, null, '../x'] } },
  hostLockRoom: { valid: { locked: true }, wrong: { locked: ['yes', 1, null] } },
  hostSetRoomPassword: { valid: { password: 'pw' }, wrong: { password: ['', 5, 'x'.repeat(129)] } },
  hostSetLobby: { valid: { enabled: true }, wrong: { enabled: ['yes', 1, null] } },
  hostAdmit: { valid: { peerId: 'someone' }, wrong: { peerId: ['', 5, null, '../x', 'x'.repeat(65)] } },
  hostDeny: { valid: { peerId: 'someone' }, wrong: { peerId: ['', 5, null, '../x', 'x'.repeat(65)] } },
  hostAdmitAll: { valid: {}, wrong: {} },
  hostEndMeeting: { valid: {}, wrong: {} },
  chat: { valid: { text: 'hi', to: 'someone' }, wrong: { text: ['', 5, null, ['hi'], 'x'.repeat(CHAT_TEXT_MAX + 1)], to: ['', 5, 'a b', 'x'.repeat(65), null] } },
  hostSetChat: { valid: { enabled: false }, wrong: { enabled: ['no', 0, null] } },
};

/** Whether `field` of `method` may be left out (asks the protocol's own schema). */
function optional(method: ClientMethod, field: string): boolean {
  const shape = (clientRequests[method] as unknown as { shape: Record<string, { safeParse(v: unknown): { success: boolean } }> }).shape;
  return shape[field]!.safeParse(undefined).success;
}

describe('malformed signalling against a real daemon', { timeout: 110_000 }, () => {
  let d: RunningDaemon;
  let pid: number;
  let alice: SfuClient;
  let carol: SfuClient;
  let n = 0;
  const opened: SfuClient[] = [];
  const bad = async (o: { peerId?: string; room?: string } = {}) => {
    const c = await connect(d.http, { room: o.room ?? ROOM, peerId: o.peerId ?? `bad-${n++}` });
    opened.push(c);
    return c;
  };

  before(async () => {
    d = await startConfd({ config: { mediasoup: { workers: 1, portRange: [43000, 43999] } } });
    pid = (await d.admin('GET', '/v1/status')).body.pid;
    assert.equal(pid, d.proc.pid);
    // The well-behaved call that must not notice any of this.
    alice = await joinPeer(d.http, { room: ROOM, peerId: 'alice', produce: ['audio', 'video'] });
    carol = await joinPeer(d.http, { room: ROOM, peerId: 'carol', consume: true });
    await until(() => carol.consumers.size === 2 && carol.consumersOf('alice').every((c) => c.unique.size > 10), 'the calm call to carry media');
  });

  after(async () => {
    await Promise.all([...opened, alice, carol].filter(Boolean).map((c) => c.close()));
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(dirname(d.dataDir));
    }
  });

  test('frames that are not JSON objects: error notification, connection stays open', async () => {
    const c = await bad();
    for (const text of ['not json', '{', '', '{"request":true,', '\u0000', 'NaN', "{'request':true}", '{"a":1}{"b":2}']) {
      assert.match(await expectNotification(c, text, `text ${JSON.stringify(text)}`), /not valid JSON/);
    }
    for (const frame of [Buffer.from(JSON.stringify({ request: true, id: 1, method: 'getStats', data: {} })), Buffer.from([0, 1, 2, 255, 254]), Buffer.alloc(0)]) {
      assert.match(await expectNotification(c, frame, 'binary frame', true), /binary/);
    }
    for (const text of ['42', '"a string"', 'null', 'true', '[]', '[{"request":true,"id":1,"method":"getStats","data":{}}]', '['.repeat(30_000) + ']'.repeat(30_000)]) {
      assert.match(await expectNotification(c, text, `JSON ${text.slice(0, 40)}`), /^malformed message/);
    }
    await stillWorks(c);
  });

  test('wrong envelopes: error response when the id is usable, else an error notification', async () => {
    const c = await bad();
    const notifications: [string, unknown][] = [
      ['empty object', {}],
      ['request without id', { request: true, method: 'getStats', data: {} }],
      ['request: true only', { request: true }],
      ['string id', { request: true, id: '7', method: 'getStats', data: {} }],
      ['fractional id', { request: true, id: 1.5, method: 'getStats' }],
      ['null id', { request: true, id: null, method: 'getStats' }],
      ['request is not true', { request: 'yes', id: 3, method: 'getStats' }],
      ['request: 1', { request: 1, id: 3, method: 'getStats' }],
      ['request: false', { request: false, id: 3, method: 'getStats' }],
      ['response without ok', { response: true, id: 1 }],
      ['response with string id', { response: true, id: 'x', ok: true }],
      ['response with string errorCode', { response: true, id: 1, ok: false, errorCode: '500' }],
      ['response with a long errorReason', { response: true, id: 1, ok: false, errorReason: 'x'.repeat(2000) }],
      ['response with unknown field', { response: true, id: 1, ok: true, extra: 1 }],
      ['notification without method', { notification: true }],
      ['notification with numeric method', { notification: true, method: 7 }],
      ['notification: "true"', { notification: 'true', method: 'x' }],
      ['unknown kind of message', { event: true, method: 'getStats' }],
    ];
    for (const [what, msg] of notifications) assert.match(await expectNotification(c, JSON.stringify(msg), what), /^malformed message/);

    const responses: [string, string, number, RegExp][] = [
      ['numeric method', JSON.stringify({ request: true, id: 4, method: 5 }), 4, /^malformed message/],
      ['no method', JSON.stringify({ request: true, id: 5 }), 5, /^malformed message/],
      ['method too long', JSON.stringify({ request: true, id: 6, method: 'x'.repeat(65) }), 6, /^malformed message/],
      ['unknown envelope field', JSON.stringify({ request: true, id: 7, method: 'getStats', data: {}, extra: true }), 7, /unknown field\(s\) extra/],
      ['request and response at once', JSON.stringify({ request: true, response: true, id: 8, method: 'getStats', ok: true }), 8, /malformed/],
      ['__proto__ in the envelope', '{"request":true,"id":9,"method":"getStats","data":{},"__proto__":{"polluted":true}}', 9, /unknown field\(s\) __proto__/],
      ['__proto__ in the data', '{"request":true,"id":10,"method":"getStats","data":{"__proto__":{"polluted":true}}}', 10, /unknown field\(s\) __proto__/],
      ['negative id', JSON.stringify({ request: true, id: -1, method: 'getStats', data: {} }), -1, /^malformed message/],
      ['id beyond 2^53', JSON.stringify({ request: true, id: 2 ** 53 + 2, method: 'getStats', data: {} }), 2 ** 53 + 2, /^malformed message/],
    ];
    for (const [what, text, id, reason] of responses) assert.match((await expectErrorResponse(c, text, id, what)).errorReason!, reason, what);

    // Unknown methods, including names that exist on every JS object.
    for (const method of ['nope', 'GETSTATS', 'newConsumer', 'disconnected', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '']) {
      const m = await expectErrorResponse(c, JSON.stringify({ request: true, id: 11, method, data: {} }), 11, `method ${method}`);
      assert.equal(m.errorCode, 400);
      assert.match(m.errorReason!, /unknown method/);
    }

    // Notifications from the client and responses to requests never made are ignored, silently.
    const since = c.messages.length;
    for (const msg of [
      { notification: true, method: 'whatever', data: { x: 1 } },
      { notification: true, method: 'join' },
      { response: true, id: 424242, ok: true, data: {} },
      { response: true, id: 0, ok: false, errorCode: 500, errorReason: 'no' },
    ]) {
      await pace(c);
      c.sendJson(msg);
    }
    await stillWorks(c);
    assert.deepEqual(
      c.messages.slice(since).filter((m) => !m.response),
      [],
      'nothing but the getRouterRtpCapabilities response came back',
    );
  });

  test('bad data for every method: wrong types, missing fields, unknown fields', async () => {
    assert.deepEqual(Object.keys(CASES).sort(), [...CLIENT_METHODS].sort(), 'every protocol method has cases here');
    for (const method of Object.keys(CASES) as ClientMethod[]) {
      const { valid, wrong } = CASES[method];
      const c = await bad();
      for (const data of ['x', 5, [], true, [valid]]) {
        await expectRefused(c, method, data, 400, `${method} with data ${JSON.stringify(data)}`, new RegExp(`^${method}: `));
      }
      const extra = await expectRefused(c, method, { ...valid, bogus: 1 }, 400, `${method} with an unknown field`);
      assert.match(extra.errorReason!, /unknown field\(s\) bogus/);
      for (const field of Object.keys(valid)) {
        if (optional(method, field)) continue;
        const { [field]: _, ...missing } = valid;
        const m = await expectRefused(c, method, missing, 400, `${method} without ${field}`);
        assert.ok(m.errorReason!.includes(field), `${method} without ${field}: reason names the field: ${m.errorReason}`);
        if (Object.keys(missing).length === 0) await expectRefused(c, method, null, 400, `${method} with data null`);
      }
      for (const [field, values] of Object.entries(wrong)) {
        for (const v of values) {
          const m = await expectRefused(c, method, { ...valid, [field]: v }, 400, `${method}.${field} = ${JSON.stringify(v)?.slice(0, 40)}`);
          assert.ok(m.errorReason!.startsWith(`${method}: `) && m.errorReason!.includes(field), `${method}.${field}: reason names the field: ${m.errorReason}`);
        }
      }
      await stillWorks(c);
      await c.close();
    }
  });

  test('unknown ids, produce before join, join twice, other peers\' objects, limits', async () => {
    const c = await bad();
    // Before join: produce is refused first of all; the rest is "not found".
    await expectRefused(c, 'produce', CASES.produce.valid, 409, 'produce before join', /join/);
    await expectRefused(c, 'chat', { text: 'hi' }, 403, 'chat before join', /joined the room/);
    for (const method of ['connectWebRtcTransport', 'restartIce', 'closeProducer', 'pauseProducer', 'resumeProducer', 'pauseConsumer', 'resumeConsumer', 'setConsumerPreferredLayers', 'setConsumerView', 'requestConsumerKeyFrame'] as const) {
      await expectRefused(c, method, CASES[method].valid, 404, `${method} with an unknown id`, /^no (transport|producer|consumer) /);
    }
    const send = await c.request('createWebRtcTransport', { producing: true, consuming: false });
    const recv = await c.request('createWebRtcTransport', { producing: false, consuming: true });
    await expectRefused(c, 'produce', { ...CASES.produce.valid, transportId: send.id }, 409, 'produce before join (real transport)', /join/);

    const joined = await c.request('join', { displayName: 'Mallory', rtpCapabilities: { codecs: [] } });
    assert.deepEqual(joined.peers.map((p: any) => p.id).sort(), ['alice', 'carol']);
    await expectRefused(c, 'join', { rtpCapabilities: { codecs: [] } }, 409, 'join twice', /already joined/);
    // Lobby controls from a guest: refused too.
    for (const method of ['hostSetLobby', 'hostAdmit', 'hostDeny', 'hostAdmitAll', 'hostEndMeeting'] as const) await expectRefused(c, method, CASES[method].valid, 403, `${method} by a guest`, /only a host/);
    // Host controls from a guest: refused whatever the target.
    for (const method of ['hostMutePeer', 'hostUnmutePeer', 'hostKickPeer', 'hostLockRoom', 'hostSetRoomPassword', 'hostSetChat'] as const) {
      await expectRefused(c, method, { ...CASES[method].valid, ...(method === 'hostMutePeer' || method === 'hostUnmutePeer' || method === 'hostKickPeer' ? { peerId: 'alice' } : {}) }, 403, `${method} by a guest`, /only a host/);
    }
    await expectRefused(c, 'chat', CASES.chat.valid, 404, 'chat to an unknown peer', /no participant someone/);
    await expectRefused(c, 'chat', { text: 'me', to: c.peerId }, 400, 'chat to oneself', /someone else/);
    await expectRefused(c, 'chat', { text: ' \u0000\u202e\n ' }, 400, 'chat with nothing printable', /empty/);
    await expectRefused(c, 'produce', CASES.produce.valid, 404, 'produce on an unknown transport');
    await expectRefused(c, 'produce', { ...CASES.produce.valid, transportId: recv.id }, 400, 'produce on a consuming transport', /not created for producing/);

    // Parameters mediasoup refuses: 400, never 500.
    const opus = { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 };
    for (const [what, rtpParameters] of [
      ['no codecs', { codecs: [] }],
      ['an empty codec', { codecs: [{}] }],
      ['a payload type that is not a number', { codecs: [{ ...opus, payloadType: 'x' }], encodings: [{ ssrc: 1 }] }],
      ['encodings not an array', { codecs: [opus], encodings: 'x' }],
      ['a codec the room does not have', { codecs: [{ mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000 }], encodings: [{ ssrc: 2 }] }],
      ['deeply nested junk', JSON.parse(`{"codecs":[${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}]}`)],
    ] as const) {
      await expectRefused(c, 'produce', { transportId: send.id, kind: 'audio', rtpParameters }, 400, `produce with ${what}`);
    }
    const ok = { transportId: send.id, kind: 'audio', rtpParameters: { codecs: [opus], encodings: [{ ssrc: 1111 }] } };
    const produced = await c.request('produce', ok);
    await expectRefused(c, 'produce', ok, 400, 'produce with an ssrc already in use', /ssrc/);

    // DTLS parameters mediasoup refuses, and connecting twice.
    for (const [what, dtlsParameters] of [
      ['a fingerprint without algorithm', { fingerprints: [{}] }],
      ['an unknown algorithm', { fingerprints: [{ algorithm: 'md5', value: 'x' }] }],
      ['an unknown role', { role: 'bogus', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] }],
    ] as const) {
      await expectRefused(c, 'connectWebRtcTransport', { transportId: recv.id, dtlsParameters }, 400, `connect with ${what}`);
    }
    const dtls = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] };
    // Twice at once: one wins, the other is refused; and once more afterwards.
    const both = await Promise.all([rawRequest(c, 'connectWebRtcTransport', { transportId: recv.id, dtlsParameters: dtls }), rawRequest(c, 'connectWebRtcTransport', { transportId: recv.id, dtlsParameters: dtls })]);
    assert.deepEqual(both.map((m) => m.ok).sort(), [false, true]);
    const loser = both.find((m) => !m.ok)!;
    assertErrorResponse(loser, loser.id!, 'connect twice at once');
    assert.equal(loser.errorCode, 409);
    await expectRefused(c, 'connectWebRtcTransport', { transportId: recv.id, dtlsParameters: dtls }, 409, 'connect twice', /already connected/);

    // Another peer's producer and consumer are "not found" on this connection.
    const aliceProducer = alice.producerIds.get('audio')!;
    const carolConsumer = [...carol.consumers.keys()][0]!;
    for (const method of ['closeProducer', 'pauseProducer', 'resumeProducer'] as const) await expectRefused(c, method, { producerId: aliceProducer }, 404, `${method} of alice's producer`);
    for (const method of ['pauseConsumer', 'resumeConsumer', 'requestConsumerKeyFrame'] as const) await expectRefused(c, method, { consumerId: carolConsumer }, 404, `${method} of carol's consumer`);
    await expectRefused(c, 'setConsumerPreferredLayers', { consumerId: carolConsumer, spatialLayer: 0 }, 404, "carol's consumer layers");
    await expectRefused(c, 'setConsumerView', { consumerId: carolConsumer, width: 1, height: 1, visible: false }, 404, "carol's consumer view");
    await expectRefused(c, 'restartIce', { transportId: carol.recvTransport!.id }, 404, "restartIce of carol's transport");

    // Limits: 4 transports, 4 producers per connection.
    await c.request('createWebRtcTransport', { producing: true, consuming: false });
    await c.request('createWebRtcTransport', { producing: false, consuming: true, forceTcp: true });
    await expectRefused(c, 'createWebRtcTransport', { producing: true, consuming: true }, 409, 'a fifth transport', /at most 4 transports/);
    for (const ssrc of [2222, 3333, 4444]) await c.request('produce', { ...ok, rtpParameters: { ...ok.rtpParameters, encodings: [{ ssrc }] } });
    await expectRefused(c, 'produce', { ...ok, rtpParameters: { ...ok.rtpParameters, encodings: [{ ssrc: 5555 }] } }, 409, 'a fifth producer', /at most 4 producers/);

    // Valid requests on its own objects still work.
    await c.request('pauseProducer', { producerId: produced.id });
    await c.request('resumeProducer', { producerId: produced.id });
    await c.request('closeProducer', { producerId: produced.id });
    await expectRefused(c, 'closeProducer', { producerId: produced.id }, 404, 'close a closed producer');
    await c.request('restartIce', { transportId: send.id });
    await c.request('changeDisplayName', { displayName: 'Mallory 2' });
    const stats = await c.request('getStats', {});
    assert.equal(stats.transports.length, 4);
    await c.close();
  });

  test('absurd rtpCapabilities and bad answers to newConsumer', async () => {
    // Capabilities nested 30k deep: join is accepted (the shape is loose), consuming just does not happen.
    const deep = await bad();
    await deep.request('createWebRtcTransport', { producing: false, consuming: true });
    await pace(deep);
    deep.sendRaw(`{"request":true,"id":999999,"method":"join","data":{"rtpCapabilities":{"codecs":[{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}]}}}`);
    const joined = await deep.waitFor((m) => m.response === true && m.id === 999_999);
    assert.equal(joined.ok, true);
    await sleep(300);
    assert.equal(deep.messages.filter((m) => m.request).length, 0, 'no newConsumer for unusable capabilities');
    assert.equal(deep.open, true);
    await deep.close();

    // A peer that can consume, but answers the server's newConsumer requests badly.
    const lurker = await bad({ peerId: 'lurker' });
    lurker.answerNewConsumer = false;
    await lurker.request('createWebRtcTransport', { producing: false, consuming: true });
    await lurker.request('join', { rtpCapabilities: carol.device!.rtpCapabilities });
    const fromAlice = () => lurker.messages.filter((m) => m.request && m.method === 'newConsumer' && m.data.peerId === 'alice');
    await until(() => fromAlice().length === 2, "newConsumer requests for alice's two producers");
    const [r1, r2] = fromAlice();
    for (const r of [r1!, r2!]) {
      assert.deepEqual(Object.keys(r).sort(), ['data', 'id', 'method', 'request']);
      assert.ok(Number.isInteger(r.id));
    }
    // Refused: the server drops that consumer.
    lurker.sendJson({ response: true, id: r1!.id, ok: false, errorCode: 500, errorReason: 'no thanks' });
    // Malformed answer: an error notification; the request is still pending, then answered properly.
    assert.match(await expectNotification(lurker, JSON.stringify({ response: true, id: r2!.id, ok: 'yes' }), 'malformed response'), /^malformed message/);
    lurker.sendJson({ response: true, id: r2!.id, ok: true, data: {} });
    // A second answer to the same request is a response to an unknown id: ignored.
    lurker.sendJson({ response: true, id: r2!.id, ok: true, data: {} });
    await until(async () => {
      const peer = (await d.admin('GET', '/v1/rooms')).body.rooms[0].peers.find((p: any) => p.id === 'lurker');
      return peer?.consumers === 1;
    }, 'the refused consumer to be dropped');
    const stats = await lurker.request('getStats', {});
    assert.equal(stats.consumers, 1);
    await lurker.close();
  });

  test('a message over 64 KiB closes that connection with 1009; one just under is parsed', async () => {
    const c = await bad();
    // Just under the limit: parsed, refused for its content, connection open.
    const name = 'x'.repeat(MAX_MESSAGE_BYTES - 200);
    const under = JSON.stringify({ request: true, id: 900_001, method: 'changeDisplayName', data: { displayName: name } });
    assert.ok(Buffer.byteLength(under) < MAX_MESSAGE_BYTES);
    await expectErrorResponse(c, under, 900_001, 'a 64 KiB display name');
    await stillWorks(c);
    c.sendRaw(JSON.stringify({ request: true, id: 900_002, method: 'getStats', data: { pad: 'x'.repeat(MAX_MESSAGE_BYTES) } }));
    const info = await c.closed;
    assert.equal(info.code, 1009);
    assert.equal(c.messages.filter((m) => m.response && m.id === 900_002).length, 0);

    const b = await bad();
    b.sendRaw(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x7b), true);
    assert.equal((await b.closed).code, 1009);
    assert.equal((await fetch(`${d.http}/healthz`)).status, 200);
  });

  test('a flood beyond the rate limit: error notifications, then disconnected', async () => {
    const c = await bad({ peerId: 'flooder' });
    await c.request('join', { rtpCapabilities: { codecs: [] } });
    const carolSeen = carol.messages.length;
    const frame = JSON.stringify({ notification: true, method: 'spam' });
    const t0 = Date.now();
    for (let i = 0; i < 1000 && c.open; i++) c.sendRaw(frame, false);
    const info = await c.closed;
    const seconds = (Date.now() - t0) / 1000;
    // Told once per run of dropped frames, not once per frame: answering a flood frame by frame would
    // amplify it (~900 notifications). A token refilled mid-flood starts a new run: at most one more
    // run per token the bucket regained while the daemon worked through the flood (a loaded machine
    // takes longer over it).
    const errors = c.messages.filter(isErrorNotification);
    const runs = 1 + Math.ceil(RATE_PER_SECOND * seconds);
    assert.ok(errors.length >= 1 && errors.length <= Math.max(5, runs), `rate-limit errors before the cut: ${errors.length} in ${seconds.toFixed(2)} s`);
    for (const e of errors) assertErrorNotification(e, 'rate limit');
    assert.match(errors[0]!.data.reason, /rate limit/);
    assert.equal(d.logs.filter((l) => l.msg === 'signalling flood: closing connection' && l.peer === 'flooder').length, 1, 'one log line per flood');
    const bye = c.notifications('disconnected');
    assert.equal(bye.length, 1);
    assert.equal(bye[0].reason, 'rate_limited');
    assert.equal(bye[0].rejoin, false);
    assert.match(bye[0].message, /Too many messages/);
    assert.equal(info.code, 4429);
    // The others see the flooder leave, and nothing else.
    await carol.waitForNotification('peerClosed', (x) => x.peerId === 'flooder', 5000, carolSeen);

    // A fresh connection for the same peer id is fine.
    const again = await bad({ peerId: 'flooder' });
    await stillWorks(again);
    await again.close();
  });

  test('bad connect parameters are refused with 4400 and a reason', async () => {
    const base = { room: ROOM, peer: 'ok-peer', session: randomSession() };
    const cases: [string, Record<string, string | null>, RegExp][] = [
      ['missing room', { room: null }, /room/],
      ['empty room', { room: '' }, /room/],
      ['room with a space', { room: 'a b' }, /room/],
      ['room starting with a dot', { room: '.hidden' }, /room/],
      ['room with a slash', { room: '../etc' }, /room/],
      ['room too long', { room: 'r'.repeat(65) }, /room/],
      ['missing peer', { peer: null }, /peer/],
      ['peer with a space', { peer: 'a b' }, /peer/],
      ['peer too long', { peer: 'p'.repeat(65) }, /peer/],
      ['peer not ASCII', { peer: 'pé' }, /peer/],
      ['missing session', { session: null }, /session/],
      ['session too short', { session: 's'.repeat(15) }, /session/],
      ['session too long', { session: 's'.repeat(129) }, /session/],
      ['session with other characters', { session: `${'s'.repeat(20)}!` }, /session/],
      ['name too long', { name: 'n'.repeat(65) }, /name/],
      ['name too long in characters', { name: '😀'.repeat(65) }, /name/],
    ];
    for (const [what, query, reason] of cases) {
      const r = await connectRefused(d.http, { room: ROOM, query: { ...base, ...query } });
      assert.equal(r.code, 4400, `${what}: close code`);
      assert.match(r.reason, reason, `${what}: close reason`);
      const err = r.messages.find(isErrorNotification);
      assert.ok(err, `${what}: error notification before the close`);
      assertErrorNotification(err, what);
    }
    // The edges that are allowed: 64 characters (even when each is 2 UTF-16 units), a 128-char session.
    const fine = await connect(d.http, { room: ROOM, query: { ...base, name: '😀'.repeat(64), session: 's'.repeat(128) } });
    await stillWorks(fine);
    await fine.close();
  });

  test('duplicate peer id: another session is refused (4409), the same session replaces the old connection', async () => {
    const session = randomSession();
    const first = await connect(d.http, { room: ROOM, peerId: 'dup', session });
    opened.push(first);
    await first.request('join', { rtpCapabilities: { codecs: [] } });

    const other = await connectRefused(d.http, { room: ROOM, peerId: 'dup', session: randomSession() });
    assert.equal(other.code, 4409);
    assert.match(other.reason, /in use/);
    assertErrorNotification(other.messages.find(isErrorNotification)!, 'duplicate');
    assert.equal(first.open, true, 'the first connection is untouched');
    await stillWorks(first);

    const carolSeen = carol.messages.length;
    const second = await connect(d.http, { room: ROOM, peerId: 'dup', session });
    opened.push(second);
    const info = await first.closed;
    assert.equal(info.code, 4001);
    const bye = first.notifications('disconnected');
    assert.equal(bye.length, 1);
    assert.equal(bye[0].reason, 'replaced');
    assert.equal(bye[0].rejoin, false);
    await carol.waitForNotification('peerClosed', (x) => x.peerId === 'dup', 5000, carolSeen);
    await stillWorks(second);
    await second.request('join', { rtpCapabilities: { codecs: [] } });
    const peers = (await d.admin('GET', '/v1/rooms')).body.rooms[0].peers.map((p: any) => p.id);
    assert.equal(peers.filter((p: string) => p === 'dup').length, 1);
    await second.close();
    // Once it is gone, the id stays its tab's for a while: another tab cannot squat it during a reload.
    const squat = await connectRefused(d.http, { room: ROOM, peerId: 'dup', session: randomSession() });
    assert.equal(squat.code, 4409);
    const back = await connect(d.http, { room: ROOM, peerId: 'dup', session });
    await stillWorks(back);
    await back.close();

    // A page reload: the old socket is still closing when the same session connects again. The old peer,
    // and what it produced, must go (others see it leave), not linger next to the new one.
    const s2 = randomSession();
    const old = await connect(d.http, { room: ROOM, peerId: 'reload', session: s2 });
    opened.push(old);
    const t = await old.request('createWebRtcTransport', { producing: true, consuming: false });
    await old.request('join', { rtpCapabilities: { codecs: [] } });
    const opus = { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 };
    await old.request('produce', { transportId: t.id, kind: 'audio', rtpParameters: { codecs: [opus], encodings: [{ ssrc: 7777 }] } });
    await until(() => carol.consumersOf('reload').length === 1, 'carol to consume the reloading peer');
    const seen = carol.messages.length;
    old.ws.close();
    const fresh = await connect(d.http, { room: ROOM, peerId: 'reload', session: s2 });
    opened.push(fresh);
    await carol.waitForNotification('peerClosed', (x) => x.peerId === 'reload', 5000, seen);
    await until(() => carol.consumersOf('reload').every((c) => c.closed), "carol's consumer of the old peer to close", 5000);
    await stillWorks(fresh);
    const reload = (await d.admin('GET', '/v1/rooms')).body.rooms[0].peers.filter((p: any) => p.id === 'reload');
    assert.deepEqual(reload.map((p: any) => [p.producers, p.consumers]), [[0, 0]]);
    await fresh.close();
  });

  test('Origin of another site: 403 on upgrade; paths other than /ws: 404', async () => {
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:1', 'not a url', `${d.http}.evil.example`]) {
      await assert.rejects(connect(d.http, { room: ROOM, headers: { Origin: origin } }), (e: any) => e.statusCode === 403, `Origin ${origin}`);
    }
    const same = await connect(d.http, { room: ROOM, headers: { Origin: d.http } });
    await stillWorks(same);
    await same.close();

    const q = `?room=${ROOM}&peer=p404&session=${randomSession()}`;
    for (const path of ['/wss', '/ws/', '/', '/api/ws', '/WS', '/ws.json']) {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${d.http.replace(/^http/, 'ws')}${path}${q}`);
        ws.on('unexpected-response', (_req, res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        ws.on('open', () => {
          ws.close();
          reject(new Error(`${path}: upgrade accepted`));
        });
        ws.on('error', () => {});
      });
      assert.equal(status, 404, path);
    }
  });

  test('afterwards: same daemon, healthy, and the calm call was not disturbed', async () => {
    // Carol also consumed (silent) producers of bad peers for a while; alice's are what matter.
    const fromAlice = carol.consumersOf('alice');
    assert.equal(fromAlice.length, 2, JSON.stringify(fromAlice.map((c) => [c.id, c.producerId, c.kind, c.packets, c.closed])));
    const before = fromAlice.map((c) => c.unique.size);
    assert.equal((await fetch(`${d.http}/healthz`)).status, 200);
    const st = await d.admin('GET', '/v1/status');
    assert.equal(st.status, 200);
    assert.equal(st.body.pid, pid);
    assert.equal(d.proc.exitCode, null);
    assert.equal(alice.open && carol.open, true);
    assert.equal(alice.notifications('disconnected').length + carol.notifications('disconnected').length, 0);
    assert.equal(alice.notifications('error').length + carol.notifications('error').length, 0);
    await until(() => fromAlice.every((c, i) => c.unique.size >= before[i]! + 20), 'carol to keep receiving');
    for (const c of fromAlice) {
      assert.equal(c.closed, false);
      assert.equal(c.corrupt, 0);
      assert.deepEqual([...c.tags], [alice.tagOf(c.kind)]);
    }
    const room = (await d.admin('GET', '/v1/rooms')).body.rooms.find((r: any) => r.name === ROOM);
    const calm = Object.fromEntries(room.peers.map((p: any) => [p.id, p]));
    assert.equal(calm.alice.producers, 2);
    assert.equal(calm.carol.consumers, 2);
    // Nothing a client sent reached the daemon's crash paths or counted as an internal error.
    const bad = d.logs.filter((l) => ['uncaught exception', 'unhandled promise rejection', 'signalling request failed', 'signalling message handler failed'].includes(l.msg));
    assert.deepEqual(bad, []);
    assert.ok(allErrorResponses.length > 150, `error responses checked: ${allErrorResponses.length}`);
    for (const m of allErrorResponses) assert.ok(m.errorCode! >= 400 && m.errorCode! < 500);
  });
});
