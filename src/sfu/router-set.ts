import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';
import { MEDIA_CODECS } from './codecs.ts';
import type { PooledWorker, WorkerPool } from './worker-pool.ts';

/** One of a room's routers: on its own worker, with the peers placed on it. */
export interface RoomRouter {
  readonly router: types.Router;
  readonly worker: PooledWorker;
  /** Peers placed on this router. */
  peers: number;
}

export interface RouterSet {
  readonly routers: readonly RoomRouter[];
  /**
   * The router for a new peer: the least-loaded of the room's routers; when every one of them holds
   * `peersPerRouter` peers and a worker without a router of this room is running, a router is added there.
   */
  place(): Promise<RoomRouter>;
  /** A peer placed on `r` left. */
  release(r: RoomRouter): void;
  /**
   * Makes a producer of router `from` consumable on router `to` (a pipe: same producer id on both;
   * made once per producer and router, closed by mediasoup with either end, and forgotten when it closes).
   */
  pipe(producerId: string, from: RoomRouter, to: RoomRouter): Promise<void>;
  /** Closes the routers on a dead worker (each is reported to onLost, once). */
  dropWorker(worker: PooledWorker): void;
  readonly rtpCapabilities: types.RtpCapabilities;
  /** Producers piped to another router of the room (one per producer and router). */
  readonly pipes: number;
  close(): void;
}

/**
 * A room's routers, one per worker at most: a room grows onto another core once its routers are full,
 * instead of stopping at one worker's capacity (LiveKit, mediasoup-demo's "broadcaster" pattern).
 * Producers reach the other routers through `pipeToRouter`, on demand, when a consumer there needs them.
 */
export async function createRouterSet(opts: {
  pool: WorkerPool;
  peersPerRouter: number;
  log: Logger;
  /** A router closed under the room (its worker died): the room's peers on it must rejoin. */
  onLost: (r: RoomRouter) => void;
}): Promise<RouterSet> {
  const { pool, log } = opts;
  const routers: RoomRouter[] = [];
  const pipes = new Map<string, Promise<void>>(); // producerId \0 router id
  let closed = false;

  async function add(worker: PooledWorker): Promise<RoomRouter> {
    const router = await worker.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const r: RoomRouter = { router, worker, peers: 0 };
    worker.routers++;
    routers.push(r);
    router.observer.once('close', () => {
      worker.routers = Math.max(0, worker.routers - 1);
      const i = routers.indexOf(r);
      if (i >= 0) routers.splice(i, 1);
      for (const k of [...pipes.keys()]) if (k.endsWith(`\0${router.id}`)) pipes.delete(k);
      // A dying worker closes its routers before it emits 'died': this is where the room learns it.
      if (!closed) opts.onLost(r);
    });
    if (routers.length > 1) log.info({ routers: routers.length, workerPid: worker.worker.pid }, 'room spread onto another worker');
    return r;
  }

  // Adding routers is serialised: two peers arriving at once must not each open a router.
  let growing: Promise<RoomRouter> | null = null;

  const first = await add(pool.leastLoaded());

  const set: RouterSet = {
    routers,
    rtpCapabilities: first.router.rtpCapabilities,

    async place() {
      while (growing) await growing.catch(() => {});
      if (closed) throw new Error('room closed');
      const least = () => routers.reduce<RoomRouter | null>((a, b) => (a === null || b.peers < a.peers ? b : a), null);
      let target = least();
      if (!target || target.peers >= opts.peersPerRouter) {
        const used = new Set(routers.map((r) => r.worker));
        const free = pool.list().filter((w) => !used.has(w));
        if (free.length > 0 || !target) {
          const worker = free.length > 0 ? free.reduce((a, b) => (b.peers < a.peers ? b : a)) : pool.leastLoaded();
          growing = add(worker);
          try {
            target = await growing;
          } finally {
            growing = null;
          }
        }
      }
      target!.peers++;
      target!.worker.peers++;
      return target!;
    },

    release(r) {
      r.peers = Math.max(0, r.peers - 1);
      r.worker.peers = Math.max(0, r.worker.peers - 1);
    },

    pipe(producerId, from, to) {
      if (from === to) return Promise.resolve();
      const key = `${producerId}\0${to.router.id}`;
      let p = pipes.get(key);
      if (!p) {
        p = from.router.pipeToRouter({ producerId, router: to.router }).then(
          ({ pipeProducer }) => {
            // Gone with its producer (or a router): a room that never empties kept every key otherwise.
            if (!pipeProducer || pipeProducer.closed) pipes.delete(key);
            else pipeProducer.observer.once('close', () => pipes.delete(key));
          },
          (e: unknown) => {
            pipes.delete(key);
            throw e;
          },
        );
        pipes.set(key, p);
      }
      return p;
    },

    dropWorker(worker) {
      for (const r of routers.filter((x) => x.worker === worker)) if (!r.router.closed) r.router.close();
    },

    get pipes() {
      return pipes.size;
    },

    close() {
      closed = true;
      for (const r of [...routers]) if (!r.router.closed) r.router.close();
    },
  };
  return set;
}
