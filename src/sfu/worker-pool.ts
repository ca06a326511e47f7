import { availableParallelism } from 'node:os';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';

export interface WorkerSummary {
  pid: number;
  /** Its media port (UDP and TCP), or null when each transport has its own port from mediasoup.portRange. */
  port: number | null;
  /** CPU time used so far, in milliseconds. */
  cpu: { userMs: number; systemMs: number };
  /** Routers on this worker (one per room placed on it). `rooms` is the same number, kept for scripts. */
  rooms: number;
  routers: number;
  peers: number;
  consumers: number;
}

export interface PooledWorker {
  readonly index: number;
  readonly worker: types.Worker;
  /** This worker's share of mediasoup.portRange, so workers never race for the same port (per-transport mode). */
  readonly portRange: { min: number; max: number };
  /** Single-port mode: the UDP and TCP port of the worker's WebRtcServer, which every transport of it uses. */
  readonly port: number | null;
  /** How many transports the worker may hold: its port share, or a bound on memory in single-port mode. */
  readonly transportCapacity: number;
  /** Where a new WebRtcTransport on this worker listens: its WebRtcServer, or ports of its share. */
  listenOptions(forceTcp: boolean): TransportListen;
  /** Routers on it (at most one per room), the peers placed on them and their consumers: new routers go to the worker with the fewest peers. */
  routers: number;
  peers: number;
  consumers: number;
}

/** Where a worker's media listens. */
export interface MediaListen {
  ip: string;
  announcedAddress: string | null;
  /** Worker i on UDP+TCP port + i; null: a port per transport from portRange. */
  port: number | null;
  portRange: readonly [number, number];
}

export type TransportListen = ({ webRtcServer: types.WebRtcServer } | { listenInfos: types.TransportListenInfo[] }) & {
  enableUdp: boolean;
  enableTcp: boolean;
  preferUdp: boolean;
};

/**
 * Transports one worker holds in single-port mode, where they no longer use up ports: far more than a
 * worker can feed (a peer has two; a worker saturates near 1,300-2,500 consumers, BENCHMARKS.md), so
 * only a client opening transports for their own sake meets it.
 */
export const TRANSPORTS_PER_WORKER = 1000;

export interface WorkerPoolOptions {
  workers: number | 'auto';
  media: MediaListen;
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

export const SINGLE_PORT_SOCKET_BUFFER = 4 * 1024 * 1024;

export const workerCount = (workers: number | 'auto'): number => (workers === 'auto' ? availableParallelism() : workers);

/** Where one socket listens: the media address (and the one announced), on a port or a range. */
const listenInfo = (media: MediaListen, protocol: 'udp' | 'tcp', at: { port: number } | { portRange: { min: number; max: number } }) => ({
  protocol,
  ip: media.ip,
  ...(media.announcedAddress ? { announcedAddress: media.announcedAddress } : {}),
  ...at,
});

async function listenOnePort(worker: types.Worker, media: MediaListen, port: number): Promise<types.WebRtcServer> {
  const on = (protocol: 'udp' | 'tcp') => ({
    ...listenInfo(media, protocol, { port }),
    // Every peer of the worker shares this one UDP socket: the kernel's default buffer (~208 KiB, a few
    // hundred packets) drops under a burst the per-transport sockets would have spread (BENCHMARKS.md,
    // "Single-port media"). The kernel caps it at net.core.rmem_max / wmem_max (docs/deployment.md).
    ...(protocol === 'udp' ? { recvBufferSize: SINGLE_PORT_SOCKET_BUFFER, sendBufferSize: SINGLE_PORT_SOCKET_BUFFER } : {}),
  });
  try {
    return await worker.createWebRtcServer({ listenInfos: [on('udp'), on('tcp')] });
  } catch (e) {
    const why = (e as Error).message;
    throw new Error(
      /in use|EADDRINUSE|address already/i.test(why)
        ? `media port ${port} (UDP or TCP on ${media.ip}) is already in use; free it, or set mediasoup.port to another base (worker i uses port + i)`
        : `cannot listen for media on ${media.ip} port ${port}: ${why}`,
    );
  }
}

/**
 * mediasoup closes each worker as soon as the process gets SIGINT or SIGTERM (its Worker listens
 * itself, `onSignal`). The daemon's shutdown must come first: recordings finalised while their routers
 * still run, peers told the daemon is stopping (not that their worker died); it closes the workers
 * last. So that listener goes. (Were the daemon to die instead, each worker exits when its channel closes.)
 */
function leaveSignalsToTheDaemon(worker: types.Worker): void {
  const onSignal = (worker as unknown as { onSignal?: unknown }).onSignal;
  if (typeof onSignal !== 'function') return;
  process.removeListener('SIGINT', onSignal as () => void);
  process.removeListener('SIGTERM', onSignal as () => void);
}

export async function startWorkerPool(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const { log, media } = opts;
  const count = workerCount(opts.workers);
  const ranges = splitPortRange(media.portRange[0], media.portRange[1], count);
  if (media.port !== null && media.port + count - 1 > 65535) {
    throw new Error(`mediasoup.port ${media.port} + ${count} workers goes past port 65535; lower mediasoup.port`);
  }
  const slots: (PooledWorker | null)[] = new Array(count).fill(null);
  const failures: number[] = new Array(count).fill(0);
  let closed = false;

  async function spawn(index: number): Promise<PooledWorker> {
    const worker = await mediasoup.createWorker({ logLevel: 'warn' });
    leaveSignalsToTheDaemon(worker);
    const port = media.port === null ? null : media.port + index;
    let webRtcServer: types.WebRtcServer | null = null;
    if (port !== null) {
      try {
        webRtcServer = await listenOnePort(worker, media, port);
      } catch (e) {
        worker.close();
        throw e;
      }
    }
    const range = ranges[index]!;
    const inRange = (protocol: 'udp' | 'tcp') => listenInfo(media, protocol, { portRange: range });
    const pooled: PooledWorker = {
      listenOptions: (forceTcp) =>
        webRtcServer
          ? { webRtcServer, enableUdp: !forceTcp, enableTcp: true, preferUdp: true }
          : { listenInfos: forceTcp ? [inRange('tcp')] : [inRange('udp'), inRange('tcp')], enableUdp: !forceTcp, enableTcp: true, preferUdp: true },
      index,
      worker,
      portRange: range,
      port,
      transportCapacity: port === null ? range.max - range.min + 1 : TRANSPORTS_PER_WORKER,
      routers: 0,
      peers: 0,
      consumers: 0,
    };
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
    log.info({ worker: index, pid: worker.pid, ...(port === null ? { ports: range } : { port }) }, 'mediasoup worker started');
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
          return { pid: w.worker.pid, port: w.port, cpu: { userMs: usage?.ru_utime ?? 0, systemMs: usage?.ru_stime ?? 0 }, rooms: w.routers, routers: w.routers, peers: w.peers, consumers: w.consumers };
        }),
      );
    },
    close() {
      closed = true;
      for (const w of slots) w?.worker.close();
    },
  };
}
