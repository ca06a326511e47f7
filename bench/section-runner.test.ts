import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SectionResult } from './lib.ts';
import { isDisturbance, runSection } from './section-runner.ts';

const figures: SectionResult = { rows: [{ name: 'x', value: 1, unit: 'ms', note: 'n' }] };
const closed = new Error('page.evaluate: Target page, context or browser has been closed');

/** A section that throws the given errors on its first calls, then measures. */
function section(errors: unknown[]) {
  let calls = 0;
  const run = async () => {
    const e = errors[calls++];
    if (e !== undefined) throw e;
    return figures;
  };
  return { run, calls: () => calls };
}

function options() {
  const lines: string[] = [];
  return { o: { quick: true, log: (m: string) => lines.push(m) }, lines };
}

test('what counts as a disturbance: a browser or page gone, a wait run out, a reset; not a bug', () => {
  for (const m of [
    'page.evaluate: Target page, context or browser has been closed',
    'browser.newContext: Browser has been closed',
    'browserContext.newPage: Target crashed',
    'page.evaluate: Execution context was destroyed, most likely because of a navigation',
    'timed out waiting for both receivers on layer 2; last value: {}',
    'page.waitForFunction: Timeout 30000ms exceeded.',
    'confd did not become ready in time\nstdout:\n',
    'read ECONNRESET',
    'socket hang up',
  ]) {
    assert.equal(isDisturbance(new Error(m)), true, m);
  }
  for (const m of ["Cannot read properties of undefined (reading 'rids')", 'confd exited (code 1, signal null) before ready', 'expected 3 rows']) {
    assert.equal(isDisturbance(new Error(m)), false, m);
  }
  assert.equal(isDisturbance(new TypeError('x is not a function')), false);
});

test('a section that measures runs once', async () => {
  const s = section([]);
  const { o, lines } = options();
  assert.deepEqual(await runSection('a', s.run, o), { status: 'ok', result: figures });
  assert.equal(s.calls(), 1);
  assert.deepEqual(lines, []);
});

test('disturbed once: run again, and its figures say it was retried', async () => {
  const s = section([closed]);
  const { o, lines } = options();
  const out = await runSection('adaptive', s.run, o);
  assert.deepEqual(out, { status: 'ok', result: figures, retriedAfter: closed.message });
  assert.equal(s.calls(), 2);
  assert.match(lines.join('\n'), /section adaptive DISTURBED \(page\.evaluate: Target page, context or browser has been closed\); running it once more/);
});

test('disturbed twice: reported as disturbed with both reasons, not run a third time', async () => {
  const s = section([closed, new Error('timed out waiting for the sender')]);
  const { o } = options();
  assert.deepEqual(await runSection('adaptive', s.run, o), { status: 'disturbed', error: 'timed out waiting for the sender', first: closed.message });
  assert.equal(s.calls(), 2);
});

test('a failure that is not a disturbance fails at once, first run or second', async () => {
  const bug = new TypeError("Cannot read properties of undefined (reading 'rids')");
  const once = section([bug]);
  const out = await runSection('adaptive', once.run, options().o);
  assert.equal(out.status, 'failed');
  assert.equal(once.calls(), 1, 'not retried');
  const later = section([closed, bug]);
  const out2 = await runSection('adaptive', later.run, options().o);
  assert.equal(out2.status, 'failed');
  assert.equal(out2.status === 'failed' && out2.error, bug.message);
  assert.equal(later.calls(), 2);
});
