import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kindMismatch } from './produce-kind.ts';

const params = (...mimeTypes: unknown[]) => ({ codecs: mimeTypes.map((mimeType) => ({ mimeType })) });

test('a kind agrees with codecs of that kind (RTX and case included)', () => {
  assert.equal(kindMismatch('audio', params('audio/opus')), null);
  assert.equal(kindMismatch('video', params('video/VP8', 'video/rtx')), null);
  assert.equal(kindMismatch('video', params('VIDEO/H264')), null);
});

test('a kind its codecs contradict is named, with the codec', () => {
  assert.match(kindMismatch('video', params('audio/opus')) ?? '', /codec audio\/opus is not video/);
  assert.match(kindMismatch('audio', params('audio/opus', 'video/VP8')) ?? '', /video\/VP8 is not audio/);
  assert.match(kindMismatch('audio', params(undefined)) ?? '', /\(none\) is not audio/);
  assert.match(kindMismatch('audio', params('audiox/opus')) ?? '', /not audio/);
});
