import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './log.ts';
import { createShutdown } from './shutdown.ts';

test('shutdown: steps run in reverse; one that hangs or throws is named and the rest still run', async () => {
  const lines: any[] = [];
  const log = createLogger('info', new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c))), cb()) }));
  const ran: string[] = [];
  const s = createShutdown(log, 50);
  s.add('first', () => void ran.push('first'));
  s.add('throws', () => {
    throw new Error('boom');
  });
  s.add('hangs', () => new Promise<void>(() => ran.push('hangs started')));
  s.add('last', async () => void ran.push('last'));
  assert.deepEqual(await s.run(), ['hangs']);
  assert.deepEqual(ran, ['last', 'hangs started', 'first']);
  assert.deepEqual(lines.map((l) => [l.step, l.msg]), [
    ['hangs', 'shutdown step did not finish in time; going on without it'],
    ['throws', 'error during shutdown'],
  ]);
  assert.deepEqual(await s.run(), [], 'a second run has nothing left to undo');
});
