/**
 * Who speaks, from the room's two mediasoup observers (both on the room's first router; audio from its
 * other routers is piped there):
 *
 * - the AudioLevelObserver says, every SPEAKING_INTERVAL_MS, whose audio is above SPEAKING_THRESHOLD_DBOV:
 *   "speaking now", several at once, quick to come and go. The page lights those tiles.
 * - the ActiveSpeakerObserver (dominant speaker identification, Volfin & Cohen) names one dominant
 *   speaker, slowly and steadily: a cough or a short "yes" does not take the floor. The page gives that
 *   tile the large slot, and the speaker's video gets the higher consumer priority (priorities.ts).
 *
 * The ActiveSpeakerObserver names a dominant speaker as soon as it has producers, before anyone said a
 * word (the first one added, or the only one). So a dominant speaker is announced only once the level
 * observer has heard that peer above the threshold: until someone speaks, the page keeps its grid. When
 * the announced speaker leaves, the floor stays free until someone is heard again.
 */

/** Average level over an interval that counts as speaking (speech is about -20 to -40 dBov, a quiet room -60 and below). */
export const SPEAKING_THRESHOLD_DBOV = -50;
export const SPEAKING_INTERVAL_MS = 400;
/** How often the dominant speaker is re-evaluated. */
export const DOMINANT_INTERVAL_MS = 300;

/** What changed; a field is present only when it did. */
export interface SpeakerChange {
  /** The announced dominant speaker (null: none, e.g. they left). */
  speaker?: string | null;
  /** Everyone speaking now, sorted. */
  speaking?: string[];
}

export class SpeakerTracker {
  #dominant: string | null = null;
  #announced: string | null = null;
  #speaking: string[] = [];
  readonly #heard = new Set<string>();

  /** The dominant speaker the room has announced (null until someone has spoken). */
  get announced(): string | null {
    return this.#announced;
  }

  get speaking(): readonly string[] {
    return this.#speaking;
  }

  /** The ActiveSpeakerObserver's dominant speaker (null when its producer is not a peer's any more). */
  dominant(peerId: string | null): SpeakerChange {
    this.#dominant = peerId;
    return this.#announce();
  }

  /** The AudioLevelObserver's report: the peers above the threshold ([] on silence). */
  levels(peerIds: readonly string[]): SpeakerChange {
    const now = [...new Set(peerIds)].sort();
    for (const id of now) this.#heard.add(id);
    const out: SpeakerChange = {};
    if (now.join('\0') !== this.#speaking.join('\0')) {
      this.#speaking = now;
      out.speaking = now;
    }
    return { ...out, ...this.#announce() };
  }

  /** A peer left the room. */
  left(peerId: string): SpeakerChange {
    this.#heard.delete(peerId);
    const out: SpeakerChange = {};
    if (this.#speaking.includes(peerId)) {
      this.#speaking = this.#speaking.filter((id) => id !== peerId);
      out.speaking = this.#speaking;
    }
    if (this.#dominant === peerId) this.#dominant = null;
    if (this.#announced === peerId) {
      this.#announced = null;
      out.speaker = null;
      // The floor is free: the observer names a new dominant speaker at once, in silence if need be, so
      // only those speaking now or heard from now on may take it (not whoever spoke minutes ago).
      this.#heard.clear();
      for (const id of this.#speaking) this.#heard.add(id);
    }
    return out;
  }

  #announce(): SpeakerChange {
    const d = this.#dominant;
    if (d === null || d === this.#announced || !this.#heard.has(d)) return {};
    this.#announced = d;
    return { speaker: d };
  }
}
