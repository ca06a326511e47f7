import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeNext } from './safe-next.ts';

const ORIGIN = 'http://127.0.0.1:3010';

/** What the login page does: read `next` from its own URL, then `location.assign(safeNext(next))`. */
function landing(loginQuery: string): URL {
  const next = new URL(`/login?${loginQuery}`, ORIGIN).searchParams.get('next');
  return new URL(safeNext(next, ORIGIN), ORIGIN);
}

test('same-origin paths are followed as they are', () => {
  for (const [next, want] of [
    ['/join/standup?name=Ann', '/join/standup?name=Ann'],
    ['/join/a#x', '/join/a#x'],
    ['/', '/'],
    ['/%2e%2e/join/x', '/join/x'],
    ['/join/a/./b/../c', '/join/a/c'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'], // an encoded slash stays part of one path segment
  ] as const) {
    assert.equal(safeNext(next, ORIGIN), want, next);
  }
});

test('open redirects found in review land on the origin: /.//evil, /%2e//evil and their kin', () => {
  for (const query of [
    'next=/.//evil.example/x',
    'next=/%2e//evil.example/x',
    'next=%2F.%2F%2Fevil.example%2Fx',
    'next=/%2E//evil.example/x',
    'next=/..//evil.example/x',
    'next=/%2e%2e//evil.example/x',
    'next=/a/..//evil.example/x',
    'next=/././/evil.example',
    'next=//evil.example/x',
    'next=%2F%2Fevil.example',
    'next=/\\evil.example',
    'next=/%5Cevil.example',
    'next=/\\/evil.example',
    'next=/.\\/evil.example',
    'next=https://evil.example/x',
    'next=https:evil.example',
    'next=http:%2F%2Fevil.example',
    'next=//127.0.0.1:3010@evil.example/',
    'next=/%09/evil.example',
    'next=/%0A/evil.example',
    'next=javascript:alert(1)',
    'next=%20//evil.example',
  ]) {
    const url = landing(query);
    assert.equal(url.origin, ORIGIN, `${query} -> ${url.href}`);
    assert.equal(url.href, `${ORIGIN}/`, `${query} falls back to /`);
  }
});

test('the login and logout pages are never the target; junk gives /', () => {
  for (const next of [null, '', 'join/standup', '/login', '/login?next=/x', '/logout', `/${'a'.repeat(3000)}`, '/join/a\nb', '/a\u0000']) {
    assert.equal(safeNext(next, ORIGIN), '/', String(next));
  }
});

test('every combination of slashes, dots, backslashes and their encodings stays on the origin', () => {
  const pieces = ['/', '\\', '.', '..', '%2e', '%2E', '%2f', '%5c', '%09', '@', ':', 'evil.example', 'x'];
  let checked = 0;
  const walk = (prefix: string, depth: number): void => {
    if (depth === 0) return;
    for (const p of pieces) {
      const next = prefix + p;
      for (const candidate of [next, decodeURIComponentSafe(next)]) {
        const out = safeNext(candidate, ORIGIN);
        assert.ok(out.startsWith('/') && !out.startsWith('//'), `${JSON.stringify(candidate)} -> ${out}`);
        assert.equal(new URL(out, ORIGIN).origin, ORIGIN, `${JSON.stringify(candidate)} -> ${out}`);
        checked++;
      }
      walk(next, depth - 1);
    }
  };
  walk('', 4);
  assert.ok(checked > 50_000);
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
