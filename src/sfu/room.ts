import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';
import { MEDIA_CODECS } from './codecs.ts';
import type { PooledWorker } from './worker-pool.ts';
import type { PeerSummary, RoomSummary } from './media-plane.ts';
import { createHash } from 'node:crypto';
import type { ClientMethod, ClientRequestData, JoinResponse, NewConsumerData, PeerInfo, Role, RoomState, ServerNotifications } from '../signalling/protocol.ts';

/**
 * Every new video consumer asks its producer for a key frame, and the worker forwards that key frame
 * to every consumer of the producer: a burst of joiners costs O(N²) key-frame packets (BENCHMARKS.md,
 * "Consumer creation near saturation"). Within this window mediasoup sends the first request at once
 * and folds the rest into one, so a joiner in a burst waits at most this long for first video.
 */
export const KEY_FRAME_REQUEST_DELAY_MS = 1000;

/** How the room talks back to one peer's connection; implemented by the signalling layer. */
export interface PeerChannel {
  notify<M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]): void;
  request(method: 'newConsumer', data: NewConsumerData, timeoutMs?: number): Promise<unknown>;
  /** Ends the session: sends `disconnected` and closes the socket. */
  close(reason: ServerNotifications['disconnected']['reason'], message: string, rejoin?: boolean): void;
}

export interface Peer {
  readonly id: string;
  displayName: string;
  device: { name?: string };
  joined: boolean;
  rtpCapabilities: types.RtpCapabilities | null;
  readonly channel: PeerChannel;
  readonly transports: Map<string, types.WebRtcTransport>;
  readonly producers: Map<string, types.Producer>;
  readonly consumers: Map<string, types.Consumer>;
  role: Role;
  /** Live check of host rights (session + authorised IP, or presenter token): never cached. */
  readonly hasHostRights: () => boolean;
}

/** Who may enter, set by the room's hosts. */
export interface RoomAccess {
  locked: boolean;
  /** SHA-256 of the room password: a short-lived shared secret checked on entry in constant time. */
  passwordHash: Buffer | null;
}

/** A client-caused problem: the message goes back in the error response. */
export class RequestError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export interface Room {
  readonly name: string;
  readonly worker: PooledWorker;
  readonly createdAt: Date;
  readonly peers: ReadonlyMap<string, Peer>;
  /** Adds a connected (not yet joined) peer. The caller has already removed any peer with that id. */
  addPeer(peer: { id: string; displayName: string; channel: PeerChannel; role: Role; hasHostRights: () => boolean }): Peer;
  readonly access: RoomAccess;
  /** True while a connected peer holds live host rights. */
  hasHost(): boolean;
  /** Sets a peer's role and tells everyone. */
  setRole(peer: Peer, role: Role, message: string): void;
  removePeer(peerId: string): void;
  handle<M extends ClientMethod>(peer: Peer, method: M, data: ClientRequestData<M>): Promise<unknown>;
  summary(): RoomSummary;
  close(): void;
  /** Set by the registry: called once the room is closed (last peer left, or closed). */
  onClose?: () => void;
}

export interface RoomOptions {
  name: string;
  worker: PooledWorker;
  listenIp: string;
  announcedAddress: string | null;
  maxPeers: number;
  log: Logger;
}

const MAX_TRANSPORTS_PER_PEER = 4;
const MAX_PRODUCERS_PER_PEER = 4;
const NEW_CONSUMER_TIMEOUT_MS = 10_000;

const peerInfo = (p: Peer): PeerInfo => ({ id: p.id, displayName: p.displayName, device: p.device, role: p.role });

export const hashRoomPassword = (pw: string): Buffer => createHash('sha256').update(`confd-room:${pw}`).digest();

