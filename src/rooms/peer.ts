import type { types } from 'mediasoup';
import type { Admission } from '../auth/admission.ts';
import type { ClientMethod, ClientRequestData, NewConsumerData, PeerInfo, Role, ServerNotifications } from '../protocol/messages.ts';
import { ConfdError, type ErrorCode } from '../errors.ts';
import type { RoomRouter } from '../sfu/router-set.ts';

/** How a room talks back to one connection; implemented by the signalling layer. */
export interface PeerChannel {
  notify<M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]): void;
  request(method: 'newConsumer', data: NewConsumerData, timeoutMs?: number): Promise<unknown>;
  /** Ends the session: sends `disconnected` and closes the socket with the reason's close code. */
  close(reason: ServerNotifications['disconnected']['reason'], message: string, rejoin?: boolean): void;
  /** Refuses entry: an `error` notification with the message, then the close code. */
  refuse(code: number, message: string): void;
}

/**
 * Media transports one connection may hold against the server's limits (per client address and in all):
 * granted before a transport is created, given back when it closes.
 */
export interface TransportQuota {
  /** null when granted, else why not (the client is told). */
  take(): { code: ErrorCode; message: string } | null;
  release(): void;
}

/** A connection asking a room to let it in. */
export interface Entrant {
  peerId: string;
  displayName: string;
  /** The client's address as limits and bans key it (IPv6 by /64). */
  ipKey: string;
  /** Hash of the tab's session secret: only the same tab may take over its peer id. */
  sessionHash: string;
  admission: Admission;
  roomPassword: string | null;
  channel: PeerChannel;
  quota: TransportQuota;
}

export interface Peer {
  readonly id: string;
  readonly ipKey: string;
  readonly sessionHash: string;
  readonly admission: Admission;
  readonly channel: PeerChannel;
  readonly quota: TransportQuota;
  displayName: string;
  device: { name?: string };
  joined: boolean;
  role: Role;
  rtpCapabilities: types.RtpCapabilities | null;
  /** The room's router this peer's transports live on (null until placed). */
  home: RoomRouter | null;
  readonly transports: Map<string, types.WebRtcTransport>;
  readonly producers: Map<string, types.Producer>;
  readonly consumers: Map<string, types.Consumer>;
  /** Kinds a host muted: resuming or producing them again is refused until a host lifts it. */
  readonly mutedByHost: Set<'audio' | 'video'>;
  /** Warnings already logged for this peer: a misbehaving client costs one log line per kind of fault. */
  readonly warned: Set<string>;
}

/** A room part's answer to one client method (the room dispatches every method through one table of these). */
export type Handler<M extends ClientMethod> = (peer: Peer, data: ClientRequestData<M>) => Promise<unknown>;
export type Handlers<M extends ClientMethod> = { [K in M]: Handler<K> };

/** Host commands are refused unless the connection has host rights at this moment (never cached). */
export function requireHost(peer: Peer): void {
  if (peer.role !== 'host' || !peer.admission.hasHostRights()) throw new ConfdError('forbidden', 'only a host can do that');
}

export const hasHostRights = (p: Peer): boolean => p.role === 'host' && p.admission.hasHostRights();

export const peerInfo = (p: Peer): PeerInfo => ({ id: p.id, displayName: p.displayName, device: p.device, role: p.role });

export function newPeer(e: Entrant): Peer {
  return {
    id: e.peerId,
    ipKey: e.ipKey,
    sessionHash: e.sessionHash,
    admission: e.admission,
    channel: e.channel,
    quota: e.quota,
    displayName: e.displayName,
    device: {},
    joined: false,
    role: e.admission.role,
    rtpCapabilities: null,
    home: null,
    transports: new Map(),
    producers: new Map(),
    consumers: new Map(),
    mutedByHost: new Set(),
    warned: new Set(),
  };
}
