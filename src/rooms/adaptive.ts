/**
 * Adaptive media of one room, as state over its consumers and producers: each consumer's pause reasons
 * and layer ceilings (the tile: adaptive stream, layers.ts; the receiver's link: bandwidth.ts), and
 * each simulcast producer's dynacast. The rules are pure functions in layers.ts and bandwidth.ts; this
 * module keeps the state and applies the decisions to mediasoup. media.ts tells it what happens.
 */
import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';
import type { ConsumerLayersSummary, DynacastSummary } from './view.ts';
import { allocateLayers, AUDIO_BPS, ceilingStep, layerCosts, NO_CEILING, RAISE_HEADROOM, type Ceiling } from './bandwidth.ts';
import { consumerShouldPause, dynacastStep, layerSizes, maxWantedSpatialLayer, preferredSpatialLayer, type ConsumerView, type LayerSize } from './layers.ts';
import type { Peer } from './peer.ts';

/**
 * Dynacast: a producer's top layers are switched off only once nobody has wanted them for this long,
 * so that tiles being resized (or a tab switched back and forth) do not make the sender flap. Raising
 * is immediate.
 */
export const DYNACAST_HOLD_MS = 2500;
/** How long a trial raise makes the receiver's link carry the new layer (see probe()). */
const TRIAL_PROBE_MS = 3000;
/** How often a producer's per-layer bitrates are read (for the bandwidth allocation). */
const LAYER_STATS_MS = 2000;

/** What a room keeps per video or audio consumer: the reasons it may be paused, kept apart, and its ceilings. */
export interface Adaptive {
  consumer: types.Consumer;
  producer: types.Producer;
  /** Set up on the page (the newConsumer request was answered). */
  ready: boolean;
  /** The client paused it itself (pauseConsumer). */
  clientPaused: boolean;
  /** The tile, as last reported (setConsumerView); null until the page reports one. */
  view: ConsumerView | null;
  /** Layers the client asked for itself (setConsumerPreferredLayers): a ceiling on the view's choice. */
  clientLayers: { spatialLayer: number; temporalLayer?: number | undefined } | null;
  /** mediasoup calls for this consumer, one after the other. */
  chain: Promise<void>;
  /** The layer the receiver's link carries (bandwidth.ts); a ceiling on top of the tile's layer. */
  bandwidth: Ceiling;
}

/** Dynacast state of one simulcast video producer. */
interface Dynacast {
  producer: types.Producer;
  peer: Peer;
  layers: LayerSize[];
  consumers: Set<Adaptive>;
  /** The highest layer the sender was last told to encode (it starts with all of them on). */
  sent: number;
  lowerSince: number | null;
  timer: NodeJS.Timeout | null;
}

export interface AdaptiveMedia {
  /** A new consumer, followed until it closes; apply() brings it in line once the page has set it up. */
  track(consumer: types.Consumer, producer: types.Producer): Adaptive;
  /** A new video producer: its layers from the encodings its client sent, and dynacast when simulcast. */
  addVideoProducer(peer: Peer, producer: types.Producer, sentEncodings: readonly unknown[], appData: Record<string, unknown>): void;
  get(consumerId: string): Adaptive | undefined;
  /** Brings the consumer in line with its reasons (pause, layers), then re-counts its producer's dynacast. */
  apply(a: Adaptive): Promise<void>;
  /** While true, every simulcast sender keeps all its layers on, whoever watches (a recording). */
  keepAllLayers(on: boolean): void;
  /** A new transport-cc estimate of `peer`'s receiving link. */
  onEstimate(peer: Peer, transport: types.Transport, availableBps: number): void;
  describe(peer: Peer): { videoConsumers: ConsumerLayersSummary[]; dynacast: DynacastSummary[]; receiveEstimateBps: number | null };
}

