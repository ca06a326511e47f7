/**
 * One reading of the soak's figures: the daemon's and each mediasoup worker's RSS and open file
 * descriptors (from /proc), the daemon's V8 heap, active resources, rooms and the entries it keeps in
 * memory beyond its connections (its /metrics: confd_state_entries, summed), every
 * live timer (the probe's file, bench/soak/probe.ts), and the ffmpeg recorders running.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { RunningDaemon } from '../../test/helpers/daemon.ts';
import { readMetrics, stateEntries } from '../../test/helpers/metrics.ts';
import { processRss } from '../load/proc.ts';
import { childProcesses } from '../../test/helpers/children.ts';
import type { Figure } from './report.ts';

const MiB = 2 ** 20;

export const FIGURES: Figure[] = [
  { key: 'rss', label: 'd.RSS', unit: 'MiB', limit: { relative: 0.05 } },
  { key: 'heap', label: 'heap', unit: 'MiB', limit: { relative: 0.05 } },
  { key: 'fds', label: 'd.fds', unit: 'count', limit: { absolute: 5 } },
  { key: 'timers', label: 'timers', unit: 'count', limit: { absolute: 5 } },
  { key: 'refTimers', label: 'ref.t', unit: 'count', limit: { absolute: 2 } },
  { key: 'handles', label: 'handles', unit: 'count', limit: { absolute: 5 } },
  { key: 'w0rss', label: 'w0.RSS', unit: 'MiB', limit: { relative: 0.05 } },
  { key: 'w1rss', label: 'w1.RSS', unit: 'MiB', limit: { relative: 0.05 } },
  { key: 'w0fds', label: 'w0.fds', unit: 'count', limit: { absolute: 5 } },
  { key: 'w1fds', label: 'w1.fds', unit: 'count', limit: { absolute: 5 } },
  // Lobby denials count per address for 10 minutes (src/rooms/lobby-guard.ts): the sum levels off after that.
  { key: 'state', label: 'state', unit: 'count', limit: { absolute: 10 }, minWarmUpSeconds: 11 * 60 },
  { key: 'rooms', label: 'rooms', unit: 'count', limit: { absolute: 1 } },
  { key: 'peers', label: 'peers', unit: 'count', limit: { absolute: 1 } },
  { key: 'ffmpeg', label: 'ffmpeg', unit: 'count', limit: { absolute: 1 } },
];

export const fdCount = (pid: number): number | null => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
};

const rssMiB = (pid: number): number | null => {
  try {
    return processRss(pid) / MiB;
  } catch {
    return null;
  }
};

/** The workers' pids in pool order (worker 0, 1, ...), from the admin socket. */
export async function workerPids(d: RunningDaemon): Promise<number[]> {
  const r = await d.admin('GET', '/v1/status');
  if (r.status !== 200) throw new Error(`GET /v1/status: ${r.status}`);
  return (r.body.workers as { pid: number }[]).map((w) => w.pid);
}

export async function readFigures(d: RunningDaemon, probeFile: string): Promise<{ values: Record<string, number | null>; workers: number[] }> {
  const pid = d.proc.pid!;
  const metrics = await readMetrics(d);
  const workers = await workerPids(d);
  const m = (k: string) => metrics.get(k) ?? null;
  let timers: number | null = null;
  if (existsSync(probeFile)) timers = (JSON.parse(readFileSync(probeFile, 'utf8')) as { timers: number }).timers;
  const refTimers = m('nodejs_active_resources{type="Timeout"}') ?? 0;
  const total = m('nodejs_active_resources_total');
  const values: Record<string, number | null> = {
    rss: rssMiB(pid),
    heap: (m('nodejs_heap_size_used_bytes') ?? NaN) / MiB,
    fds: fdCount(pid),
    timers,
    refTimers,
    handles: total === null ? null : total - refTimers,
    rooms: m('confd_rooms'),
    peers: m('confd_peers'),
    ffmpeg: childProcesses(pid).filter((c) => c.comm === 'ffmpeg').length,
    load1: loadavg()[0]!,
  };
  // confd_state_entries by kind: the table shows their sum, the JSON each kind.
  const state = stateEntries(metrics);
  for (const [kind, n] of Object.entries(state)) values[`state.${kind}`] = n;
  values.state = Object.values(state).reduce((a, b) => a + b, 0);
  workers.forEach((w, i) => {
    values[`w${i}rss`] = rssMiB(w);
    values[`w${i}fds`] = fdCount(w);
  });
  return { values, workers };
}
