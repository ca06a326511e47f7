import type { Logger } from '../log.ts';
import { periodic } from './periodic.ts';
import type { RedisConnection } from '../redis/connection.ts';
import { badDataLog } from '../redis/bad-data.ts';
import { beatTime, createSightings, parseHeartbeat, type Heartbeat } from './heartbeat.ts';

/**
 * The nodes of a cluster: each writes its heartbeat (URL, load, rooms) to one Redis hash every
 * HEARTBEAT_MS; a node whose heartbeat is older than NODE_TTL_MS is dead (it gets no new rooms and
 * its room leases may be taken). Dead entries are dropped after FORGET_MS, and so are entries that
 * are not heartbeats at all (heartbeat.ts) once they have stood unchanged that long.
 */
export const NODES_KEY = 'confd:nodes';
export const HEARTBEAT_MS = 1000;
export const NODE_TTL_MS = 5000;
const FORGET_MS = 10 * 60_000;

export type NodeInfo = Heartbeat;
export type NodeLoad = Heartbeat['load'];

/** What a node says of itself in each heartbeat. */
export type HeartbeatReport = Pick<NodeInfo, 'load' | 'roomNames' | 'hosts'>;

export interface NodeView extends NodeInfo {
  alive: boolean;
}

/**
 * Lower is less loaded: about 100 peers weigh as much as one busy core. CPU counts in steps of 5% of
 * a core, so idle nodes tie (and a new room stays on the node the join came to, with no redirect)
 * instead of being told apart by a few milliseconds of housekeeping.
 */
export const loadScore = (l: NodeLoad) => l.peers + 5 * Math.round(l.cpu * 20);

export interface Nodes {
  /** Every node Redis knows (from the last heartbeat round, at most HEARTBEAT_MS old). */
  list(): NodeView[];
  /** Reads the table from Redis now. */
  refresh(): Promise<NodeView[]>;
  get(id: string): NodeView | undefined;
  /** Sends this node's heartbeat now (also done every HEARTBEAT_MS). */
  beat(): Promise<void>;
  close(): Promise<void>;
}

export async function startNodes(opts: {
  redis: RedisConnection;
  self: Omit<NodeInfo, 'load' | 'roomNames' | 'hosts' | 'heartbeatAt'>;
  load: () => Promise<HeartbeatReport>;
  log: Logger;
  now?: () => number;
}): Promise<Nodes> {
  const { redis, self, log } = opts;
  const now = opts.now ?? Date.now;
  let known: NodeView[] = [];
  /**
   * Until then, a node that was alive before Redis went away counts as alive although its heartbeat
   * is old: every node's heartbeats stopped with Redis, and each reconnects on its own schedule (up
   * to 2 s apart). Judged dead too soon, its rooms would be placed anew beside their running calls.
   */
  let settleUntil = 0;

  const sightings = createSightings();
  const bad = badDataLog(log, 'the cluster node table');

  async function refresh(): Promise<NodeView[]> {
    const all = await redis.run('list the cluster nodes', (c) => c.hGetAll(NODES_KEY));
    const t = now();
    const views: NodeView[] = [];
    const stale: string[] = [];
    const wasAlive = new Set(known.filter((n) => n.alive).map((n) => n.id));
    for (const [id, raw] of Object.entries(all)) {
      const seen = sightings.firstSeen(id, raw, t);
      const parsed = parseHeartbeat(id, raw);
      if (!parsed.ok) {
        bad.skipped(`${NODES_KEY} ${id}`, parsed.problem, raw);
        if (t - seen > FORGET_MS) stale.push(id);
        continue;
      }
      const at = beatTime(parsed.data, seen);
      if (t - at > FORGET_MS) stale.push(id);
      else views.push({ ...parsed.data, heartbeatAt: new Date(at).toISOString(), alive: t - at < NODE_TTL_MS || (t < settleUntil && wasAlive.has(id)) });
    }
    sightings.keepOnly(new Set(Object.keys(all)));
    if (stale.length > 0) await redis.run('forget dead nodes', (c) => c.hDel(NODES_KEY, stale)).catch(() => {});
    known = views.sort((a, b) => (a.id < b.id ? -1 : 1));
    return known;
  }

  async function beat(): Promise<void> {
    const report = await opts.load();
    const info: Heartbeat = { ...self, ...report, heartbeatAt: new Date(now()).toISOString() };
    await redis.run('send the heartbeat', (c) => c.hSet(NODES_KEY, self.id, JSON.stringify(info)));
    await refresh();
  }

  // Another live node with our id would make both lose rooms and answers: refuse to start. A heartbeat
  // left by this node's previous run (a crash, then systemd restarting it) stops being renewed: wait
  // for it to go stale rather than refuse a restart.
  const twin = () => known.find((n) => n.id === self.id && n.alive && n.startedAt !== self.startedAt);
  await refresh();
  const first = twin();
  if (first) {
    log.info({ node: self.id }, 'a heartbeat with this node id is recent; waiting to see whether that node is still alive');
    await new Promise((r) => setTimeout(r, NODE_TTL_MS + HEARTBEAT_MS));
    await refresh();
    const clash = twin();
    if (clash && clash.heartbeatAt !== first.heartbeatAt) {
      throw new Error(`another node with the id "${self.id}" is alive (at ${clash.url}, heartbeat ${clash.heartbeatAt}); give each node its own cluster.nodeId`);
    }
  }
  await beat();

  const heartbeat = periodic(beat, HEARTBEAT_MS, log, 'heartbeat');
  redis.onReconnect(() => {
    settleUntil = now() + NODE_TTL_MS;
    heartbeat.now();
  });

  return {
    list: () => known,
    refresh,
    get: (id) => known.find((n) => n.id === id),
    beat,
    async close() {
      heartbeat.stop();
      // Leaving on purpose: the others stop sending rooms here at once.
      await redis.run('leave the cluster', (c) => c.hDel(NODES_KEY, self.id)).catch(() => {});
    },
  };
}
