/**
 * The signalling protocol between the web page (or any client) and the daemon, over one WebSocket at
 * `/ws?room=ROOM&peer=PEER_ID&name=NAME`. Modelled on mediasoup-demo (protoo). Secrets never go in the
 * URL (proxies and access logs keep URLs): the first message is a `hello` request carrying them,
 *
 *   {request: true, id, method: 'hello', data: {session, token?, host?, roomPassword?}}
 *
 * answered with {role, waiting} once the connection is admitted (or a refusal and a close). Then:
 *
 *   request       {request: true, id, method, data}          either side; answered by a response
 *   response      {response: true, id, ok: true, data}
 *                 {response: true, id, ok: false, errorCode, errorReason}
 *   notification  {notification: true, method, data}          either side; never answered
 *
 * Types only: the server parses every client message with the schemas in src/signalling/schemas.ts,
 * each typed against the type here, before anything acts on it.
 */

export type Role = 'host' | 'guest';
export type MediaKind = 'audio' | 'video';
export type MediaSource = 'mic' | 'webcam' | 'screen';

/** A JSON object the server passes on to mediasoup as it is (after checking its size). */
export type Loose = { [k: string]: unknown };

/** The first message: the credentials. Anything else first is refused. */
export interface Hello {
  /** The tab's session secret (SESSION_RE). */
  session: string;
  /** Join token, from a link. */
  token?: string | undefined;
  /** Host session token, from a login. */
  host?: string | undefined;
  /** The seed's roomPassword=0/false means "no password". */
  roomPassword?: string | undefined;
}

/**
 * Answer to `hello`: `waiting` true means wait for the `admitted` notification before going on.
 * In a cluster, `moved` instead: the room is held by another node, whose base URL this is; the page
 * opens its signalling there with the same hello (the server closes this connection).
 */
export type HelloResponse =
  | {
      role: Role;
      waiting: boolean;
      /**
       * The hello carried a host login (`host`) that is not valid (ended, or made from another address):
       * the connection came in as a guest; the sentence to show. The page offers to log in again.
       */
      loginNotValid?: string;
      moved?: undefined;
    }
  | { moved: string };

/** Client -> server requests: method -> data. */
export interface ClientRequests {
  getRouterRtpCapabilities: Record<string, never>;
  createWebRtcTransport: { producing: boolean; consuming: boolean; forceTcp?: boolean | undefined; sctpCapabilities?: Loose | undefined };
  connectWebRtcTransport: { transportId: string; dtlsParameters: { fingerprints: Loose[]; [k: string]: unknown } };
  restartIce: { transportId: string };
  join: {
    displayName?: string | undefined;
    device?: { name?: string | undefined; [k: string]: unknown } | undefined;
    rtpCapabilities: { codecs: Loose[]; [k: string]: unknown };
    sctpCapabilities?: Loose | undefined;
  };
  produce: {
    transportId: string;
    kind: MediaKind;
    rtpParameters: { codecs: Loose[]; [k: string]: unknown };
    /** width/height: the track's size as captured, from which the server sizes the simulcast layers. */
    appData?: { source?: MediaSource | undefined; width?: number | undefined; height?: number | undefined; [k: string]: unknown } | undefined;
  };
  closeProducer: { producerId: string };
  pauseProducer: { producerId: string };
  resumeProducer: { producerId: string };
  pauseConsumer: { consumerId: string };
  resumeConsumer: { consumerId: string };
  setConsumerPreferredLayers: { consumerId: string; spatialLayer: number; temporalLayer?: number | undefined };
  /**
   * Adaptive stream: the size (device pixels) a video consumer's tile renders at, and whether it can be
   * seen (tab shown, tile on screen and not minimised). The server picks the consumer's layer from it
   * and pauses it while invisible (src/rooms/layers.ts).
   */
  setConsumerView: { consumerId: string; width: number; height: number; visible: boolean };
  requestConsumerKeyFrame: { consumerId: string };
  changeDisplayName: { displayName: string };
  getStats: Record<string, never>;
  // Host controls: refused (403) unless the connection has host rights at the moment of the request.
  hostMutePeer: { peerId: string; kind: MediaKind };
  /** Lifts a host's mute: the peer may resume (never resumed for it). */
  hostUnmutePeer: { peerId: string; kind: MediaKind };
  hostKickPeer: { peerId: string };
  hostLockRoom: { locked: boolean };
  hostSetRoomPassword: { password: string | null };
  /** Lobby: turn it on or off (off lets everyone waiting in). Answers the LobbyState. */
  hostSetLobby: { enabled: boolean };
  /** Lobby: let one waiting guest in, refuse one (closed with CLOSE_CODES.lobbyDenied), or let everyone in. */
  hostAdmit: { peerId: string };
  hostDeny: { peerId: string };
  hostAdmitAll: Record<string, never>;
  /** Ends the meeting for everyone (seated or waiting): all are closed with `room_closed`, as by `confctl end`. */
  hostEndMeeting: Record<string, never>;
  /** Chat: to everyone, or privately to one peer (`to`: its id). Joined peers only; bounded (CHAT_TEXT_MAX, CHAT_BURST per CHAT_REFILL_SECONDS). */
  chat: { text: string; to?: string | undefined };
  /** Host: turn the room's chat off or on (everyone gets `chatState`). */
  hostSetChat: { enabled: boolean };
}

