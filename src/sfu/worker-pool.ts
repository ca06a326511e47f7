import { availableParallelism } from 'node:os';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';
import type { WorkerSummary } from './media-plane.ts';

export interface PooledWorker {
  readonly index: number;
  readonly worker: types.Worker;
  /** This worker's share of mediasoup.portRange, so workers never race for the same port. */
  readonly portRange: { min: number; max: number };
  /** Routers on it (at most one per room), the peers placed on them and their consumers: new routers go to the worker with the fewest peers. */
  routers: number;
  peers: number;
  consumers: number;
}

export interface WorkerPoolOptions {
  workers: number | 'auto';
  portRange: readonly [number, number];
  log: Logger;
  /** Called after a worker died, before its replacement is started. */
  onWorkerDied: (dead: PooledWorker) => void;
}

export interface WorkerPool {
  leastLoaded(): PooledWorker;
  summaries(): Promise<WorkerSummary[]>;
  list(): readonly PooledWorker[];
  close(): void;
}

/** Splits [lo, hi] into `n` contiguous slices, the last taking the remainder. */
export function splitPortRange(lo: number, hi: number, n: number): { min: number; max: number }[] {
  const size = Math.floor((hi - lo + 1) / n);
  if (size < 2) throw new Error(`mediasoup.portRange [${lo}, ${hi}] is too small for ${n} workers; widen it or lower mediasoup.workers`);
  return Array.from({ length: n }, (_, i) => ({ min: lo + i * size, max: i === n - 1 ? hi : lo + (i + 1) * size - 1 }));
}

const RESTART_DELAYS_MS = [0, 1000, 5000, 15000, 60000];

export async function startWorkerPool(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const { log } = opts;
  const count = opts.workers === 'auto' ? availableParallelism() : opts.workers;
  const ranges = splitPortRange(opts.portRange[0], opts.portRange[1], count);
  const slots: (PooledWorker | null)[] = new Array(count).fill(null);
  const failures: number[] = new Array(count).fill(0);
  let closed = false;

  async function spawn(index: number): Promise<PooledWorker> {
    const worker = await mediasoup.createWorker({ logLevel: 'warn' });
    const pooled: PooledWorker = { index, worker, portRange: ranges[index]!, routers: 0, peers: 0, consumers: 0 };
    worker.on('died', (err) => {
      if (closed) return;
      log.error({ worker: index, pid: worker.pid, err: err.message }, 'mediasoup worker died; replacing it');
      slots[index] = null;
      try {
        opts.onWorkerDied(pooled);
      } catch (e) {
        log.error({ err: e }, 'error while closing the rooms of a dead worker');
      }
      respawn(index);
    });
    log.info({ worker: index, pid: worker.pid, ports: ranges[index] }, 'mediasoup worker started');
    return pooled;
  }

  function respawn(index: number): void {
    // Back off when a worker keeps dying (bad binary, no memory) instead of spinning.
    const delay = RESTART_DELAYS_MS[Math.min(failures[index]!, RESTART_DELAYS_MS.length - 1)]!;
    failures[index]!++;
    setTimeout(() => {
      if (closed) return;
      spawn(index)
        .then((w) => {
          slots[index] = w;
          setTimeout(() => (failures[index] = 0), 60_000).unref();
        })
        .catch((e: unknown) => {
          log.error({ worker: index, err: (e as Error).message }, 'could not start a replacement mediasoup worker');
          respawn(index);
        });
    }, delay).unref();
  }

  for (let i = 0; i < count; i++) slots[i] = await spawn(i);

  return {
    leastLoaded() {
      const live = slots.filter((w): w is PooledWorker => w !== null);
      if (live.length === 0) throw new Error('no mediasoup worker is running right now; try again in a few seconds');
      // Peers, not routers: a worker's load grows with its consumers (peers² per room), and one large room
      // must not count the same as an empty one. Routers break ties, so new empty rooms spread out.
      return live.reduce((a, b) => (b.peers < a.peers || (b.peers === a.peers && b.routers < a.routers) ? b : a));
    },
    list: () => slots.filter((w): w is PooledWorker => w !== null),
    async summaries() {
      const live = slots.filter((w): w is PooledWorker => w !== null);
      return Promise.all(
        live.map(async (w) => {
          const usage = await w.worker.getResourceUsage().catch(() => null);
          return { pid: w.worker.pid, cpu: { userMs: usage?.ru_utime ?? 0, systemMs: usage?.ru_stime ?? 0 }, rooms: w.routers, routers: w.routers, peers: w.peers, consumers: w.consumers };
        }),
      );
    },
    close() {
      closed = true;
      for (const w of slots) w?.worker.close();
    },
  };
}
