/**
 * Reading CPU time, memory and UDP socket drops of processes from /proc (Linux only), for the SFU and
 * signalling benchmarks: the daemon's Node process, its mediasoup worker, and the bench process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Clock ticks per second for /proc/PID/stat (getconf CLK_TCK; 100 on every Linux we run on). */
const CLK_TCK = 100;

/**
 * CPU time of a whole process (all its threads) in milliseconds: the sum of se.sum_exec_runtime in
 * /proc/PID/task/TID/sched (nanosecond-precise, kept even without schedstats; threads that already
 * exited are not counted). Falls back to utime + stime from /proc/PID/stat (10 ms ticks).
 */
export function processCpuMs(pid: number): number {
  try {
    let ms = 0;
    let found = false;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const m = /^se\.sum_exec_runtime\s*:\s*([0-9.]+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8'));
        if (m) {
          ms += Number(m[1]);
          found = true;
        }
      } catch {
        /* thread exited meanwhile */
      }
    }
    if (found) return ms;
  } catch {
    /* no per-task sched files: fall through */
  }
  const { userMs, systemMs } = processCpuSplit(pid);
  return userMs + systemMs;
}

/** utime / stime of a process from /proc/PID/stat (10 ms resolution). */
export function processCpuSplit(pid: number): { userMs: number; systemMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: fields are counted after its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userMs: (Number(f[11]) * 1000) / CLK_TCK, systemMs: (Number(f[12]) * 1000) / CLK_TCK };
}

/** Resident set size in bytes (VmRSS). */
export function processRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Whole-machine CPU counters from /proc/stat, in ms summed over all cores. */
export function machineCpuMs(): { busy: number; total: number; nice: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: (busy * 1000) / CLK_TCK, total: ((busy + idle + iowait) * 1000) / CLK_TCK, nice: (nice * 1000) / CLK_TCK };
}

/**
 * A CPU meter over a window: cores used by each watched process, and by everything else on the
 * machine (other tests and builds share this box: their share is reported next to every figure).
 */
export class CpuWindow {
  private readonly pids: number[];
  private readonly t0 = performance.now();
  private readonly cpu0: number[];
  private readonly machine0 = machineCpuMs();

  constructor(pids: number[]) {
    this.pids = pids;
    this.cpu0 = pids.map(processCpuMs);
  }

  /** Cores used (1 = one core fully busy) per watched pid, plus the rest of the machine. */
  /**
   * `others`: cores used by everything else; `othersNiced`: the part of it at a positive nice (builds,
   * `npm ci` under nice). That part competes all the same: with sched_autogroup, nice only orders
   * processes within one session.
   */
  end(): { seconds: number; cores: number[]; others: number; othersNiced: number; loadavg1: number } {
    const seconds = (performance.now() - this.t0) / 1000;
    const cores = this.pids.map((p, i) => (processCpuMs(p) - this.cpu0[i]!) / 1000 / seconds);
    const m = machineCpuMs();
    const machineCores = (m.busy - this.machine0.busy) / 1000 / seconds;
    const others = Math.max(0, machineCores - cores.reduce((a, b) => a + b, 0));
    return { seconds, cores, others, othersNiced: Math.min(others, (m.nice - this.machine0.nice) / 1000 / seconds), loadavg1: loadavg()[0]! };
  }
}

/** UDP sockets' receive-buffer drop counters by local port (IPv4, /proc/net/udp "drops" column). */
export function udpDropsByPort(): Map<number, number> {
  const out = new Map<number, number>();
  let text = '';
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.split(':')[1]!, 16);
    const drops = Number(f[f.length - 1]);
    out.set(port, (out.get(port) ?? 0) + drops);
  }
  return out;
}

export function sumDrops(drops: Map<number, number>, ports: Iterable<number>): number {
  let n = 0;
  for (const p of ports) n += drops.get(p) ?? 0;
  return n;
}

export const loadText = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
