/**
 * Which participant the room view shows large (the speaker layout), from the server's `activeSpeaker`
 * (the dominant speaker) and `speaking` (who is audible now) notifications:
 *
 * - nobody featured (a grid) until someone other than us has been the dominant speaker;
 * - our own tile is never featured for us: when we are the dominant speaker, whoever was shown stays;
 * - no flapping: a featured speaker stays at least HOLD_MS, unless another one speaks clearly, i.e. the
 *   new dominant speaker is audible now and the featured one has been quiet for QUIET_MS; a change held
 *   back is made when the hold ends (to whoever is dominant then);
 * - the featured one leaving, or the connection ending (`activeSpeaker` null), goes back to the grid.
 *
 * Pure: the clock and the timer are given, so the rules are tested without a browser.
 */

export const HOLD_MS = 2000;
export const QUIET_MS = 1000;

export interface FocusClock {
  now(): number;
  /** Runs `fn` after `ms`; returns a cancel function. */
  later(fn: () => void, ms: number): () => void;
}

const realClock: FocusClock = {
  now: () => performance.now(),
  later: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export class SpeakerFocus {
  readonly #self: () => string | null;
  readonly #onChange: (featured: string | null) => void;
  readonly #clock: FocusClock;
  #featured: string | null = null;
  #since = 0;
  /** The latest dominant speaker not (yet) featured. */
  #pending: string | null = null;
  #cancel: (() => void) | null = null;
  #speaking = new Set<string>();
  /** When each peer was last heard to stop speaking. */
  readonly #quietSince = new Map<string, number>();

  constructor(opts: { self: () => string | null; onChange: (featured: string | null) => void; clock?: FocusClock }) {
    this.#self = opts.self;
    this.#onChange = opts.onChange;
    this.#clock = opts.clock ?? realClock;
  }

  get featured(): string | null {
    return this.#featured;
  }

  /** The server's dominant speaker; null resets to the grid. */
  dominant(peerId: string | null): void {
    if (peerId === null) {
      this.#pending = null;
      this.#set(null);
      return;
    }
    if (peerId === this.#self()) {
      // We speak: whoever is shown stays; a change held back for someone else is dropped.
      this.#pending = null;
      this.#stopTimer();
      return;
    }
    this.#pending = peerId;
    this.#evaluate();
  }

  /** The server's list of who is audible now. */
  speaking(peerIds: readonly string[]): void {
    const now = this.#clock.now();
    const next = new Set(peerIds);
    for (const id of this.#speaking) if (!next.has(id)) this.#quietSince.set(id, now);
    for (const id of next) this.#quietSince.delete(id);
    this.#speaking = next;
    if (this.#pending !== null) this.#evaluate();
  }

  /** A participant left. */
  removed(peerId: string): void {
    this.#quietSince.delete(peerId);
    this.#speaking.delete(peerId);
    if (this.#pending === peerId) {
      this.#pending = null;
      this.#stopTimer();
    }
    if (this.#featured === peerId) this.#set(null);
  }

  #evaluate(): void {
    const next = this.#pending;
    if (next === null || next === this.#featured) {
      this.#pending = null;
      this.#stopTimer();
      return;
    }
    const now = this.#clock.now();
    const held = now - this.#since;
    if (this.#featured === null || held >= HOLD_MS || this.#clearly(next, now)) {
      this.#pending = null;
      this.#set(next);
      return;
    }
    this.#stopTimer();
    this.#cancel = this.#clock.later(() => {
      this.#cancel = null;
      this.#evaluate();
    }, HOLD_MS - held);
  }

  /** `next` speaks now and the featured speaker has been quiet a while. */
  #clearly(next: string, now: number): boolean {
    const f = this.#featured;
    if (f === null || !this.#speaking.has(next) || this.#speaking.has(f)) return false;
    return now - (this.#quietSince.get(f) ?? -Infinity) >= QUIET_MS;
  }

  #set(featured: string | null): void {
    this.#stopTimer();
    if (featured === this.#featured) return;
    this.#featured = featured;
    this.#since = this.#clock.now();
    this.#onChange(featured);
  }

  #stopTimer(): void {
    this.#cancel?.();
    this.#cancel = null;
  }
}
