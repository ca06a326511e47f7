import { z } from 'zod';
import { parseJsonInput, type Parsed } from '../validation/issues.ts';

/**
 * A node's heartbeat as read back from Redis. Anyone who can write to Redis can put anything in the
 * node table, so an entry is taken only in the shape nodes write it; anything else is skipped (the
 * node is not in the table), never half-used.
 */
const count = z.number().int().nonnegative();
const instant = z.iso.datetime();

export const heartbeatSchema = z.object({
  id: z.string().min(1).max(200),
  /** Where browsers reach this node directly (a join for one of its rooms is sent here). */
  url: z.url({ protocol: /^https?$/ }),
  load: z.object({
    /** Peers in this node's rooms. */
    peers: count,
    rooms: count,
    /** Media workers' CPU over the last heartbeat, as a fraction of one core, averaged over the workers. */
    cpu: z.number().nonnegative(),
  }),
  /** Room names this node holds. */
  roomNames: z.array(z.string()),
  /** Host credentials (session ids, `token:JTI`) with a connection open on this node; none from older nodes. */
  hosts: z.array(z.string()).default([]),
  startedAt: instant,
  heartbeatAt: instant,
  version: z.string(),
});

export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** The heartbeat under node table field `field`, or why it cannot be used. */
export function parseHeartbeat(field: string, raw: string): Parsed<Heartbeat> {
  const parsed = parseJsonInput(heartbeatSchema, raw);
  // Under another node's name it would stand in for that node.
  if (parsed.ok && parsed.data.id !== field) return { ok: false, problem: `written under "${field}" but names node "${parsed.data.id}"` };
  return parsed;
}

/**
 * When each node table entry, exactly as written, was first read here. A heartbeat counts as given
 * at the time it states or at the time this node first saw it, whichever is earlier: a heartbeat
 * dated in the future (a wrong clock, or a forged entry) then still ages from the moment it appeared,
 * so a node that stops beating is seen dead after the usual time, whatever date it wrote.
 */
export interface Sightings {
  /** When `raw` under `field` was first seen (now, when it is new or changed). */
  firstSeen(field: string, raw: string, now: number): number;
  /** Forgets the fields not in the table any more. */
  keepOnly(fields: ReadonlySet<string>): void;
}

export function createSightings(): Sightings {
  const seen = new Map<string, { raw: string; at: number }>();
  return {
    firstSeen(field, raw, now) {
      const s = seen.get(field);
      if (s && s.raw === raw) return s.at;
      seen.set(field, { raw, at: now });
      return now;
    },
    keepOnly(fields) {
      for (const f of seen.keys()) if (!fields.has(f)) seen.delete(f);
    },
  };
}

/** The time a heartbeat counts as given: what it says, but never later than when it was first seen. */
export const beatTime = (beat: Heartbeat, firstSeen: number): number => Math.min(Date.parse(beat.heartbeatAt), firstSeen);
