/**
 * A room's media methods: transports, producers and consumers of its peers, on the routers of its
 * RouterSet. A consumer on another router than its producer gets the producer piped there first.
 * No rules here beyond the media's own limits: who may call what is the room's business (room.ts),
 * which layer a consumer gets and which layers a sender encodes are adaptive.ts's.
 */
import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';
import type { ClientRequestData, IceRestart, IceServer, TransportInfo } from '../protocol/messages.ts';
import type { RouterSet } from '../sfu/router-set.ts';
import { ConfdError } from '../errors.ts';
import type { Peer } from './peer.ts';
import { createAdaptiveMedia } from './adaptive.ts';
import { kindMismatch } from './produce-kind.ts';
import type { ConsumerLayersSummary, DynacastSummary } from './view.ts';

/**
 * Every new video consumer asks its producer for a key frame, and the worker forwards that key frame
 * to every consumer of the producer: a burst of joiners costs O(N²) key-frame packets (BENCHMARKS.md,
 * "Consumer creation near saturation"). Within this window mediasoup sends the first request at once
 * and folds the rest into one, so a joiner in a burst waits at most this long for first video.
 */
export const KEY_FRAME_REQUEST_DELAY_MS = 1000;
const MAX_TRANSPORTS_PER_PEER = 4;
const MAX_PRODUCERS_PER_PEER = 4;
const NEW_CONSUMER_TIMEOUT_MS = 10_000;
/**
 * What mediasoup assumes a new receiving link carries until transport-cc has measured it: enough for the
 * middle layer of one simulcast stream (~360 kbit/s) with audio, so a weak link starts near what it can
 * take, and a good one climbs to the top layer within seconds (bandwidth.ts, RAISE_HOLD_MS).
 */
const INITIAL_OUTGOING_BPS = 600_000;
/** mediasoup's PortManager says this when a worker's share of mediasoup.portRange is used up. */
const PORTS_EXHAUSTED = /no more available ports/i;

export type MediaMethod =
  | 'getRouterRtpCapabilities'
  | 'createWebRtcTransport'
  | 'connectWebRtcTransport'
  | 'restartIce'
  | 'produce'
  | 'closeProducer'
  | 'pauseProducer'
  | 'resumeProducer'
  | 'pauseConsumer'
  | 'resumeConsumer'
  | 'setConsumerPreferredLayers'
  | 'setConsumerView'
  | 'requestConsumerKeyFrame'
  | 'getStats';

export interface MediaContext {
  /** The room's logger (its name bound). */
  log: Logger;
  /** TURN servers with fresh credentials for `peer` (none when TURN is not configured). */
  iceServers: (peer: Peer) => IceServer[];
  /** Dynacast on: senders are told the highest layer anyone receives (off: they always send them all). */
  dynacast: boolean;
  /** The room's routers; null when the room has no media (no peer in it). */
  routers: () => RouterSet | null;
  /** Joined peers other than `peer`. */
  others: (peer: Peer) => Peer[];
  /** Told of every new producer (active speaker detection, recording). */
  onProducer: (peer: Peer, producer: types.Producer) => void;
  warnOnce: (peer: Peer, what: string, fields: Record<string, unknown>) => void;
}

export interface RoomMedia {
  handlers: { [M in MediaMethod]: (peer: Peer, data: ClientRequestData<M>) => Promise<unknown> };
  /** Offers `producer` of `from` to `to` (a consumer, piped over when they are on different routers). */
  consume(to: Peer, from: Peer, producer: types.Producer): Promise<void>;
  /** While true, dynacast keeps every layer of every sender on (e.g. while the room is recorded). */
  keepAllLayers(on: boolean): void;
  /** The peer's video consumers (layers, pauses) and its simulcast producers' dynacast layer, for the admin view. */
  describe(peer: Peer): { videoConsumers: ConsumerLayersSummary[]; dynacast: DynacastSummary[]; receiveEstimateBps: number | null };
}

