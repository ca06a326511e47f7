import type { Logger } from '../log.ts';
import type { MediaPlane, RoomSummary } from './media-plane.ts';
import { createRoom, type Room } from './room.ts';
import { startWorkerPool, type PooledWorker, type WorkerPool } from './worker-pool.ts';

export interface SfuOptions {
  workers: number | 'auto';
  portRange: readonly [number, number];
  listenIp: string;
  announcedAddress: string | null;
  maxPeers: number;
  log: Logger;
}

export interface Sfu extends MediaPlane {
  /** The room, created on first use on the least-loaded worker. */
  room(name: string): Promise<Room>;
  existingRoom(name: string): Room | undefined;
  readonly pool: WorkerPool;
  close(): void;
}

/** Rooms by name, one mediasoup router each; a room closes when its last peer leaves. */
export async function startSfu(opts: SfuOptions): Promise<Sfu> {
  const { log } = opts;
  const rooms = new Map<string, Room>();
  const creating = new Map<string, Promise<Room>>();

  function onWorkerDied(dead: PooledWorker): void {
    for (const room of [...rooms.values()].filter((r) => r.worker === dead)) {
      log.warn({ room: room.name, peers: room.peers.size }, 'room lost its media worker; peers are asked to rejoin');
      for (const peer of room.peers.values()) peer.channel.close('worker_died', 'The media server restarted. Reconnecting...', true);
      room.close();
    }
  }

  const pool = await startWorkerPool({ workers: opts.workers, portRange: opts.portRange, log, onWorkerDied });

  async function room(name: string): Promise<Room> {
    const existing = rooms.get(name);
    if (existing) return existing;
    const pending = creating.get(name);
    if (pending) return pending;
    const p = createRoom({
      name,
      worker: pool.leastLoaded(),
      listenIp: opts.listenIp,
      announcedAddress: opts.announcedAddress,
      maxPeers: opts.maxPeers,
      log,
    })
      .then((r) => {
        r.onClose = () => {
          if (rooms.get(name) === r) rooms.delete(name);
          log.info({ room: name }, 'room closed');
        };
        rooms.set(name, r);
        log.info({ room: name, workerPid: r.worker.worker.pid }, 'room created');
        return r;
      })
      .finally(() => creating.delete(name));
    creating.set(name, p);
    return p;
  }

  return {
    pool,
    room,
    existingRoom: (name) => rooms.get(name),
    workers: () => pool.summaries(),
    rooms: (): RoomSummary[] => [...rooms.values()].map((r) => r.summary()),
    kick: (roomName, peerId) => rooms.get(roomName)?.kick(peerId, 'You were removed from the room by an administrator.') ?? false,
    close() {
      for (const r of rooms.values()) {
        for (const p of r.peers.values()) p.channel.close('shutdown', 'The server is shutting down.', true);
        r.close();
      }
      pool.close();
    },
  };
}
