import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOSE_CODES, DISCONNECT_REASONS, ERROR_CODES, ERRORS, closeCode, httpStatus, isRefusal, isRoomName, roomNameError, type ErrorCode } from './index.ts';

const here = import.meta.dirname;
const importsOf = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);

test('src/protocol imports nothing but itself (no zod, nothing from the rest of src/)', () => {
  const files = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    for (const spec of importsOf(join(here, f))) assert.match(spec, /^\.\/[a-z-]+\.ts$/, `${f} imports ${spec}`);
  }
});

test('the page imports the protocol from src/protocol only, never zod or server code', () => {
  const dir = join(here, '../web/client');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
    for (const spec of importsOf(join(dir, f))) {
      const ok = spec.startsWith('./') || spec === '../../protocol/index.ts' || spec === 'mediasoup-client';
      assert.ok(ok, `src/web/client/${f} imports ${spec}`);
    }
  }
});

test('every 44xx close code of an error is 4000 + its HTTP status; internal closes with 1011', () => {
  for (const [code, spec] of Object.entries(ERRORS) as [ErrorCode, { http: number; close?: number }][]) {
    if (spec.close === undefined) continue;
    assert.equal(spec.close, code === 'internal' ? 1011 : 4000 + spec.http, code);
  }
  assert.equal(CLOSE_CODES.badRequest, 4400);
  assert.equal(CLOSE_CODES.unauthorized, 4401);
  assert.equal(CLOSE_CODES.revoked, CLOSE_CODES.unauthorized, 'a revoked credential reads as unauthorized');
  assert.equal(CLOSE_CODES.forbidden, 4403);
  assert.equal(CLOSE_CODES.conflict, 4409);
  assert.equal(CLOSE_CODES.rate_limited, 4429);
  assert.equal(closeCode('internal'), 1011);
});

test('every disconnect reason has its own close code; the end-of-session ones are not refusals', () => {
  for (const r of DISCONNECT_REASONS) assert.equal(typeof CLOSE_CODES[r], 'number', r);
  for (const r of ['kicked', 'replaced', 'worker_died', 'room_closed', 'host_left', 'shutdown'] as const) assert.equal(isRefusal(CLOSE_CODES[r]), false, r);
  for (const c of [CLOSE_CODES.badRequest, CLOSE_CODES.unauthorized, CLOSE_CODES.forbidden, CLOSE_CODES.conflict, CLOSE_CODES.rate_limited, CLOSE_CODES.locked, CLOSE_CODES.passwordRequired]) {
    assert.equal(isRefusal(c), true, String(c));
  }
  assert.equal(isRefusal(1006), false, 'a dropped connection is retried');
});

test('signalling error codes are the HTTP statuses of the same errors', () => {
  assert.deepEqual(ERROR_CODES, { badRequest: 400, forbidden: 403, notFound: 404, conflict: 409, tooLarge: 413, rateLimited: 429, internal: 500, unavailable: 503 });
  assert.equal(httpStatus('refused'), 422);
  assert.equal(httpStatus('busy'), 503);
  assert.equal(httpStatus('data_dir_unusable'), 503);
  assert.equal(httpStatus('method_not_allowed'), 405);
});

test('the room-name rule: a safe alphabet, 1-64 characters, a letter or digit first; one sentence when refused', () => {
  for (const ok of ['a', 'standup', 'team.r4', 'A-b_c.9', 'r'.repeat(64)]) assert.ok(isRoomName(ok), ok);
  for (const bad of ['', '.hidden', '-x', 'bad room', 'a/b', '../etc', 'r'.repeat(65), 5, null, undefined]) assert.ok(!isRoomName(bad), String(bad));
  assert.match(roomNameError('bad room'), /^invalid room name "bad room": 1-64 characters/);
  assert.match(roomNameError('x y', '--room'), /^invalid --room "x y": /);
});

test('every error code has an HTTP status; the page and the servers read the same table', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.ok(Number.isInteger(spec.http) && spec.http >= 400 && spec.http < 600, `${code}: ${spec.http}`);
    assert.match(code, /^[a-z_]+$/);
  }
  // The statuses the login page tells apart.
  assert.equal(httpStatus('invalid_credentials'), 401);
  assert.equal(httpStatus('no_session'), 401);
  assert.equal(httpStatus('too_many_attempts'), 429);
  assert.equal(httpStatus('login_in_progress'), 429);
});
