import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_METHODS, DISPLAY_NAME_MAX, isClientMethod, ROOM_PASSWORD_MAX } from '../protocol/index.ts';
import { clientRequests, helloSchema } from './schemas.ts';

test('every method of the protocol has a schema, and every schema is a method of the protocol', () => {
  assert.equal(new Set(CLIENT_METHODS).size, CLIENT_METHODS.length, 'no method listed twice');
  assert.deepEqual(Object.keys(clientRequests).sort(), [...CLIENT_METHODS].sort());
  for (const m of Object.keys(clientRequests)) assert.ok(isClientMethod(m), m);
  assert.equal(isClientMethod('newConsumer'), false, 'a server->client request is no client method');
  assert.equal(isClientMethod('toString'), false);
});

test('the schemas enforce the protocol limits', () => {
  const name = (n: number) => clientRequests.changeDisplayName.safeParse({ displayName: 'x'.repeat(n) }).success;
  assert.equal(name(DISPLAY_NAME_MAX), true);
  assert.equal(name(DISPLAY_NAME_MAX + 1), false);
  const pw = (n: number) => clientRequests.hostSetRoomPassword.safeParse({ password: 'p'.repeat(n) }).success;
  assert.equal(pw(ROOM_PASSWORD_MAX), true);
  assert.equal(pw(ROOM_PASSWORD_MAX + 1), false);
  assert.equal(clientRequests.hostSetRoomPassword.safeParse({ password: null }).success, true, 'null clears the password');
  assert.equal(helloSchema.safeParse({ session: 'a'.repeat(15) }).success, false, 'a session secret is 16+ characters');
  assert.equal(helloSchema.safeParse({ session: 'a'.repeat(16), token: 't' }).success, true);
  assert.equal(helloSchema.safeParse({ session: 'a'.repeat(16), extra: 1 }).success, false, 'unknown fields are refused');
  assert.equal(clientRequests.hostMutePeer.safeParse({ peerId: 'bad id', kind: 'audio' }).success, false, 'peer ids follow PEER_ID_RE');
});

test('display names arrive cleaned of control and bidi characters; a rename must leave something visible', () => {
  const join = clientRequests.join.safeParse({ displayName: 'Eve\x1b]0;x\x07\u202e', rtpCapabilities: { codecs: [] } });
  assert.equal(join.success && join.data.displayName, 'Eve]0;x');
  const rename = clientRequests.changeDisplayName.safeParse({ displayName: 'Host\r\n(the real one)' });
  assert.equal(rename.success && rename.data.displayName, 'Host (the real one)');
  const blank = clientRequests.changeDisplayName.safeParse({ displayName: '\x1b\u202e ' });
  assert.equal(blank.success, false);
  assert.match(blank.error!.issues[0]!.message, /visible character/);
});
