/**
 * The daemon process's own figures on /metrics, under the names prom-client's default metrics use (so
 * existing Node dashboards read them): resident memory, V8 heap, open file descriptors, and the
 * resources keeping the event loop alive by type. A long run that leaks shows here first (npm run
 * soak samples these).
 */
import { readdirSync } from 'node:fs';

/** Open file descriptors (Linux's /proc/self/fd, the listing's own descriptor included), or null elsewhere. */
export function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

export function processMetricLines(): string[] {
  const mem = process.memoryUsage();
  // Only what holds the loop open: unref'd timers (most of the daemon's) are not listed.
  const resources = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) resources.set(type, (resources.get(type) ?? 0) + 1);
  const fds = openFds();
  return [
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${mem.rss}`,
    ...(fds === null ? [] : ['# HELP process_open_fds Number of open file descriptors.', '# TYPE process_open_fds gauge', `process_open_fds ${fds}`]),
    '# HELP nodejs_heap_size_used_bytes V8 heap used in bytes.',
    '# TYPE nodejs_heap_size_used_bytes gauge',
    `nodejs_heap_size_used_bytes ${mem.heapUsed}`,
    '# HELP nodejs_heap_size_total_bytes V8 heap size in bytes.',
    '# TYPE nodejs_heap_size_total_bytes gauge',
    `nodejs_heap_size_total_bytes ${mem.heapTotal}`,
    '# HELP nodejs_external_memory_bytes Memory of C++ objects bound to JavaScript objects (Buffers among them), in bytes.',
    '# TYPE nodejs_external_memory_bytes gauge',
    `nodejs_external_memory_bytes ${mem.external}`,
    '# HELP nodejs_active_resources Resources keeping the event loop alive (handles, requests, referenced timers), by type.',
    '# TYPE nodejs_active_resources gauge',
    ...[...resources].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `nodejs_active_resources{type="${type}"} ${n}`),
    '# HELP nodejs_active_resources_total Resources keeping the event loop alive, in all.',
    '# TYPE nodejs_active_resources_total gauge',
    `nodejs_active_resources_total ${[...resources.values()].reduce((a, b) => a + b, 0)}`,
  ];
}
