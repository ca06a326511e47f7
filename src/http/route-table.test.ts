import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConfdError } from '../errors.ts';
import { createRouteTable } from './route-table.ts';

test('a route table finds the handler and its decoded parameters', () => {
  const t = createRouteTable<string>();
  t.route('GET', '/v1/users', 'list');
  t.route('DELETE', '/v1/users/:name', 'remove');
  t.route('PUT', '/v1/users/:name/password', 'passwd');
  assert.deepEqual(t.match('GET', '/v1/users'), { handler: 'list', params: {} });
  assert.deepEqual(t.match('DELETE', '/v1/users/al%20ice'), { handler: 'remove', params: { name: 'al ice' } });
  assert.deepEqual(t.match('PUT', '/v1/users/bob/password'), { handler: 'passwd', params: { name: 'bob' } });
  assert.equal(t.match('GET', '/v1/users/'), null, 'no trailing-slash guessing');
  assert.equal(t.match('GET', '/v1/users/a/b'), null, 'a parameter is one path segment');
  assert.equal(t.match('GET', '/v1/usersX'), null);
});

test('a path that exists with other methods gives them, in the order the routes were added (for Allow)', () => {
  const t = createRouteTable<string>();
  t.route('GET', '/login', 'page');
  t.route('POST', '/login', 'login');
  t.route('DELETE', '/v1/ips', 'all');
  t.route('GET', '/v1/ips', 'list');
  assert.deepEqual(t.match('PUT', '/login'), { allowed: ['GET', 'POST'] });
  assert.deepEqual(t.match('HEAD', '/v1/ips'), { allowed: ['DELETE', 'GET'] });
});

test('a bad percent-encoding is a 400 by default, or left to the handler with a raw decoder', () => {
  const t = createRouteTable<string>();
  t.route('DELETE', '/v1/tokens/:id', 'revoke');
  assert.throws(
    () => t.match('DELETE', '/v1/tokens/%E0%A4%A'),
    (e: unknown) => isConfdError(e) && e.code === 'bad_request' && e.message === 'bad percent-encoding in the path: %E0%A4%A',
  );
  const raw = createRouteTable<string>((s) => s);
  raw.route('DELETE', '/api/v1/meeting/:name', 'end');
  assert.deepEqual(raw.match('DELETE', '/api/v1/meeting/%zz'), { handler: 'end', params: { name: '%zz' } });
});

test('route paths are literal: a dot matches only a dot', () => {
  const t = createRouteTable<string>();
  t.route('GET', '/v1/a.b', 'dot');
  assert.equal(t.match('GET', '/v1/aXb'), null);
  assert.deepEqual(t.match('GET', '/v1/a.b'), { handler: 'dot', params: {} });
});
