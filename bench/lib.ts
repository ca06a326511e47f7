/**
 * Shared pieces of the benchmark harness: the row/section shapes every section module returns, and
 * small measuring helpers. Figures are printed, never asserted.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { version as mediasoupVersion } from 'mediasoup';

export interface Row {
  /** What was measured, e.g. "join-token verify". */
  name: string;
  value: number;
  unit: string;
  /** Extra figures for the same measurement (p50/p99, spread, sizes). */
  detail?: string;
  /** The target as text, e.g. ">= 30000/s", "p99 < 5 ms". */
  target?: string;
  /** Whether the target was met; undefined when there is no target. */
  met?: boolean;
  /** How it was measured (one or two sentences). */
  note: string;
}

export interface SectionOptions {
  quick: boolean;
  /** Progress lines go to stderr so stdout stays the table. */
  log: (msg: string) => void;
}

export interface SectionResult {
  rows: Row[];
  /** Markdown paragraphs added under the section's table in BENCHMARKS.md. */
  notes?: string[];
}

export interface Section {
  id: string;
  title: string;
  run(opts: SectionOptions): Promise<SectionResult>;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

/** Rounds to a sensible number of significant figures for display. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/**
 * Synchronous throughput: `rounds` timed batches of `batch` calls after one untimed warm-up batch.
 * Returns the median ops/s over rounds and the slowest/fastest round.
 */
export function opsPerSecond(fn: (i: number) => unknown, batch: number, rounds: number): { median: number; min: number; max: number } {
  let sink = 0;
  for (let i = 0; i < batch; i++) if (fn(i)) sink++;
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) if (fn(i)) sink++;
    const ms = performance.now() - t0;
    rates.push((batch / ms) * 1000);
  }
  if (sink < 0) console.log(sink); // keeps the results alive
  return { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
}

export interface SpawnTiming {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Wall time of one process, from spawn() to its exit. */
export function timeSpawn(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<SpawnTiming> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const t0 = performance.now();
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    p.once('error', reject);
    p.once('exit', (code) => {
      const ms = performance.now() - t0;
      setImmediate(() => resolve({ ms, code, stdout, stderr }));
    });
  });
}

export interface Variant {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs each variant `runs` times, interleaved (A B C A B C ...) so drift on the machine hits all of
 * them alike, after `warmup` untimed rounds. Returns the timings per variant name.
 */
export async function timeVariants(variants: Variant[], runs: number, warmup = 2): Promise<Map<string, SpawnTiming[]>> {
  const out = new Map<string, SpawnTiming[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < warmup + runs; r++) {
    for (const v of variants) {
      const t = await timeSpawn(v.cmd, v.args, { cwd: v.cwd, env: v.env });
      if (r >= warmup) out.get(v.name)!.push(t);
    }
  }
  return out;
}

/**
 * `total` calls of `one` from `concurrency` closed-loop workers: each starts its next call when its
 * previous one settled. Returns each call's latency in ms (in completion order) and the wall time.
 */
export async function closedLoop(total: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<{ ms: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      await one(i);
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { ms: performance.now() - t0, latencies };
}

/** "p50 A / p99 B ms" of a list of latencies. */
export const latencyText = (ms: number[]): string => `p50 ${fmt(percentile(ms, 50))} / p99 ${fmt(percentile(ms, 99))} ms`;

const FS_TYPES: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x2fc12fc1: 'zfs' };

/** The machine a run is on (CPU, cores, memory, OS, Node, mediasoup, temp dir, load, date), as label/value rows. */
export function machine(): [string, string][] {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {}
  let os = `${process.platform} ${release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) os = `${m[1]}, kernel ${release()}`;
  } catch {}
  let fs = 'unknown';
  try {
    const t = Number(statfsSync(tmpdir()).type);
    fs = FS_TYPES[t] ?? `0x${t.toString(16)}`;
  } catch {}
  return [
    ['CPU', cpu],
    ['Cores', String(cpus().length)],
    ['Memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['OS', os],
    ['Node', process.version],
    ['mediasoup', `${mediasoupVersion} (node_modules/mediasoup worker binary, used by the daemon and by the SFU rig)`],
    ['Temp/data dirs', `${tmpdir()} (${fs}); fsync figures depend on it`],
    ['Load average at start', `${loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15 min; other work on the box skews every figure)`],
    ['Date (start)', new Date().toISOString().replace(/\.\d+Z$/, 'Z')],
  ];
}
