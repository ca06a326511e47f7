import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWire } from './bus.ts';

test('requests and answers as nodes send them are taken (a GET has no body)', () => {
  const q = { t: 'q', from: 'node-b', id: '0123456789abcdef', req: { method: 'GET', url: '/v1/rooms' } };
  assert.deepEqual(parseWire(JSON.stringify(q)), { ok: true, data: q });
  const a = { t: 'a', from: 'node-a', id: '0123456789abcdef', answer: { status: 200, body: { rooms: [] } } };
  assert.deepEqual(parseWire(JSON.stringify(a)), { ok: true, data: a });
});

test('any other message is refused, saying what is wrong', () => {
  for (const raw of ['null', '[]', '"q"', '7', '{oops', '{"t":"q"}', '{"t":"x","from":"a","id":"b"}', '{"t":"q","from":"b","id":"x","req":null}', '{"t":"q","from":"b","id":"x","req":{"method":"GET","url":"http://elsewhere/"}}', '{"t":"a","from":"a","id":7,"answer":{"status":200}}', '{"t":"a","from":"a","id":"x","answer":{"status":99999}}', '{"t":"q","from":"","id":"x","req":{"method":"GET","url":"/"}}']) {
    const r = parseWire(raw);
    assert.ok(!r.ok, raw);
    assert.ok(r.problem.length > 0);
  }
});
