/** What the control plane sees of the media plane: summaries for status/rooms, and kick. */
export interface PeerSummary {
  id: string;
  name: string;
  producers: number;
  consumers: number;
}

export interface RoomSummary {
  name: string;
  createdAt: string;
  /** The worker of the room's first router (null before media); `routers` lists them all. */
  workerPid: number | null;
  /** One per worker the room is spread over. */
  routers: { id: string; workerPid: number; peers: number }[];
  peers: PeerSummary[];
}

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

export interface MediaPlane {
  workers(): Promise<WorkerSummary[]>;
  rooms(): RoomSummary[];
  /** Disconnects the peer; false when there is no such room or peer. */
  kick(room: string, peer: string): boolean;
}

/** Stands in until the SFU is started: no workers, no rooms. */
export const NO_MEDIA_PLANE: MediaPlane = {
  workers: async () => [],
  rooms: () => [],
  kick: () => false,
};
