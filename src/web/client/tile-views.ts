/**
 * Adaptive stream, the page's half: for each remote video consumer, the size its tile renders the video
 * at (device pixels: CSS px × devicePixelRatio, after object-fit) and whether anyone can see it (the
 * tab is shown, the tile intersects the viewport, it is not hidden or minimised), reported to the
 * server with `setConsumerView`. The server picks the consumer's layer from it and pauses it while it
 * cannot be seen (src/rooms/layers.ts).
 *
 * Reports are debounced per tile (a window being resized sends one report when it settles), sent only
 * when something changed, and a tile coming back into view is reported at once.
 */
import type { ClientRequestData } from '../../protocol/index.ts';

/** A tile whose size changes is reported once it has kept still this long. */
export const VIEW_DEBOUNCE_MS = 300;
/** A tile that becomes visible again is reported this soon (someone is waiting for the picture). */
const SHOWN_DEBOUNCE_MS = 30;
/** Size changes smaller than this (device px) are not worth a report. */
const MIN_CHANGE_PX = 8;
const MAX_PX = 16384;

export type ConsumerViewReport = ClientRequestData<'setConsumerView'>;

interface Watched {
  consumerId: string;
  tile: HTMLElement;
  video: HTMLVideoElement;
  /** From the IntersectionObserver; null until its first report (taken as visible). */
  intersecting: boolean | null;
  last: ConsumerViewReport | null;
  timer: number;
  onResize: () => void;
}

export class TileViews {
  readonly #send: (v: ConsumerViewReport) => Promise<unknown>;
  readonly #watched = new Map<string, Watched>();
  readonly #byElement = new Map<Element, Set<Watched>>();
  readonly #resize: ResizeObserver | null;
  readonly #intersect: IntersectionObserver | null;

  constructor(send: (v: ConsumerViewReport) => Promise<unknown>) {
    this.#send = send;
    const each = (el: Element, f: (w: Watched) => void) => this.#byElement.get(el)?.forEach(f);
    this.#resize = typeof ResizeObserver === 'function' ? new ResizeObserver((entries) => entries.forEach((e) => each(e.target, (w) => this.#schedule(w)))) : null;
    this.#intersect =
      typeof IntersectionObserver === 'function'
        ? new IntersectionObserver((entries) =>
            entries.forEach((e) =>
              each(e.target, (w) => {
                w.intersecting = e.isIntersecting;
                this.#schedule(w);
              }),
            ),
          )
        : null;
    document.addEventListener('visibilitychange', () => this.refresh());
  }

  /** Starts reporting the tile `tileKey` (data-tile) for this video consumer. */
  watch(consumerId: string, tileKey: string): void {
    this.unwatch(consumerId);
    const tile = [...document.querySelectorAll<HTMLElement>('.tile')].find((t) => t.dataset.tile === tileKey);
    const video = tile?.querySelector('video');
    if (!tile || !video) return;
    const w: Watched = { consumerId, tile, video, intersecting: null, last: null, timer: 0, onResize: () => this.#schedule(w) };
    this.#watched.set(consumerId, w);
    for (const el of [tile, video]) {
      let set = this.#byElement.get(el);
      if (!set) this.#byElement.set(el, (set = new Set()));
      set.add(w);
    }
    // The video's own size changes when the first frame (or another layer's aspect) arrives.
    video.addEventListener('resize', w.onResize);
    this.#resize?.observe(video);
    this.#intersect?.observe(tile);
    this.#schedule(w);
  }

  unwatch(consumerId: string): void {
    const w = this.#watched.get(consumerId);
    if (!w) return;
    this.#watched.delete(consumerId);
    window.clearTimeout(w.timer);
    w.video.removeEventListener('resize', w.onResize);
    for (const el of [w.tile, w.video]) {
      const set = this.#byElement.get(el);
      set?.delete(w);
      if (set?.size === 0) {
        this.#byElement.delete(el);
        this.#resize?.unobserve(el);
        this.#intersect?.unobserve(el);
      }
    }
  }

  clear(): void {
    for (const id of [...this.#watched.keys()]) this.unwatch(id);
  }

  /** Looks at every tile again (tab shown or hidden, a tile minimised or restored by the layout). */
  refresh(): void {
    for (const w of this.#watched.values()) this.#schedule(w);
  }

  /** What was last reported per consumer (tests and debugging). */
  reported(): Record<string, ConsumerViewReport | null> {
    return Object.fromEntries([...this.#watched].map(([id, w]) => [id, w.last]));
  }

  #measure(w: Watched): ConsumerViewReport {
    const { tile, video } = w;
    const rect = video.getBoundingClientRect();
    let cw = rect.width;
    let ch = rect.height;
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (vw > 0 && vh > 0 && cw > 0 && ch > 0) {
      // The picture's own rendered size: `cover` crops (the picture is larger than the box), `contain` letterboxes.
      const fit = getComputedStyle(video).objectFit;
      const s = fit === 'contain' || fit === 'scale-down' ? Math.min(cw / vw, ch / vh) : fit === 'cover' ? Math.max(cw / vw, ch / vh) : null;
      if (s !== null) {
        cw = vw * s;
        ch = vh * s;
      }
    }
    const dpr = window.devicePixelRatio || 1;
    const width = Math.min(MAX_PX, Math.round(cw * dpr));
    const height = Math.min(MAX_PX, Math.round(ch * dpr));
    const visible =
      tile.isConnected &&
      document.visibilityState === 'visible' &&
      w.intersecting !== false &&
      width > 0 &&
      height > 0 &&
      tile.dataset.minimised !== 'true' &&
      tile.closest('[hidden]') === null;
    return { consumerId: w.consumerId, width, height, visible };
  }

  #schedule(w: Watched): void {
    const now = this.#measure(w);
    const shown = now.visible && w.last !== null && !w.last.visible;
    window.clearTimeout(w.timer);
    w.timer = window.setTimeout(() => this.#flush(w), shown ? SHOWN_DEBOUNCE_MS : VIEW_DEBOUNCE_MS);
  }

  #flush(w: Watched): void {
    if (this.#watched.get(w.consumerId) !== w) return;
    const v = this.#measure(w);
    const l = w.last;
    if (l && l.visible === v.visible && Math.abs(l.width - v.width) < MIN_CHANGE_PX && Math.abs(l.height - v.height) < MIN_CHANGE_PX) return;
    w.last = v;
    this.#send(v).catch(() => {
      // Consumer gone or connection closing: the next consumer is watched afresh.
    });
  }
}
