import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE_CODES, USER_MESSAGES } from '../../protocol/index.ts';
import { closeOutcome, MAX_SILENT_RETRIES, type SessionFacts } from './close-outcome.ts';
import type { CloseInfo } from './signalling.ts';

const facts = (o: Partial<SessionFacts> = {}): SessionFacts => ({ leaving: false, restart: null, passwordGiven: false, joinedOnce: true, retries: 0, ...o });
const closed = (code: number, o: Partial<CloseInfo> = {}): CloseInfo => ({ code, reason: '', disconnected: null, lastError: null, byUs: false, ...o });

test('leaving closes quietly, whatever the code', () => {
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.forbidden), facts({ leaving: true })), { kind: 'left' });
});

test('a rejoin from the server is shown as it comes; a media restart of ours says it reconnects', () => {
  const d = { reason: 'worker_died' as const, rejoin: true, message: USER_MESSAGES.workerDied };
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.worker_died, { disconnected: d }), facts()), { kind: 'reconnect', message: USER_MESSAGES.workerDied, saysSo: true });
  assert.deepEqual(closeOutcome(closed(1006), facts({ restart: 'The media connection failed.' })), { kind: 'reconnect', message: 'The media connection failed.', saysSo: false });
});

test('a session the server ended is titled by its reason field, not its words', () => {
  const ended = (reason: 'kicked' | 'replaced' | 'host_left') => closeOutcome(closed(CLOSE_CODES[reason], { disconnected: { reason, rejoin: false, message: 'any words' } }), facts());
  assert.deepEqual(ended('kicked'), { kind: 'ended', title: 'You were removed from the room', message: 'any words' });
  assert.equal((ended('replaced') as { title: string }).title, 'Opened elsewhere');
  assert.equal((ended('host_left') as { title: string }).title, 'The meeting ended for you');
});

test('password, lock and refusals follow the protocol close codes', () => {
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.passwordRequired), facts()), { kind: 'password', retry: false });
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.passwordRequired), facts({ passwordGiven: true })), { kind: 'password', retry: true }, 'a given password was wrong');
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.locked, { lastError: USER_MESSAGES.locked }), facts()), { kind: 'locked' });
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.unauthorized, { lastError: 'link expired' }), facts()), { kind: 'refused', message: 'link expired', login: true });
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.conflict, { reason: 'id in use' }), facts()), { kind: 'refused', message: 'id in use', login: false });
  assert.deepEqual(closeOutcome(closed(4499), facts()), { kind: 'refused', message: 'The server refused the connection (code 4499).', login: false });
});

test('a lost connection is retried; before any join, only so many times', () => {
  assert.deepEqual(closeOutcome(closed(1006), facts({ retries: 50 })), { kind: 'reconnect', message: 'The connection to the server was lost.', saysSo: false });
  assert.equal(closeOutcome(closed(1006), facts({ joinedOnce: false, retries: MAX_SILENT_RETRIES - 1 })).kind, 'reconnect');
  assert.equal(closeOutcome(closed(1006), facts({ joinedOnce: false, retries: MAX_SILENT_RETRIES })).kind, 'unreachable');
  assert.equal(closeOutcome(closed(CLOSE_CODES.internal, { reason: 'could not open' }), facts()).kind, 'reconnect', 'a server failure (1011) is worth another try');
});

test('an ended meeting (room_closed, no rejoin) is shown as ended, not reconnected; a room closing under a new arrival is retried', () => {
  const d = { reason: 'room_closed' as const, rejoin: false, message: USER_MESSAGES.meetingEnded };
  assert.deepEqual(closeOutcome(closed(CLOSE_CODES.room_closed, { disconnected: d }), facts()), { kind: 'ended', title: 'The meeting has ended', message: USER_MESSAGES.meetingEnded });
  // Refused while the room was ending (an `error`, no `disconnected`): the page comes back, to the next meeting.
  assert.equal(closeOutcome(closed(CLOSE_CODES.room_closed, { lastError: USER_MESSAGES.couldNotOpen }), facts()).kind, 'reconnect');
});