export async function createRoom(opts: RoomOptions): Promise<Room> {
  const { name, worker, log } = opts;
  const router = await worker.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  const speaker = await router.createActiveSpeakerObserver({ interval: 300 });
  const peers = new Map<string, Peer>();
  const createdAt = new Date();
  const access: RoomAccess = { locked: false, passwordHash: null };
  let closed = false;
  const roomState = (): RoomState => ({ locked: access.locked, hasPassword: access.passwordHash !== null });
  const broadcast = <M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]) => {
    for (const p of peers.values()) if (p.joined) p.channel.notify(method, data);
  };
  function requireHost(peer: Peer): void {
    if (peer.role !== 'host' || !peer.hasHostRights()) throw new RequestError(403, 'only a host can do that');
  }
  function targetOf(peerId: string): Peer {
    const t = peers.get(peerId);
    if (!t) throw new RequestError(404, `no peer ${peerId} in this room`);
    return t;
  }
  worker.rooms++;

  const others = (peer: Peer) => [...peers.values()].filter((p) => p !== peer && p.joined);

  speaker.on('dominantspeaker', ({ producer }) => {
    const peerId = (producer.appData as { peerId?: string }).peerId ?? null;
    for (const p of peers.values()) if (p.joined) p.channel.notify('activeSpeaker', { peerId });
  });

  function transportOf(peer: Peer, id: string): types.WebRtcTransport {
    const t = peer.transports.get(id);
    if (!t) throw new RequestError(404, `no transport ${id} on this connection`);
    return t;
  }
  function producerOf(peer: Peer, id: string): types.Producer {
    const p = peer.producers.get(id);
    if (!p) throw new RequestError(404, `no producer ${id} on this connection`);
    return p;
  }
  function consumerOf(peer: Peer, id: string): types.Consumer {
    const c = peer.consumers.get(id);
    if (!c) throw new RequestError(404, `no consumer ${id} on this connection`);
    return c;
  }
  function requireJoined(peer: Peer): void {
    if (!peer.joined) throw new RequestError(409, 'send "join" first');
  }

  async function createConsumer(consumerPeer: Peer, producerPeer: Peer, producer: types.Producer): Promise<void> {
    if (!consumerPeer.rtpCapabilities) return;
    let consumable = false;
    try {
      consumable = router.canConsume({ producerId: producer.id, rtpCapabilities: consumerPeer.rtpCapabilities });
    } catch (e) {
      // canConsume clones the client's capabilities first, which throws on absurd input (e.g. nested 30k deep).
      log.warn({ room: name, peer: consumerPeer.id, err: (e as Error).message }, 'unusable rtpCapabilities; not consuming');
    }
    if (!consumable) return;
    const transport = [...consumerPeer.transports.values()].find((t) => (t.appData as { consuming?: boolean }).consuming);
    if (!transport) return;
    let consumer: types.Consumer;
    try {
      consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities: consumerPeer.rtpCapabilities,
        // Paused until the client has set it up, so no packets (and no key frame) are lost.
        paused: true,
        enableRtx: true,
        ignoreDtx: true,
      });
    } catch (e) {
      log.warn({ room: name, peer: consumerPeer.id, err: (e as Error).message }, 'could not create consumer');
      return;
    }
    consumerPeer.consumers.set(consumer.id, consumer);
    const drop = () => {
      consumerPeer.consumers.delete(consumer.id);
    };
    consumer.on('transportclose', drop);
    consumer.on('producerclose', () => {
      drop();
      consumerPeer.channel.notify('consumerClosed', { consumerId: consumer.id });
    });
    consumer.on('producerpause', () => consumerPeer.channel.notify('consumerPaused', { consumerId: consumer.id }));
    consumer.on('producerresume', () => consumerPeer.channel.notify('consumerResumed', { consumerId: consumer.id }));
    consumer.on('score', (score) => consumerPeer.channel.notify('consumerScore', { consumerId: consumer.id, score }));
    try {
      await consumerPeer.channel.request(
        'newConsumer',
        {
          peerId: producerPeer.id,
          producerId: producer.id,
          id: consumer.id,
          kind: consumer.kind,
          rtpParameters: consumer.rtpParameters,
          type: consumer.type,
          appData: producer.appData as Record<string, unknown>,
          producerPaused: consumer.producerPaused,
        },
        NEW_CONSUMER_TIMEOUT_MS,
      );
      if (!consumer.closed) await consumer.resume();
    } catch (e) {
      log.debug({ room: name, peer: consumerPeer.id, err: (e as Error).message }, 'newConsumer not accepted; closing consumer');
      consumer.close();
      drop();
    }
  }

  const handlers: { [M in ClientMethod]: (peer: Peer, data: ClientRequestData<M>) => Promise<unknown> } = {
    async getRouterRtpCapabilities() {
      return router.rtpCapabilities;
    },

    async createWebRtcTransport(peer, d) {
      if (peer.transports.size >= MAX_TRANSPORTS_PER_PEER) throw new RequestError(409, `at most ${MAX_TRANSPORTS_PER_PEER} transports per connection`);
      const listen = (protocol: 'udp' | 'tcp') => ({
        protocol,
        ip: opts.listenIp,
        ...(opts.announcedAddress ? { announcedAddress: opts.announcedAddress } : {}),
        portRange: worker.portRange,
      });
      const transport = await router.createWebRtcTransport({
        listenInfos: d.forceTcp ? [listen('tcp')] : [listen('udp'), listen('tcp')],
        enableUdp: !d.forceTcp,
        enableTcp: true,
        preferUdp: true,
        initialAvailableOutgoingBitrate: 1_000_000,
        enableSctp: Boolean(d.sctpCapabilities),
        appData: { producing: d.producing, consuming: d.consuming },
      });
      peer.transports.set(transport.id, transport);
      transport.on('dtlsstatechange', (state) => {
        if (state === 'failed' || state === 'closed') log.debug({ room: name, peer: peer.id, state }, 'transport dtls state');
      });
      transport.observer.on('close', () => peer.transports.delete(transport.id));
      await transport.setMaxIncomingBitrate(3_000_000).catch(() => {});
      return {
        id: transport.id,
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates,
        dtlsParameters: transport.dtlsParameters,
        sctpParameters: transport.sctpParameters,
      };
    },

    async connectWebRtcTransport(peer, d) {
      const transport = transportOf(peer, d.transportId);
      const appData = transport.appData as { connected?: boolean };
      if (appData.connected) throw new RequestError(409, `transport ${d.transportId} is already connected`);
      appData.connected = true; // before the await, so that two requests at once cannot both pass
      try {
        await transport.connect({ dtlsParameters: d.dtlsParameters as unknown as types.DtlsParameters });
      } catch (e) {
        appData.connected = false;
        throw e;
      }
      return {};
    },

    async restartIce(peer, d) {
      return { iceParameters: await transportOf(peer, d.transportId).restartIce() };
    },

    async join(peer, d) {
      if (peer.joined) throw new RequestError(409, 'already joined');
      if (others(peer).length >= opts.maxPeers) throw new RequestError(403, `room "${name}" is full (${opts.maxPeers} peers)`);
      peer.rtpCapabilities = d.rtpCapabilities as unknown as types.RtpCapabilities;
      if (d.displayName) peer.displayName = d.displayName;
      peer.device = { name: d.device?.name };
      peer.joined = true;
      const existing = others(peer);
      for (const other of existing) other.channel.notify('newPeer', peerInfo(peer));
      // Consumers for what is already being sent are created after the join response goes out.
      setImmediate(() => {
        for (const other of existing) for (const producer of other.producers.values()) void createConsumer(peer, other, producer);
      });
      const response: JoinResponse = { peers: existing.map(peerInfo), role: peer.role, room: roomState() };
      return response;
    },

    async produce(peer, d) {
      requireJoined(peer);
      if (peer.producers.size >= MAX_PRODUCERS_PER_PEER) throw new RequestError(409, `at most ${MAX_PRODUCERS_PER_PEER} producers per connection`);
      const transport = transportOf(peer, d.transportId);
      if (!(transport.appData as { producing?: boolean }).producing) throw new RequestError(400, 'this transport was not created for producing');
      let producer: types.Producer;
      try {
        producer = await transport.produce({
          kind: d.kind,
          rtpParameters: d.rtpParameters as unknown as types.RtpParameters,
          keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS,
          appData: { ...(d.appData ?? {}), peerId: peer.id },
        });
      } catch (e) {
        // The worker refuses parameters with plain Errors too (e.g. "ssrc already exists"): the client's fault.
        throw new RequestError(400, `produce: ${(e as Error).message}`);
      }
      peer.producers.set(producer.id, producer);
      producer.observer.on('close', () => peer.producers.delete(producer.id));
      producer.on('score', (score) => peer.channel.notify('producerScore', { producerId: producer.id, score }));
      if (producer.kind === 'audio') await speaker.addProducer({ producerId: producer.id }).catch(() => {});
      for (const other of others(peer)) void createConsumer(other, peer, producer);
      return { id: producer.id };
    },

    async closeProducer(peer, d) {
      producerOf(peer, d.producerId).close();
      peer.producers.delete(d.producerId);
      return {};
    },
    async pauseProducer(peer, d) {
      await producerOf(peer, d.producerId).pause();
      return {};
    },
    async resumeProducer(peer, d) {
      await producerOf(peer, d.producerId).resume();
      return {};
    },
    async pauseConsumer(peer, d) {
      await consumerOf(peer, d.consumerId).pause();
      return {};
    },
    async resumeConsumer(peer, d) {
      await consumerOf(peer, d.consumerId).resume();
      return {};
    },
    async setConsumerPreferredLayers(peer, d) {
      await consumerOf(peer, d.consumerId).setPreferredLayers({ spatialLayer: d.spatialLayer, temporalLayer: d.temporalLayer });
      return {};
    },
    async requestConsumerKeyFrame(peer, d) {
      await consumerOf(peer, d.consumerId).requestKeyFrame();
      return {};
    },
    async changeDisplayName(peer, d) {
      peer.displayName = d.displayName;
      for (const other of others(peer)) other.channel.notify('peerDisplayNameChanged', { peerId: peer.id, displayName: d.displayName });
      return {};
    },
    async getStats(peer) {
      const transports = await Promise.all(
        [...peer.transports.values()].map(async (t) => {
          const [s] = await t.getStats();
          return { id: t.id, bytesReceived: s?.bytesReceived ?? 0, bytesSent: s?.bytesSent ?? 0, dtlsState: t.dtlsState, iceState: t.iceState };
        }),
      );
      return { transports, producers: peer.producers.size, consumers: peer.consumers.size };
    },

    async hostMutePeer(peer, d) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      const muted = [...target.producers.values()].filter((p) => p.kind === d.kind && !p.paused);
      for (const p of muted) await p.pause();
      target.channel.notify('mutedByHost', { kind: d.kind });
      log.info({ room: name, host: peer.id, peer: target.id, kind: d.kind }, 'peer muted by host');
      return { muted: muted.length };
    },
    async hostKickPeer(peer, d) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      if (target === peer) throw new RequestError(400, 'use leave to leave the room');
      target.channel.close('kicked', 'The host removed you from the room.');
      room.removePeer(target.id);
      log.info({ room: name, host: peer.id, peer: target.id }, 'peer kicked by host');
      return {};
    },
    async hostLockRoom(peer, d) {
      requireHost(peer);
      access.locked = d.locked;
      broadcast('roomState', roomState());
      return roomState();
    },
    async hostSetRoomPassword(peer, d) {
      requireHost(peer);
      access.passwordHash = d.password === null ? null : hashRoomPassword(d.password);
      broadcast('roomState', roomState());
      return roomState();
    },
  };

  const room: Room = {
    name,
    worker,
    createdAt,
    peers,
    access,
    hasHost: () => [...peers.values()].some((p) => p.role === 'host' && p.hasHostRights()),
    setRole(peer, role, message) {
      if (peer.role === role) return;
      peer.role = role;
      peer.channel.notify('role', { role, message });
      for (const other of others(peer)) other.channel.notify('peerRoleChanged', { peerId: peer.id, role });
    },
    addPeer({ id, displayName, channel, role, hasHostRights }) {
      if (closed) throw new RequestError(409, 'room is closing; reconnect');
      const peer: Peer = { id, displayName, device: {}, joined: false, rtpCapabilities: null, channel, transports: new Map(), producers: new Map(), consumers: new Map(), role, hasHostRights };
      const before = peers.size;
      peers.set(id, peer);
      worker.peers += peers.size - before;
      return peer;
    },
    removePeer(peerId) {
      const peer = peers.get(peerId);
      if (!peer) return;
      peers.delete(peerId);
      if (!closed) worker.peers = Math.max(0, worker.peers - 1);
      for (const t of peer.transports.values()) t.close();
      if (peer.joined) for (const other of others(peer)) other.channel.notify('peerClosed', { peerId });
      if (peers.size === 0) room.close();
    },
    async handle(peer, method, data) {
      if (closed) throw new RequestError(409, 'room is closed; reconnect');
      return handlers[method](peer, data as never);
    },
    summary() {
      return {
        name,
        createdAt: createdAt.toISOString(),
        workerPid: worker.worker.pid,
        peers: [...peers.values()].map((p): PeerSummary => ({ id: p.id, name: p.displayName, producers: p.producers.size, consumers: p.consumers.size })),
      };
    },
    close() {
      if (closed) return;
      closed = true;
      worker.rooms = Math.max(0, worker.rooms - 1);
      worker.peers = Math.max(0, worker.peers - peers.size);
      if (!router.closed) router.close();
      room.onClose?.();
    },
  };
  router.observer.on('close', () => {
    // A dying worker closes its routers before it emits 'died' (when the registry would tell the peers),
    // and room.close() takes the room out of the registry: ask the peers to rejoin here.
    if (worker.worker.died) for (const p of peers.values()) p.channel.close('worker_died', 'The media server restarted. Reconnecting...', true);
    room.close();
  });
  return room;
}
