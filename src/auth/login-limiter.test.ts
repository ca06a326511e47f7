import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLoginLimiter, type Admission, type LoginAttempt } from './login-limiter.ts';

const WINDOW = 60_000;
const ok = (a: Admission): LoginAttempt => {
  assert.ok(a.ok, `refused: ${JSON.stringify(a)}`);
  return a.attempt;
};

test('an attempt is counted when it begins: parallel attempts cannot all pass the check', () => {
  const l = createLoginLimiter(3, WINDOW);
  const keys = ['u:alice', 'ip:198.51.100.1'];
  const started = [ok(l.begin(keys, 0)), ok(l.begin(keys, 0)), ok(l.begin(keys, 0))];
  // Three are being checked: a fourth would exceed the limit if they all fail.
  const fourth = l.begin(keys, 0);
  assert.equal(fourth.ok, false);
  assert.equal(!fourth.ok && fourth.reason, 'busy');
  assert.deepEqual(started[0]!.failed(1), []);
  assert.deepEqual(started[1]!.failed(1), []);
  assert.deepEqual(started[2]!.failed(2).sort(), ['ip:198.51.100.1', 'u:alice'], 'the third failure blocks both keys');
  const after = l.begin(keys, 3);
  assert.ok(!after.ok && after.reason === 'blocked' && after.retryAfterMs === WINDOW - 1);
  assert.equal(l.begin(keys, WINDOW + 2).ok, true, 'the block ends a window after the failure that set it');
});

test('in-flight caps per key; a success forgives the user, not the address; a cancelled attempt costs nothing', () => {
  const l = createLoginLimiter(3, WINDOW, { inFlightLimit: (k) => (k.startsWith('u:') ? 1 : 2) });
  const a = ok(l.begin(['u:alice', 'ip:A'], 0));
  const busy = l.begin(['u:alice', 'ip:B'], 0);
  assert.ok(!busy.ok && busy.reason === 'busy' && busy.key === 'u:alice' && busy.retryAfterMs > 0);
  const b = ok(l.begin(['u:bob', 'ip:A'], 0));
  const third = l.begin(['u:carol', 'ip:A'], 0);
  assert.ok(!third.ok && third.key === 'ip:A', 'two per address');
  a.failed(1);
  b.cancelled();
  // alice: 1 failure; ip:A: 1 failure (bob's attempt was cancelled).
  const c = ok(l.begin(['u:alice', 'ip:A'], 2));
  c.succeeded(['u:alice']);
  ok(l.begin(['u:x', 'ip:A'], 3)).failed(3);
  // ip:A holds alice's first failure and x's: one more blocks it. alice herself was forgiven.
  assert.deepEqual(ok(l.begin(['u:y', 'ip:A'], 4)).failed(4), ['ip:A']);
  assert.equal(l.begin(['u:alice', 'ip:C'], 5).ok, true);
});

test('finishing an attempt twice changes nothing', () => {
  const l = createLoginLimiter(2, WINDOW);
  const a = ok(l.begin(['k'], 0));
  a.failed(0);
  a.failed(0);
  a.cancelled();
  assert.equal(l.begin(['k'], 1).ok, true, 'one failure counted, not two');
});

test('blockedFor / recordFailure (the API key limit) block after maxAttempts and say which keys', () => {
  const l = createLoginLimiter(2, WINDOW);
  assert.deepEqual(l.recordFailure(['ip:A'], 0), []);
  assert.deepEqual(l.recordFailure(['ip:A'], 1), ['ip:A']);
  assert.equal(l.blockedFor(['ip:A'], 2), WINDOW - 1);
  assert.equal(l.blockedFor(['ip:B'], 2), 0);
});
