/**
 * Adaptive stream and dynacast, as pure decisions (no mediasoup, no timers: media.ts applies them).
 *
 *  - Adaptive stream: each receiving page reports, per video consumer, the size its tile renders the
 *    video at (CSS px × devicePixelRatio) and whether anyone can see it. A consumer gets as preferred
 *    spatial layer the smallest layer at least as large as the tile (capped at the top layer), and is
 *    paused while its tile is not visible. The preferred layer is a ceiling: mediasoup's bandwidth
 *    estimation (transport-cc) still drops below it on a weak link and climbs back up to it.
 *  - Dynacast: the sender is told the highest spatial layer any unpaused consumer of its producer
 *    wants; it stops encoding the layers above (and starts again when someone wants them).
 */

/** One spatial layer of a producer, as sent (after scaleResolutionDownBy). */
export interface LayerSize {
  width: number;
  height: number;
}

/** What a receiving page reports about one consumer's tile (setConsumerView). */
export interface ConsumerView {
  /** The video's rendered size in device pixels; 0 when not laid out. */
  width: number;
  height: number;
  /** False for a hidden tab, a tile scrolled off screen or a minimised tile. */
  visible: boolean;
}

/** When the sender did not say how large its track is: layers are laid out as if it sent 1280×720. */
export const DEFAULT_CAPTURE = { width: 1280, height: 720 } as const;

/**
 * The spatial layers of a producer, lowest first, from the RTP encodings its client sent (simulcast
 * encodings come lowest first; mediasoup keeps no scaleResolutionDownBy, so media.ts passes the
 * client's own list) and the captured size the page reported (appData width/height; DEFAULT_CAPTURE
 * when absent). An encoding without scaleResolutionDownBy is taken to halve per layer below the top,
 * as browsers do by default.
 */
export function layerSizes(encodings: readonly unknown[], capture?: { width?: unknown; height?: unknown }): LayerSize[] {
  const w = positive(capture?.width) ?? DEFAULT_CAPTURE.width;
  const h = positive(capture?.height) ?? DEFAULT_CAPTURE.height;
  const n = Math.max(1, Math.min(encodings.length, 8));
  return Array.from({ length: n }, (_, i) => {
    const s = positive((encodings[i] as { scaleResolutionDownBy?: unknown } | undefined)?.scaleResolutionDownBy) ?? 2 ** (n - 1 - i);
    return { width: Math.max(1, Math.round(w / s)), height: Math.max(1, Math.round(h / s)) };
  });
}

function positive(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * The preferred spatial layer for a tile: the smallest layer whose height and width both reach the
 * tile's (so nothing is upscaled), else the top one. A tile of unknown size (no report yet, or 0×0)
 * gets the top layer: a client that never reports (a non-browser client, an old page) gets full quality.
 */
export function preferredSpatialLayer(layers: readonly LayerSize[], view: ConsumerView | null): number {
  const top = Math.max(0, layers.length - 1);
  if (!view || view.width <= 0 || view.height <= 0) return top;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    if (l.height >= view.height && l.width >= view.width) return i;
  }
  return top;
}

/**
 * Whether a consumer should be paused at the server, from its separate reasons. The producer's own
 * pause (the sender muted) is not among them: mediasoup keeps that apart (consumer.producerPaused),
 * and resuming a consumer never resumes a paused producer.
 */
export function consumerShouldPause(s: { ready: boolean; clientPaused: boolean; view: ConsumerView | null }): boolean {
  return !s.ready || s.clientPaused || (s.view !== null && !s.view.visible);
}

/** One consumer of a producer, as dynacast counts it. */
export interface ConsumerWant {
  /** Paused for any reason of ours (hidden tile, client pause, not set up yet): it wants nothing. */
  paused: boolean;
  /** Its preferred spatial layer (preferredSpatialLayer, capped by any layer the client asked for). */
  spatialLayer: number;
}

/**
 * Dynacast: the highest spatial layer any consumer that receives wants, capped at the top layer.
 * Nobody receiving → 0: the lowest layer keeps being encoded (cheap, ~150 kbit/s), so that a viewer who
 * arrives or comes back sees video at once, while the layer the tile needs is switched on.
 */
export function maxWantedSpatialLayer(layerCount: number, wants: Iterable<ConsumerWant>): number {
  const top = Math.max(0, layerCount - 1);
  let max = 0;
  for (const w of wants) if (!w.paused) max = Math.max(max, Math.min(top, Math.max(0, w.spatialLayer)));
  return max;
}

/**
 * Debouncing of dynacast changes, so that tiles being resized do not make the sender flap: a raise is
 * applied at once (someone is waiting to see more), a lowering only once it has held for `holdMs`.
 * Returns the value to send now (null: nothing to send yet) and when to look again.
 */
export function dynacastStep(
  s: { sent: number | null; lowerSince: number | null },
  wanted: number,
  now: number,
  holdMs: number,
): { send: number | null; lowerSince: number | null; recheckInMs: number | null } {
  if (s.sent === null || wanted > s.sent) return { send: wanted, lowerSince: null, recheckInMs: null };
  if (wanted === s.sent) return { send: null, lowerSince: null, recheckInMs: null };
  const since = s.lowerSince ?? now;
  if (now - since >= holdMs) return { send: wanted, lowerSince: null, recheckInMs: null };
  return { send: null, lowerSince: since, recheckInMs: holdMs - (now - since) };
}
