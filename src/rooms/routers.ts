/**
 * A room's router lifecycle: its RouterSet is opened when the first peer enters (concurrent entrants
 * wait for the same one), peers are placed on it and released, and it is closed once, when the last
 * peer has gone or the room closes. A router lost with its worker is reported to the room.
 */
import type { Logger } from '../log.ts';
import { createRouterSet, type RoomRouter, type RouterSet } from '../sfu/router-set.ts';
import type { PooledWorker, WorkerPool } from '../sfu/worker-pool.ts';
import type { RoomSummary } from './view.ts';

export interface RoomRouters {
  /** The open RouterSet, or null when the room has no media. */
  current(): RouterSet | null;
  /** A router for a new peer, opening the room's media first if need be. */
  place(): Promise<RoomRouter>;
  /** A peer placed on `r` left. */
  release(r: RoomRouter): void;
  /** Media is being opened right now. */
  readonly opening: boolean;
  /** A worker died: its routers close (each reported to onLost). */
  dropWorker(worker: PooledWorker): void;
  /** Closes the media; false when there was none open. Idempotent. */
  close(): boolean;
  summary(): Pick<RoomSummary, 'workerPid' | 'routers'>;
}

export function createRoomRouters(opts: { pool: WorkerPool; peersPerRouter: number; log: Logger; onLost: (r: RoomRouter) => void }): RoomRouters {
  const { log } = opts;
  let routers: RouterSet | null = null;
  let opening: Promise<RouterSet> | null = null;

  async function open(): Promise<RouterSet> {
    if (routers) return routers;
    if (!opening) {
      opening = createRouterSet({ pool: opts.pool, peersPerRouter: opts.peersPerRouter, log, onLost: opts.onLost }).finally(() => (opening = null));
      routers = await opening;
      log.info({ workerPid: routers.routers[0]?.worker.worker.pid }, 'room media opened');
      return routers;
    }
    return opening;
  }

  return {
    current: () => routers,
    async place() {
      return (await open()).place();
    },
    release(r) {
      routers?.release(r);
    },
    get opening() {
      return opening !== null;
    },
    dropWorker(worker) {
      routers?.dropWorker(worker);
    },
    close() {
      if (!routers) return false;
      routers.close();
      routers = null;
      return true;
    },
    summary: () => ({
      workerPid: routers?.routers[0]?.worker.worker.pid ?? null,
      routers: (routers?.routers ?? []).map((r) => ({ id: r.router.id, workerPid: r.worker.worker.pid, peers: r.peers })),
    }),
  };
}
