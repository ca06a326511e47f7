import type { LobbyState } from '../protocol/messages.ts';
import type { LobbyTarget } from './admission.ts';
import type { WorkerSummary } from '../sfu/worker-pool.ts';

/**
 * What the control plane (admin socket, HTTP API, metrics, cluster load) sees of the rooms: summaries
 * for status and `confctl rooms`, and the few things it may do to a room. Owned by rooms/, which
 * implements it (registry.ts); the layers above import it from here.
 */
export interface PeerSummary {
  id: string;
  name: string;
  producers: number;
  consumers: number;
  /** Adaptive stream: each video consumer's layers and pauses, as mediasoup has them now. */
  videoConsumers?: ConsumerLayersSummary[];
  /** Dynacast: the highest layer each of the peer's simulcast producers was last told to encode. */
  dynacast?: DynacastSummary[];
  /** mediasoup's transport-cc estimate of the peer's receiving link, bits/s (null before one). */
  receiveEstimateBps?: number | null;
}

export interface ConsumerLayersSummary {
  id: string;
  producerId: string;
  /** The sending peer's id, and what it sends (webcam, screen). */
  fromPeer: string;
  source: string;
  /** mediasoup's consumer type: simple, simulcast or svc. */
  type: string;
  /** Paused at the server (hidden tile, client pause), apart from `producerPaused` (the sender paused). */
  paused: boolean;
  producerPaused: boolean;
  /** The tile as the page last reported it (setConsumerView). */
  view: { width: number; height: number; visible: boolean } | null;
  preferredSpatialLayer: number | null;
  /** What mediasoup forwards now (below the preferred layer under congestion); null when nothing. */
  currentSpatialLayer: number | null;
  currentTemporalLayer: number | null;
  /** The highest layer the receiver's link carries (transport-cc estimate); null before the first estimate. */
  bandwidthLayer: number | null;
}

export interface DynacastSummary {
  producerId: string;
  layers: number;
  maxSpatialLayer: number;
}

export interface RoomSummary {
  name: string;
  createdAt: string;
  /** The worker of the room's first router (null before media); `routers` lists them all. */
  workerPid: number | null;
  /** One per worker the room is spread over. */
  routers: { id: string; workerPid: number; peers: number }[];
  peers: PeerSummary[];
  /** The dominant speaker the room announced (null until someone spoke), and who is audible now. */
  activeSpeaker?: string | null;
  speaking?: string[];
  /** Consumers whose priority is above the default (the active speaker's video, to each receiver). */
  priorities?: { consumerId: string; peer: string; fromPeer: string | null; kind: string; priority: number }[];
}

/**
 * Entries kept in memory beyond the open connections, by kind (rooms, peer ids kept for a tab, bans,
 * per-address counts, rate buckets, pipes), summed over rooms. Each comes back to its level once the
 * people it was kept for are gone and its time is up: one that only grows over a long run is a leak
 * (confd_state_entries on /metrics; npm run soak watches them).
 */
export type StateEntries = Record<string, number>;

/** Adds `b`'s counts into `a`. */
export function addEntries(a: StateEntries, b: StateEntries): StateEntries {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}

export interface MediaPlane {
  workers(): Promise<WorkerSummary[]>;
  /** What the rooms keep in memory (StateEntries), over every room the registry holds. */
  entries(): StateEntries;
  rooms(): RoomSummary[];
  /** Disconnects the peer; false when there is no such room or peer. */
  kick(room: string, peer: string): boolean;
  /** Ends a meeting: everyone in it is disconnected and the room closes. The peers it held, or null when no meeting runs there. */
  end(room: string): { peers: number } | null;
  /** A room's lobby (the configured default for a room that does not exist yet). */
  lobby(room: string): LobbyState;
  /** Turns a room's lobby on or off (making the room if need be); off lets everyone waiting in it in. */
  setLobby(room: string, enabled: boolean): LobbyState;
  /** Lets one waiting guest, or all, in from the lobby / refuses them: the ids, or null when the one named is not waiting. */
  lobbyAdmit(room: string, target: LobbyTarget): string[] | null;
  lobbyDeny(room: string, target: LobbyTarget): string[] | null;
}
