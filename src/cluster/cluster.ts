import type { Logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { startBus, type Bus } from './bus.ts';
import { startNodes, type HeartbeatReport, type Nodes, type NodeView } from './nodes.ts';
import { startPlacement, type Placement } from './placement.ts';
import { createPlacementRate } from './placement-rate.ts';
import type { RedisConnection } from '../redis/connection.ts';

/** This node's part in a cluster: its heartbeat, the room leases it holds, the messages it hears. */
export interface Cluster {
  readonly nodeId: string;
  /** Where browsers reach this node directly. */
  readonly url: string;
  readonly redis: RedisConnection;
  readonly bus: Bus;
  readonly nodes: Nodes;
  readonly placement: Placement;
  /** A page of any node may open signalling on this one (a join is sent to the room's node). */
  originOk(origin: string): boolean;
  /** Whether a host credential has a connection open on another live node (its last heartbeat). */
  hostElsewhere(key: string): boolean;
  /** For `confctl status`. */
  summary(): ClusterSummary;
  /** Leaves: rooms released and the heartbeat removed, so the others stop sending joins here. */
  close(): Promise<void>;
}

export interface ClusterSummary {
  nodeId: string;
  url: string;
  redis: string;
  redisConnected: boolean;
  nodes: number;
  aliveNodes: number;
}

export async function joinCluster(opts: {
  redis: RedisConnection;
  nodeId: string;
  url: string;
  /** This node's load and the rooms it holds, for the heartbeat. */
  load: () => Promise<HeartbeatReport>;
  /** Rooms with someone in them: their leases are renewed. */
  held: () => string[];
  /** How fast one address may have new rooms placed, counted across the cluster (server.joinRate). */
  placementRate: { perSecond: number; burst: number };
  log: Logger;
}): Promise<Cluster> {
  const { redis, nodeId, url, log } = opts;
  const bus = await startBus(redis, nodeId, log);
  let nodes: Nodes;
  try {
    nodes = await startNodes({ redis, self: { id: nodeId, url, startedAt: new Date().toISOString(), version: VERSION }, load: opts.load, log });
  } catch (e) {
    await bus.close();
    throw e;
  }
  const placement = startPlacement({ redis, nodeId, nodes, held: opts.held, placements: createPlacementRate(redis, opts.placementRate), log });
  const origin = (u: string) => {
    try {
      return new URL(u).origin;
    } catch {
      return null;
    }
  };
  log.info({ node: nodeId, url, redis: redis.where, nodes: nodes.list().filter((n) => n.alive).length }, 'joined the cluster');
  const twins = nodes.list().filter((n) => n.alive && n.id !== nodeId && n.url === url);
  if (twins.length > 0) {
    log.warn({ url, nodes: twins.map((n) => n.id) }, 'other live nodes have the same URL: joins cannot be sent to the node holding a room; give each node its own cluster.url');
  }
  return {
    nodeId,
    url,
    redis,
    bus,
    nodes,
    placement,
    originOk: (o) => nodes.list().some((n: NodeView) => origin(n.url) === o),
    hostElsewhere: (key) => nodes.list().some((n) => n.alive && n.id !== nodeId && n.hosts.includes(key)),
    summary() {
      const all = nodes.list();
      return { nodeId, url, redis: redis.where, redisConnected: redis.up(), nodes: all.length, aliveNodes: all.filter((n) => n.alive).length };
    },
    async close() {
      await placement.close();
      await nodes.close();
      await bus.close();
    },
  };
}
