import type { Logger } from '../log.ts';
import type { CredentialEnded } from '../auth/admission.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { addEntries, type MediaPlane, type RoomSummary, type StateEntries } from './view.ts';
import { startWorkerPool, type MediaListen, type WorkerPool } from '../sfu/worker-pool.ts';
import { createRoom, type Room, type RoomSettings } from './room.ts';

/** Host presence for the leave-grace logout (auth/host-protection.ts). */
export interface HostPresence {
  hostPresent(key: string): void;
  hostLeft(key: string): void;
}

export interface Rooms extends MediaPlane {
  /** The room of that name, made on first use: rules only, its media opens when a peer enters. */
  room(name: string): Room;
  existing(name: string): Room | undefined;
  /** Auth says a credential ended: every room ends or demotes what it let in. */
  credentialEnded(ev: CredentialEnded): void;
  /** Rooms with someone in them, waiting, or expected back (a cluster keeps their leases). */
  held(): string[];
  /** Host credentials with a connection open in some room here. */
  hostsPresent(): string[];
  readonly pool: WorkerPool;
  /** Daemon shutdown: everyone is told to come back later. */
  close(): void;
}

/** How often what has run out is swept from every room, and rooms left with nothing are forgotten. */
const SWEEP_MS = 15_000;

/** Rooms by name over a pool of mediasoup workers. */
export async function startRooms(opts: {
  workers: number | 'auto';
  media: MediaListen;
  settings: RoomSettings;
  presence?: HostPresence;
  /** Writes an audit event (the store's): a meeting a host ended is audited as the admin route audits its own. */
  audit?: (type: string, actor: string, details: Record<string, string | number | boolean>) => Promise<unknown>;
  log: Logger;
}): Promise<Rooms> {
  const { log } = opts;
  const rooms = new Map<string, Room>();
  /** Connections per host credential over all rooms: the host has left when the last one goes. */
  const hostConnections = new Map<string, number>();

  const pool = await startWorkerPool({
    workers: opts.workers,
    media: opts.media,
    log,
    onWorkerDied: (dead) => {
      for (const room of rooms.values()) room.workerDied(dead);
    },
  });

  function forgetIfIdle(name: string, room: Room): void {
    if (rooms.get(name) === room && room.idle()) rooms.delete(name);
  }

  const sweep = setInterval(() => {
    for (const [name, room] of rooms) {
      // A room that never empties is never idle: it is swept all the same.
      room.sweep();
      forgetIfIdle(name, room);
    }
  }, SWEEP_MS);
  sweep.unref();

  function room(name: string): Room {
    let r = rooms.get(name);
    // A room the admin ended is closed for good: whoever comes next opens a new one.
    if (r && !r.closed) return r;
    const made: Room = createRoom({
      name,
      pool,
      settings: opts.settings,
      log,
      events: {
        hostPresent(key) {
          hostConnections.set(key, (hostConnections.get(key) ?? 0) + 1);
          opts.presence?.hostPresent(key);
        },
        hostLeft(key) {
          const n = (hostConnections.get(key) ?? 1) - 1;
          if (n > 0) return void hostConnections.set(key, n);
          hostConnections.delete(key);
          opts.presence?.hostLeft(key);
        },
        hostEnded(by, peers) {
          opts.audit?.('room.end', by, { room: name, peers }).catch((err: unknown) => log.error({ err, room: name }, 'could not audit the end of a meeting'));
        },
        idle: () => setImmediate(() => forgetIfIdle(name, made)),
      },
    });
    rooms.set(name, (r = made));
    return r;
  }

  const withPeers = () => [...rooms.values()].filter((r) => r.peers.size > 0);

  return {
    pool,
    room,
    existing: (name) => {
      const r = rooms.get(name);
      return r && !r.closed ? r : undefined;
    },
    held: () => [...rooms].filter(([, r]) => !r.idle()).map(([name]) => name),
    hostsPresent: () => [...hostConnections.keys()],
    credentialEnded(ev) {
      for (const r of [...rooms.values()]) r.credentialEnded(ev);
    },
    workers: () => pool.summaries(),
    entries: () => [...rooms.values()].reduce<StateEntries>((all, r) => addEntries(all, r.entries()), { rooms: rooms.size }),
    rooms: (): RoomSummary[] => withPeers().map((r) => r.summary()),
    kick: (roomName, peerId) => rooms.get(roomName)?.kick(peerId, USER_MESSAGES.kickedByAdmin) ?? false,
    end(roomName) {
      const r = rooms.get(roomName);
      if (!r || r.closed || r.peers.size === 0) return null;
      const ended = r.end();
      rooms.delete(roomName);
      return ended;
    },
    lobby: (roomName) => rooms.get(roomName)?.lobby() ?? { enabled: opts.settings.lobby, waiting: [] },
    // The admin may set a room's lobby before anyone comes: the room is made, and kept while it differs from rooms.lobby.
    setLobby: (roomName, enabled) => room(roomName).setLobby(enabled, 'admin'),
    lobbyAdmit: (roomName, target) => rooms.get(roomName)?.lobbyAdmit(target, 'admin') ?? null,
    lobbyDeny: (roomName, target) => rooms.get(roomName)?.lobbyDeny(target, 'admin') ?? null,
    close() {
      clearInterval(sweep);
      for (const r of rooms.values()) r.close('shutdown', USER_MESSAGES.shutdown, true);
      rooms.clear();
      pool.close();
    },
  };
}
