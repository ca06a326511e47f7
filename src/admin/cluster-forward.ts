import type { Cluster } from '../cluster/cluster.ts';
import type { NodeAnswer, NodeRequest } from '../cluster/bus.ts';
import { isRoomName } from '../protocol/room-name.ts';

/** Lists every node has its own part of: GET path -> the body's list fields, gathered with a `node` on each entry. */
const GATHERED: Record<string, readonly string[]> = {
  '/v1/rooms': ['rooms'],
  // Each node records the rooms it holds into its own data dir.
  '/v1/recordings': ['active', 'recordings'],
};

/** Admin requests about one room (/v1/rooms/ROOM and below): answered by the node holding it. */
const ROOM_ROUTE = /^\/v1\/rooms\/([^/]+)(?:\/|$)/;

/**
 * `confctl` against any node manages the whole cluster. Users, tokens, IPs and the audit trail are
 * shared state and need nothing here; a room lives on one node, so a request about a room (kick,
 * lobby, recording) is sent to that node over the bus, and the room and recording lists are every
 * node's.
 * Returns null when this node answers itself.
 */
export function clusterForward(cluster: Cluster, local: (req: NodeRequest) => Promise<NodeAnswer>): (req: NodeRequest) => Promise<NodeAnswer | null> {
  return async (req) => {
    const path = new URL(req.url, 'http://confd').pathname;
    // Not a valid room name: this node answers (the route refuses it with a 400).
    const room = ROOM_ROUTE.exec(path)?.[1];
    if (room !== undefined && isRoomName(room)) {
      const holder = await cluster.placement.holder(room);
      if (!holder || holder === cluster.nodeId) return null;
      return cluster.bus.request(holder, req);
    }
    const gathered = GATHERED[path];
    if (req.method === 'GET' && gathered) {
      const here = await local(req);
      if (here.status !== 200) return here;
      const others = (await cluster.nodes.refresh()).filter((n) => n.alive && n.id !== cluster.nodeId);
      const answers = await Promise.allSettled(others.map((n) => cluster.bus.request(n.id, req)));
      const lists = Object.fromEntries(gathered.map((k) => [k, [] as Record<string, unknown>[]]));
      // Another node's answer came through Redis: only its lists' entries that are objects are taken.
      const add = (node: string, body: unknown) => {
        for (const k of gathered) {
          const list: unknown = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[k] : undefined;
          if (!Array.isArray(list)) continue;
          for (const x of list) if (typeof x === 'object' && x !== null && !Array.isArray(x)) lists[k]!.push({ ...x, node });
        }
      };
      add(cluster.nodeId, here.body);
      const unreachable: string[] = [];
      answers.forEach((a, i) => {
        if (a.status === 'fulfilled' && a.value.status === 200) add(others[i]!.id, a.value.body);
        else unreachable.push(others[i]!.id);
      });
      return { status: 200, body: { ...lists, ...(unreachable.length > 0 ? { unreachable } : {}) } };
    }
    return null;
  };
}
