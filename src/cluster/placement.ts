import { ConfdError } from '../errors.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { Logger } from '../log.ts';
import { periodic } from './periodic.ts';
import type { RedisConnection } from '../redis/connection.ts';
import { loadScore, type Nodes, type NodeView } from './nodes.ts';
import type { PlacementRate } from './placement-rate.ts';

/**
 * Which node holds each room: a lease in Redis (`confd:room:<name>` = node id) that the holder renews
 * every RENEW_MS while the room has anyone in it. A node that dies stops renewing: after LEASE_MS the
 * lease is gone (sooner, when its heartbeat is seen to stop) and the next join places the room again.
 */
export const roomKey = (room: string) => `confd:room:${room}`;
export const LEASE_MS = 6000;
const RENEW_MS = 2000;

/**
 * A lease is a string naming a node. Anything else under a lease's key was not written by a node (a
 * hand edit, another program): it counts as no lease, and is replaced by the next claim or renewal
 * instead of failing every command on the key (one bad key would stop the renewal of all of a node's
 * leases).
 */
const HOLDER_LUA = `
local function holder(k)
  if redis.call('TYPE', k).ok ~= 'string' then return false end
  return redis.call('GET', k)
end
`;

const HOLDER = `${HOLDER_LUA}
return holder(KEYS[1])
`;

/** Takes the lease for ARGV[1] if it is free or still held by ARGV[2] (a dead node); returns the holder. */
const CLAIM = `${HOLDER_LUA}
local cur = holder(KEYS[1])
if (not cur) or cur == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return ARGV[1]
end
return cur
`;

/** Per key: 1 renewed, 2 taken again (it had lapsed, e.g. while Redis was away), 0 held by another node. */
const RENEW = `${HOLDER_LUA}
local out = {}
for i, k in ipairs(KEYS) do
  local cur = holder(k)
  if cur == ARGV[1] then redis.call('PEXPIRE', k, ARGV[2]); out[i] = 1
  elseif not cur then redis.call('SET', k, ARGV[1], 'PX', ARGV[2]); out[i] = 2
  else out[i] = 0 end
end
return out
`;

const RELEASE = `${HOLDER_LUA}
if holder(KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Where a room nobody holds goes: this node if it still has the room open, else a live node that
 * does (its lease lapsed while Redis was away and it has not renewed it yet), else the least-loaded
 * live node; on a tie this one (no redirect), then the lowest id.
 */
export function placeRoom(room: string, self: string, nodes: readonly NodeView[], heldHere: boolean): string {
  if (heldHere) return self;
  const live = nodes.filter((n) => n.alive || n.id === self);
  const keeper = live.find((n) => n.id !== self && n.roomNames.includes(room));
  if (keeper) return keeper.id;
  let best: { id: string; score: number } | null = null;
  for (const n of live) {
    const score = loadScore(n.load);
    if (!best || score < best.score || (score === best.score && (n.id === self || (best.id !== self && n.id < best.id)))) best = { id: n.id, score };
  }
  return best?.id ?? self;
}

export type Route = { here: true } | { here: false; node: NodeView };

export interface Placement {
  /**
   * Where a join for `room` from `address` must go: this node, or another (the room is there or was
   * placed there). Placing a room nobody holds takes one from the address's cluster-wide allowance.
   */
  route(room: string, address: string): Promise<Route>;
  /** The node holding `room` now, or null when nobody does. */
  holder(room: string): Promise<string | null>;
  close(): Promise<void>;
}

export function startPlacement(opts: {
  redis: RedisConnection;
  nodeId: string;
  nodes: Nodes;
  /** Rooms this node holds that have someone in them (peers or waiting guests). */
  held: () => string[];
  /** How fast one address may have rooms placed, across the cluster. */
  placements: PlacementRate;
  log: Logger;
}): Placement {
  const { redis, nodeId, nodes, log } = opts;
  /** Rooms whose lease this node renewed last round: one no longer held is released at once. */
  let renewed = new Set<string>();

  const holder = (room: string) => redis.run('find the room\'s node', (c) => c.eval(HOLDER, { keys: [roomKey(room)] })) as Promise<string | null>;
  const claim = (room: string, forNode: string, replacing: string) =>
    redis.run('place a room', (c) => c.eval(CLAIM, { keys: [roomKey(room)], arguments: [forNode, replacing, String(LEASE_MS)] })) as Promise<string>;

  async function renew(): Promise<void> {
    const rooms = opts.held();
    const now = new Set(rooms);
    if (rooms.length > 0) {
      const results = (await redis.run('renew room leases', (c) => c.eval(RENEW, { keys: rooms.map(roomKey), arguments: [nodeId, String(LEASE_MS)] }))) as number[];
      rooms.forEach((room, i) => {
        if (results[i] === 0) log.warn({ room }, 'another node took this room\'s lease (this node was cut off from Redis for longer than the lease): its peers stay here, new joins go there');
      });
    }
    for (const room of renewed) {
      if (!now.has(room)) await redis.run('release a room', (c) => c.eval(RELEASE, { keys: [roomKey(room)], arguments: [nodeId] }));
    }
    renewed = now;
  }

  const renewal = periodic(renew, RENEW_MS, log, 'renewing room leases');
  // Leases may have lapsed while Redis was away: take this node's rooms back before others place them.
  redis.onReconnect(renewal.now);

  return {
    async route(room, address) {
      let held = await holder(room);
      if (held === nodeId) return { here: true };
      const node = held ? nodes.get(held) : undefined;
      if (held && node?.alive) return { here: false, node };
      if (!(await opts.placements.take(address))) throw new ConfdError('rate_limited', USER_MESSAGES.tooManyJoins);
      // Nobody holds it, or its holder stopped beating: place it on the least-loaded live node.
      held = await claim(room, placeRoom(room, nodeId, nodes.list(), opts.held().includes(room)), held ?? '');
      if (held === nodeId) return { here: true };
      const chosen = nodes.get(held) ?? (await nodes.refresh()).find((n) => n.id === held);
      if (chosen?.alive) return { here: false, node: chosen };
      // Held by a node with no live heartbeat: take it over.
      held = await claim(room, nodeId, held);
      if (held === nodeId) return { here: true };
      const other = nodes.get(held);
      if (other?.alive) return { here: false, node: other };
      throw new ConfdError('cluster_unavailable', `room "${room}" is held by node "${held}", which is not answering; try again in a few seconds`);
    },
    holder,
    async close() {
      renewal.stop();
      // Leaving on purpose: the rooms are free for the other nodes at once.
      for (const room of new Set([...renewed, ...opts.held()])) {
        await redis.run('release a room', (c) => c.eval(RELEASE, { keys: [roomKey(room)], arguments: [nodeId] })).catch(() => {});
      }
    },
  };
}
