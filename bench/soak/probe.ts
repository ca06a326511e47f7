/**
 * Loaded into the soak's daemon (`node --expose-internals --import bench/soak/probe.ts bin/confd ...`),
 * never into a production one: every 2 s it writes the number of live timers, unref'd ones included,
 * to the file named by CONFD_SOAK_PROBE. /metrics only sees the timers that hold the event loop open
 * (process.getActiveResourcesInfo()), and most of the daemon's timers are unref'd: a leak of those
 * would show nowhere else but in the heap, slowly.
 *
 * It walks Node's own timer lists (internal/timers, one list per duration): no hook on every timer
 * call, so the daemon runs as it would without the probe. Plain erasable TypeScript: Node strips the
 * types itself, before tsx is registered.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface TimerNode {
  _idleNext: TimerNode | null;
}

const file = process.env.CONFD_SOAK_PROBE;
if (file) {
  const lists = (createRequire(import.meta.url)('internal/timers') as { timerListMap: Record<string, TimerNode> }).timerListMap;
  const timers = (): number => {
    let n = 0;
    for (const list of Object.values(lists)) for (let t = list._idleNext; t && t !== list; t = t._idleNext) n++;
    return n;
  };
  const write = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), timers: timers() }));
    renameSync(`${file}.tmp`, file);
  };
  write();
  setInterval(write, 2000).unref();
}
