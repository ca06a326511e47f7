/**
 * Consumer priorities: who gets the bandwidth first when a receiver's link is short.
 *
 * mediasoup shares a transport's available outgoing bitrate among its video consumers in rounds; in
 * each round a consumer may go up one layer per point of priority (1..255, default 1). So a consumer of
 * priority 3 climbs three layers while the others climb one, and keeps its layers when the estimate
 * drops and the others go down first. Only layered (simulcast/SVC) consumers can trade bitrate this way;
 * a single-stream consumer is forwarded as it is whatever its priority. Audio takes no part (mediasoup
 * leaves it out of the bitrate game, it is small and always sent).
 *
 * The rule: every consumer of the active speaker's video (webcam and screen share) gets
 * SPEAKER_PRIORITY, everything else DEFAULT_PRIORITY. The room recomputes it for all its consumers when
 * the speaker changes (which also resets the previous speaker's) and for each new consumer.
 */

export const DEFAULT_PRIORITY = 1;
/**
 * Three layer steps per round against one for the others: the speaker's tile reaches its top layer
 * (typically three layers up) in the round where the others take their first step.
 */
export const SPEAKER_PRIORITY = 3;

export interface ConsumerRef {
  kind: 'audio' | 'video';
  /** The peer whose producer this consumer receives (null if it is no longer in the room). */
  producerPeerId: string | null;
  /** The consumer's current priority. */
  priority: number;
}

/** The priority a consumer should have while `speaker` is the room's active speaker (null: none). */
export function priorityFor(c: Omit<ConsumerRef, 'priority'>, speaker: string | null): number {
  return speaker !== null && c.kind === 'video' && c.producerPeerId === speaker ? SPEAKER_PRIORITY : DEFAULT_PRIORITY;
}

/** The consumers whose priority differs from what it should be, each with the one to set. */
export function priorityChanges<C extends ConsumerRef>(consumers: Iterable<C>, speaker: string | null): { consumer: C; priority: number }[] {
  const out: { consumer: C; priority: number }[] = [];
  for (const consumer of consumers) {
    const priority = priorityFor(consumer, speaker);
    if (priority !== consumer.priority) out.push({ consumer, priority });
  }
  return out;
}