/** Every client request method, in the order above. */
export const CLIENT_METHODS = [
  'getRouterRtpCapabilities',
  'createWebRtcTransport',
  'connectWebRtcTransport',
  'restartIce',
  'join',
  'produce',
  'closeProducer',
  'pauseProducer',
  'resumeProducer',
  'pauseConsumer',
  'resumeConsumer',
  'setConsumerPreferredLayers',
  'setConsumerView',
  'requestConsumerKeyFrame',
  'changeDisplayName',
  'getStats',
  'hostMutePeer',
  'hostUnmutePeer',
  'hostKickPeer',
  'hostLockRoom',
  'hostSetRoomPassword',
  'hostSetLobby',
  'hostAdmit',
  'hostDeny',
  'hostAdmitAll',
  'hostEndMeeting',
  'chat',
  'hostSetChat',
] as const satisfies readonly (keyof ClientRequests)[];

export type ClientMethod = (typeof CLIENT_METHODS)[number];
export type ClientRequestData<M extends ClientMethod> = ClientRequests[M];

// The list names every method of ClientRequests (a method added to one and not the other fails here).
type Missing = Exclude<keyof ClientRequests, ClientMethod>;
const _allMethodsListed: [Missing] extends [never] ? true : Missing = true;
void _allMethodsListed;

export const isClientMethod = (m: string): m is ClientMethod => (CLIENT_METHODS as readonly string[]).includes(m);

// ---- Server -> client (the server builds these itself) -------------------------------------------

export interface PeerInfo {
  id: string;
  displayName: string;
  device: { name?: string };
  role: Role;
}

export interface RoomState {
  locked: boolean;
  hasPassword: boolean;
}

/**
 * One chat message as the server relays it. `from` is the server's view of the sender's connection
 * (never what the client said); `to` is 'all' or the recipient's peer id, and `private` says which
 * (a peer may be called "all").
 */
export interface ChatMessage {
  id: string;
  from: { peerId: string; displayName: string; role: Role };
  to: string;
  private: boolean;
  text: string;
  /** When the server relayed it (ms since the epoch). */
  at: number;
}

/** The room's chat as a joining peer gets it: on or off, and the last CHAT_HISTORY public messages, oldest first. */
export interface ChatSnapshot {
  enabled: boolean;
  history: ChatMessage[];
}

/** A guest waiting in the lobby, as hosts see it. */
export interface LobbyEntry {
  peerId: string;
  displayName: string;
  /** When it knocked (ms since the epoch). */
  since: number;
}

/** The room's lobby: on or off, and who is waiting in it (oldest first). Sent to hosts only. */
export interface LobbyState {
  enabled: boolean;
  waiting: LobbyEntry[];
}

/** Answer to `join`. */
export interface JoinResponse {
  peers: PeerInfo[];
  role: Role;
  room: RoomState;
  chat: ChatSnapshot;
}