export function createAdaptiveMedia(ctx: { log: Logger; dynacast: boolean }): AdaptiveMedia {
  const { log } = ctx;
  const adaptive = new Map<string, Adaptive>();
  const dynacast = new Map<string, Dynacast>();
  /** Every sender keeps all its layers, whoever watches (keepAllLayers: a recording). */
  let allLayers = false;
  /** Spatial layers of this room's video producers, from the encodings their clients sent (see layerSizes). */
  const producerLayers = new Map<string, LayerSize[]>();
  const layersOf = (producer: types.Producer): LayerSize[] =>
    producerLayers.get(producer.id) ?? layerSizes(producer.rtpParameters.encodings ?? [], producer.appData as { width?: unknown; height?: unknown });

  /** What the tile (and the client's own choice) wants: what dynacast keeps the sender encoding. */
  const wantedLayer = (a: Adaptive): number => {
    const l = preferredSpatialLayer(layersOf(a.producer), a.view);
    return a.clientLayers ? Math.min(l, a.clientLayers.spatialLayer) : l;
  };
  /** What the consumer is given: the tile's layer, no more than the receiver's link carries. */
  const givenLayer = (a: Adaptive): number => Math.min(wantedLayer(a), a.bandwidth.layer ?? Number.POSITIVE_INFINITY);

  /** The last transport-cc estimate of each peer's receiving link (admin view). */
  const estimates = new WeakMap<Peer, number>();
  /** Measured bitrate of each spatial layer of a producer, refreshed at most every LAYER_STATS_MS. */
  const measured = new Map<string, { at: number; bps: (number | undefined)[] }>();
  function layerCostsOf(producer: types.Producer): number[] {
    const encodings = producer.rtpParameters.encodings ?? [];
    const m = measured.get(producer.id);
    if (!m || Date.now() - m.at >= LAYER_STATS_MS) {
      measured.set(producer.id, { at: Date.now(), bps: m?.bps ?? [] });
      producer
        .getStats()
        .then((stats) => {
          const bps = encodings.map((e, i) => (e.rid ? stats.find((x) => x.rid === e.rid) : e.ssrc ? stats.find((x) => x.ssrc === e.ssrc) : stats[i])?.bitrate);
          measured.set(producer.id, { at: Date.now(), bps });
        })
        .catch(() => {});
    }
    return layerCosts(measured.get(producer.id)!.bps, encodings.map((e) => e.maxBitrate), layersOf(producer).length);
  }

  /**
   * A trial raise (bandwidth.ts) is a probe: for TRIAL_PROBE_MS the link is made to carry what the new
   * ceilings cost (mediasoup's min outgoing bitrate), so that the estimate learns whether it can; then
   * the estimate is free again and the next one keeps or takes back the trial.
   */
  const probing = new WeakMap<Peer, NodeJS.Timeout>();
  function probe(peer: Peer, transport: types.Transport, bps: number): void {
    if (probing.has(peer) || transport.closed) return;
    void transport.setMinOutgoingBitrate(Math.round(bps)).catch(() => {});
    const t = setTimeout(() => {
      probing.delete(peer);
      if (!transport.closed) void transport.setMinOutgoingBitrate(0).catch(() => {});
    }, TRIAL_PROBE_MS);
    t.unref();
    probing.set(peer, t);
  }

  /**
   * A new transport-cc estimate for `peer`'s receiving transport: shares it among its video consumers
   * (bandwidth.ts) and moves their ceilings, down at once, up after a hold or on trial.
   */
  function onEstimate(peer: Peer, transport: types.Transport, availableBps: number): void {
    estimates.set(peer, availableBps);
    const mine = [...peer.consumers.values()].map((c) => adaptive.get(c.id)).filter((a): a is Adaptive => a !== undefined && !a.consumer.closed);
    const video = mine.filter((a) => a.consumer.kind === 'video' && a.consumer.type === 'simulcast' && !consumerShouldPause(a));
    const audio = mine.filter((a) => a.consumer.kind === 'audio' && !a.consumer.paused).length;
    const demands = video.map((a) => ({ id: a.consumer.id, wanted: wantedLayer(a), costs: layerCostsOf(a.producer), priority: a.consumer.priority }));
    const keep = allocateLayers(availableBps, audio, demands);
    const raise = allocateLayers(availableBps, audio, demands, RAISE_HEADROOM);
    const now = Date.now();
    let trial = false;
    for (const a of video) {
      const id = a.consumer.id;
      const offered = Math.min(keep.get(id)!, raise.get(id)!);
      const next = ceilingStep(a.bandwidth, keep.get(id)!, offered, wantedLayer(a), now);
      const changed = next.layer !== a.bandwidth.layer;
      if (a.bandwidth.layer !== null && next.layer !== null && next.layer > a.bandwidth.layer && offered <= a.bandwidth.layer) trial = true;
      a.bandwidth = next;
      if (changed) {
        log.debug({ peer: peer.id, consumer: a.consumer.id, layer: next.layer, availableBps }, 'bandwidth ceiling');
        void apply(a);
      }
    }
    if (trial) {
      const cost = video.reduce((n, a) => n + (layerCostsOf(a.producer)[givenLayer(a)] ?? 0), audio * AUDIO_BPS);
      log.debug({ peer: peer.id, availableBps, probeBps: cost }, 'bandwidth trial: probing');
      probe(peer, transport, cost);
    }
  }

  /** Brings the consumer in line with its reasons (pause, layers), then re-counts its producer's dynacast. */
  function apply(a: Adaptive): Promise<void> {
    a.chain = a.chain
      .then(async () => {
        const c = a.consumer;
        if (c.closed) return;
        const pause = consumerShouldPause(a);
        if (pause && !c.paused) await c.pause();
        else if (!pause && c.paused) await c.resume();
        if (c.kind !== 'video' || (c.type !== 'simulcast' && c.type !== 'svc')) return;
        const spatialLayer = givenLayer(a);
        const temporalLayer = a.clientLayers?.temporalLayer;
        const now = c.preferredLayers;
        if (!now || now.spatialLayer !== spatialLayer || (temporalLayer !== undefined && now.temporalLayer !== temporalLayer)) {
          // A ceiling: mediasoup's bandwidth estimation still picks lower layers on a weak link.
          await c.setPreferredLayers({ spatialLayer, temporalLayer });
        }
      })
      .catch(() => {
        // Closed meanwhile (consumer, transport or router): nothing to apply.
      });
    const d = dynacast.get(a.producer.id);
    if (d) updateDynacast(d);
    return a.chain;
  }

  /** Tells the sender the highest layer anyone receives, raised at once, lowered after DYNACAST_HOLD_MS. */
  function updateDynacast(d: Dynacast): void {
    if (d.timer) clearTimeout(d.timer);
    d.timer = null;
    if (d.producer.closed || !ctx.dynacast) return;
    const wants = [...d.consumers].filter((a) => !a.consumer.closed).map((a) => ({ paused: consumerShouldPause(a), spatialLayer: wantedLayer(a) }));
    const wanted = allLayers ? d.layers.length - 1 : maxWantedSpatialLayer(d.layers.length, wants);
    const step = dynacastStep(d, wanted, Date.now(), DYNACAST_HOLD_MS);
    d.lowerSince = step.lowerSince;
    if (step.send !== null) {
      d.sent = step.send;
      d.peer.channel.notify('producerLayers', { producerId: d.producer.id, maxSpatialLayer: step.send });
      log.debug({ producer: d.producer.id, maxSpatialLayer: step.send }, 'dynacast');
    }
    if (step.recheckInMs !== null) {
      d.timer = setTimeout(() => updateDynacast(d), step.recheckInMs);
      d.timer.unref();
    }
  }

  function describe(peer: Peer): ReturnType<AdaptiveMedia['describe']> {
    const videoConsumers: ConsumerLayersSummary[] = [];
    for (const c of peer.consumers.values()) {
      const a = adaptive.get(c.id);
      if (c.kind !== 'video' || !a) continue;
      videoConsumers.push({
        id: c.id,
        producerId: c.producerId,
        fromPeer: String((a.producer.appData as { peerId?: unknown }).peerId ?? ''),
        source: String((a.producer.appData as { source?: unknown }).source ?? ''),
        type: c.type,
        paused: c.paused,
        producerPaused: c.producerPaused,
        view: a.view,
        preferredSpatialLayer: c.preferredLayers?.spatialLayer ?? null,
        currentSpatialLayer: c.currentLayers?.spatialLayer ?? null,
        currentTemporalLayer: c.currentLayers?.temporalLayer ?? null,
        bandwidthLayer: a.bandwidth.layer,
      });
    }
    const mine = [...peer.producers.values()].flatMap((p) => {
      const d = dynacast.get(p.id);
      return d ? [{ producerId: p.id, layers: d.layers.length, maxSpatialLayer: d.sent }] : [];
    });
    return { videoConsumers, dynacast: mine, receiveEstimateBps: estimates.get(peer) ?? null };
  }

  function track(consumer: types.Consumer, producer: types.Producer): Adaptive {
    const a: Adaptive = { consumer, producer, ready: false, clientPaused: false, view: null, clientLayers: null, chain: Promise.resolve(), bandwidth: { ...NO_CEILING } };
    adaptive.set(consumer.id, a);
    dynacast.get(producer.id)?.consumers.add(a);
    consumer.observer.once('close', () => {
      adaptive.delete(consumer.id);
      const d = dynacast.get(producer.id);
      if (d?.consumers.delete(a)) updateDynacast(d);
    });
    return a;
  }

  function addVideoProducer(peer: Peer, producer: types.Producer, sentEncodings: readonly unknown[], appData: Record<string, unknown>): void {
    producerLayers.set(producer.id, layerSizes(sentEncodings, appData));
    producer.observer.once('close', () => {
      producerLayers.delete(producer.id);
      measured.delete(producer.id);
    });
    if ((producer.rtpParameters.encodings?.length ?? 0) <= 1) return;
    // Simulcast: dynacast tells this sender which layers anyone receives. It starts with all of them on.
    const layers = layersOf(producer);
    const d: Dynacast = { producer, peer, layers, consumers: new Set(), sent: layers.length - 1, lowerSince: null, timer: null };
    dynacast.set(producer.id, d);
    producer.observer.once('close', () => {
      if (d.timer) clearTimeout(d.timer);
      dynacast.delete(producer.id);
    });
  }

  function keepAllLayers(on: boolean): void {
    if (on === allLayers) return;
    allLayers = on;
    for (const d of dynacast.values()) updateDynacast(d);
  }

  return { track, addVideoProducer, get: (id) => adaptive.get(id), apply, onEstimate, describe, keepAllLayers };
}
