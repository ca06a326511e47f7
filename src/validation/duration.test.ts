import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from './duration.ts';

test('durations', () => {
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('30m'), 1800);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('2d'), 172800);
  for (const bad of ['', '1', 'h', '0s', '-1h', '1.5h', '1w', '1 h', '99999999999d']) assert.equal(parseDuration(bad), null, bad);
});