/** A TURN server with credentials valid for a while (RTCIceServer). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

/**
 * Answer to `restartIce`: the new ICE parameters, and the TURN relays with credentials valid from now
 * (those of the transport's creation may have expired: give them to `transport.updateIceServers()`
 * before `restartIce()`).
 */
export interface IceRestart {
  iceParameters: unknown;
  iceServers: IceServer[];
}

/** Answer to `createWebRtcTransport`: what mediasoup-client's createSendTransport/createRecvTransport take. */
export interface TransportInfo {
  id: string;
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
  sctpParameters?: unknown;
  /** TURN relays for this transport, with short-lived credentials; [] when the server has none. */
  iceServers: IceServer[];
}

/** Server -> client request: the client sets up the consumer, answers, then the server resumes it. */
export interface NewConsumerData {
  peerId: string;
  producerId: string;
  id: string;
  kind: MediaKind;
  rtpParameters: unknown;
  type: string;
  appData: Record<string, unknown>;
  producerPaused: boolean;
}

/** Why the server ended a session (`disconnected.reason`); each has its close code in CLOSE_CODES. */
export const DISCONNECT_REASONS = ['kicked', 'replaced', 'worker_died', 'room_closed', 'host_left', 'shutdown', 'rate_limited', 'revoked', 'join_timeout'] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

export interface ServerNotifications {
  newPeer: PeerInfo;
  peerClosed: { peerId: string };
  peerDisplayNameChanged: { peerId: string; displayName: string };
  consumerClosed: { consumerId: string };
  consumerPaused: { consumerId: string };
  consumerResumed: { consumerId: string };
  consumerScore: { consumerId: string; score: unknown };
  /** The layers mediasoup forwards to this consumer now (null: none, e.g. paused). */
  consumerLayers: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null };
  /**
   * Dynacast: nobody receives the layers of this producer above `maxSpatialLayer`; the sender stops
   * encoding them (encodings[i].active = false) until a later notification raises it.
   */
  producerLayers: { producerId: string; maxSpatialLayer: number };
  producerScore: { producerId: string; score: unknown };
  /**
   * The room's dominant speaker (ActiveSpeakerObserver), once they have been heard: the page gives their
   * tile the large slot. null: none any more (they left). Sent to a joining peer too, if there is one.
   */
  activeSpeaker: { peerId: string | null; volume?: number };
  /** Everyone whose audio is above the speaking threshold now (AudioLevelObserver), sorted; [] when silent. */
  speaking: { peerIds: string[] };
  /**
   * Sent instead of admitting a guest while the room has no host (admitted when one arrives), or while
   * its lobby is on (admitted when a host or the admin lets it in); sent again when the first turns into the second.
   */
  waiting: { message: string };
  /** To hosts: a guest knocked at the lobby ("NAME wants to join"). */
  lobbyKnock: LobbyEntry;
  /** To hosts: the lobby changed (on/off, someone knocked, left, was admitted or denied); also after a host joins. */
  lobby: LobbyState;
  /** To hosts: someone is guessing the room password, and is refused for a while (once per block). */
  passwordGuessing: { message: string };
  /** The waiting guest was admitted: proceed with getRouterRtpCapabilities / join. */
  admitted: Record<string, never>;
  /** This connection's role changed (e.g. host rights revoked by the admin). */
  role: { role: Role; message: string };
  peerRoleChanged: { peerId: string; role: Role };
  roomState: RoomState;
  /** Muted by a host: the server refuses to resume or re-produce that kind until a host lifts it. */
  mutedByHost: { kind: MediaKind };
  unmutedByHost: { kind: MediaKind };
  /** The server ended this session: `rejoin` true means the page reconnects by itself (its message says so). */
  disconnected: {
    reason: DisconnectReason;
    rejoin: boolean;
    message: string;
  };
  /** A chat message to everyone, or a private one (sent to its recipient and back to its sender). */
  chatMessage: ChatMessage;
  /** A host turned the room's chat off or on. */
  chatState: { enabled: boolean; by: { peerId: string; displayName: string } };
  /**
   * The room is being recorded (`confctl record start`) or no longer is: sent to everyone in the room,
   * and to each joiner while a recording runs. `startedBy` says who started it ("admin").
   */
  recording: { active: boolean; startedBy?: string };
  error: { reason: string };
}