export function createRoomMedia(ctx: MediaContext): RoomMedia {
  const { log } = ctx;
  const adaptive = createAdaptiveMedia({ log, dynacast: ctx.dynacast });

  const transportOf = (peer: Peer, id: string) => {
    const t = peer.transports.get(id);
    if (!t) throw new ConfdError('not_found', `no transport ${id} on this connection`);
    return t;
  };
  const producerOf = (peer: Peer, id: string) => {
    const p = peer.producers.get(id);
    if (!p) throw new ConfdError('not_found', `no producer ${id} on this connection`);
    return p;
  };
  const consumerOf = (peer: Peer, id: string) => {
    const c = peer.consumers.get(id);
    if (!c) throw new ConfdError('not_found', `no consumer ${id} on this connection`);
    return c;
  };
  const adaptiveOf = (peer: Peer, id: string) => {
    const a = adaptive.get(consumerOf(peer, id).id);
    if (!a) throw new ConfdError('not_found', `no consumer ${id} on this connection`);
    return a;
  };
  const requireJoined = (peer: Peer) => {
    if (!peer.joined) throw new ConfdError('conflict', 'send "join" first');
  };
  const requireNotMuted = (peer: Peer, kind: 'audio' | 'video') => {
    if (peer.mutedByHost.has(kind)) throw new ConfdError('forbidden', `a host muted your ${kind === 'audio' ? 'microphone' : 'camera'}; ask a host to unmute you`);
  };
  const homeOf = (peer: Peer) => {
    if (!peer.home || peer.home.router.closed) throw new ConfdError('conflict', 'this connection lost its media server; reconnect');
    return peer.home;
  };

  /**
   * The receiving link's estimate (a bwe trace, about once a second per transport) matters only to
   * simulcast consumers, whose layers adaptive.ts fits to it: traced while the transport has one, so
   * that a room of single-layer streams costs Node nothing at rest.
   */
  const layeredOn = new WeakMap<types.Transport, number>();
  function traceEstimateWhile(transport: types.Transport, consumer: types.Consumer): void {
    if (consumer.type !== 'simulcast') return;
    const n = (layeredOn.get(transport) ?? 0) + 1;
    layeredOn.set(transport, n);
    if (n === 1) void transport.enableTraceEvent(['bwe']).catch(() => {});
    consumer.observer.once('close', () => {
      const left = (layeredOn.get(transport) ?? 1) - 1;
      layeredOn.set(transport, left);
      if (left === 0 && !transport.closed) void transport.enableTraceEvent([]).catch(() => {});
    });
  }

  async function consume(consumerPeer: Peer, producerPeer: Peer, producer: types.Producer): Promise<void> {
    if (!consumerPeer.rtpCapabilities || !consumerPeer.home || !producerPeer.home) return;
    const transport = [...consumerPeer.transports.values()].find((t) => (t.appData as { consuming?: boolean }).consuming);
    if (!transport) return;
    const home = consumerPeer.home;
    const set = ctx.routers();
    try {
      if (set && producerPeer.home !== home) await set.pipe(producer.id, producerPeer.home, home);
    } catch (e) {
      if (!producer.closed && !home.router.closed) log.warn({ producer: producer.id, err: (e as Error).message }, 'could not pipe a producer to another router');
      return;
    }
    let consumable = false;
    try {
      consumable = home.router.canConsume({ producerId: producer.id, rtpCapabilities: consumerPeer.rtpCapabilities });
    } catch (e) {
      // canConsume clones the client's capabilities first, which throws on absurd input (e.g. nested 30k deep).
      ctx.warnOnce(consumerPeer, 'unusable rtpCapabilities; not consuming', { err: (e as Error).message });
    }
    if (!consumable) return;
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
      ctx.warnOnce(consumerPeer, 'could not create consumer', { err: (e as Error).message });
      return;
    }
    consumerPeer.consumers.set(consumer.id, consumer);
    home.worker.consumers++;
    const a = adaptive.track(consumer, producer);
    traceEstimateWhile(transport, consumer);
    consumer.observer.once('close', () => {
      consumerPeer.consumers.delete(consumer.id);
      home.worker.consumers = Math.max(0, home.worker.consumers - 1);
    });
    consumer.on('producerclose', () => consumerPeer.channel.notify('consumerClosed', { consumerId: consumer.id }));
    consumer.on('producerpause', () => consumerPeer.channel.notify('consumerPaused', { consumerId: consumer.id }));
    consumer.on('producerresume', () => consumerPeer.channel.notify('consumerResumed', { consumerId: consumer.id }));
    consumer.on('score', (score) => consumerPeer.channel.notify('consumerScore', { consumerId: consumer.id, score }));
    consumer.on('layerschange', (layers) =>
      consumerPeer.channel.notify('consumerLayers', { consumerId: consumer.id, spatialLayer: layers?.spatialLayer ?? null, temporalLayer: layers?.temporalLayer ?? null }),
    );
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
      // Resumed unless the page already said the tile is hidden (or paused it itself).
      a.ready = true;
      await adaptive.apply(a);
    } catch (e) {
      log.debug({ peer: consumerPeer.id, err: (e as Error).message }, 'newConsumer not accepted; closing consumer');
      consumer.close();
    }
  }

  const handlers: RoomMedia['handlers'] = {
    async getRouterRtpCapabilities(peer) {
      return homeOf(peer).router.rtpCapabilities;
    },

    async createWebRtcTransport(peer, d) {
      const home = homeOf(peer);
      if (peer.transports.size >= MAX_TRANSPORTS_PER_PEER) throw new ConfdError('conflict', `at most ${MAX_TRANSPORTS_PER_PEER} transports per connection`);
      const refused = peer.quota.take();
      if (refused) throw new ConfdError(refused.code, refused.message);
      let transport: types.WebRtcTransport;
      try {
        transport = await home.router.createWebRtcTransport({
          ...home.worker.listenOptions(Boolean(d.forceTcp)),
          initialAvailableOutgoingBitrate: INITIAL_OUTGOING_BPS,
          enableSctp: Boolean(d.sctpCapabilities),
          appData: { producing: d.producing, consuming: d.consuming },
        });
      } catch (e) {
        peer.quota.release();
        if (PORTS_EXHAUSTED.test((e as Error).message)) {
          log.warn({ worker: home.worker.index }, 'media ports exhausted: widen mediasoup.portRange or add capacity');
          throw new ConfdError('unavailable', 'the server has no free media port right now; try again in a minute');
        }
        throw e;
      }
      transport.observer.once('close', () => {
        peer.quota.release();
        peer.transports.delete(transport.id);
      });
      if (peer.home !== home || home.router.closed) {
        // The peer left (or lost its router) while the transport was being made: nothing else would close it.
        transport.close();
        throw new ConfdError('conflict', 'connection closed');
      }
      peer.transports.set(transport.id, transport);
      if (d.consuming) {
        // mediasoup's transport-cc estimate of this receiver's link, for the layer allocation (traced
        // only while a simulcast consumer is there to share it: traceEstimateWhile).
        transport.on('trace', (t) => {
          const bps = t.type === 'bwe' ? (t.info as { availableBitrate?: unknown }).availableBitrate : undefined;
          if (typeof bps === 'number' && bps > 0) adaptive.onEstimate(peer, transport, bps);
        });
      }
      transport.on('dtlsstatechange', (state) => {
        if (state === 'failed' || state === 'closed') log.debug({ peer: peer.id, state }, 'transport dtls state');
      });
      await transport.setMaxIncomingBitrate(3_000_000).catch(() => {});
      const info: TransportInfo = {
        id: transport.id,
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates,
        dtlsParameters: transport.dtlsParameters,
        sctpParameters: transport.sctpParameters,
        // Only here, after admission: a peer that never got in never gets a relay.
        iceServers: ctx.iceServers(peer),
      };
      return info;
    },

    async connectWebRtcTransport(peer, d) {
      const transport = transportOf(peer, d.transportId);
      const appData = transport.appData as { connected?: boolean };
      if (appData.connected) throw new ConfdError('conflict', `transport ${d.transportId} is already connected`);
      appData.connected = true; // before the await, so that two requests at once cannot both pass
      try {
        await transport.connect({ dtlsParameters: d.dtlsParameters as unknown as types.DtlsParameters });
      } catch (e) {
        appData.connected = false;
        throw e;
      }
      return {};
    },

    async restartIce(peer, d): Promise<IceRestart> {
      // Fresh relays too: an ICE restart is what a client does after a network change, possibly long
      // after the credentials it got with the transport expired.
      return { iceParameters: await transportOf(peer, d.transportId).restartIce(), iceServers: ctx.iceServers(peer) };
    },

    async produce(peer, d) {
      requireJoined(peer);
      if (peer.producers.size >= MAX_PRODUCERS_PER_PEER) throw new ConfdError('conflict', `at most ${MAX_PRODUCERS_PER_PEER} producers per connection`);
      const transport = transportOf(peer, d.transportId);
      if (!(transport.appData as { producing?: boolean }).producing) throw new ConfdError('bad_request', 'this transport was not created for producing');
      const mismatch = kindMismatch(d.kind, d.rtpParameters);
      if (mismatch) throw new ConfdError('bad_request', mismatch);
      requireNotMuted(peer, d.kind);
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
        throw new ConfdError('bad_request', `produce: ${(e as Error).message}`);
      }
      peer.producers.set(producer.id, producer);
      producer.observer.on('close', () => peer.producers.delete(producer.id));
      if (producer.kind === 'video') {
        const sent = (d.rtpParameters as { encodings?: unknown }).encodings;
        adaptive.addVideoProducer(peer, producer, Array.isArray(sent) ? sent : [], d.appData ?? {});
      }
      producer.on('score', (score) => peer.channel.notify('producerScore', { producerId: producer.id, score }));
      ctx.onProducer(peer, producer);
      for (const other of ctx.others(peer)) void consume(other, peer, producer);
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
      const producer = producerOf(peer, d.producerId);
      requireNotMuted(peer, producer.kind);
      await producer.resume();
      return {};
    },
    // The client's own pause is one reason among others (adaptiveOf): its resume does not resume a
    // consumer whose tile is hidden, nor does a visible tile resume a consumer the client paused.
    async pauseConsumer(peer, d) {
      const a = adaptiveOf(peer, d.consumerId);
      a.clientPaused = true;
      await adaptive.apply(a);
      return {};
    },
    async resumeConsumer(peer, d) {
      const a = adaptiveOf(peer, d.consumerId);
      a.clientPaused = false;
      await adaptive.apply(a);
      return {};
    },
    async setConsumerPreferredLayers(peer, d) {
      const a = adaptiveOf(peer, d.consumerId);
      a.clientLayers = { spatialLayer: d.spatialLayer, temporalLayer: d.temporalLayer };
      await adaptive.apply(a);
      return {};
    },
    async setConsumerView(peer, d) {
      const a = adaptiveOf(peer, d.consumerId);
      if (a.consumer.kind !== 'video') throw new ConfdError('bad_request', `consumer ${d.consumerId} is not video`);
      a.view = { width: d.width, height: d.height, visible: d.visible };
      await adaptive.apply(a);
      return {};
    },
    async requestConsumerKeyFrame(peer, d) {
      await consumerOf(peer, d.consumerId).requestKeyFrame();
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
  };


  return { handlers, consume, describe: adaptive.describe, keepAllLayers: adaptive.keepAllLayers };
}
