/**
 * A cluster for tests: one real redis-server and N real confd nodes sharing it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanup, confctl, startConfd, tempDir, type RunningDaemon } from './daemon.ts';
import { startRedis, type RunningRedis } from './redis.ts';
import { connect, type ConnectOptions, type SfuClient } from './sfu-client.ts';

export interface TestCluster {
  redis: RunningRedis;
  nodes: RunningDaemon[];
  /** Starts one more node (e.g. to replace a killed one) with the same config. */
  addNode(id: string): Promise<RunningDaemon>;
  stop(): Promise<void>;
}

export async function startCluster(opts: { nodes: string[]; config?: Record<string, any>; redis?: RunningRedis }): Promise<TestCluster> {
  const redis = opts.redis ?? (await startRedis());
  const dirs: string[] = [];
  const nodes: RunningDaemon[] = [];
  const addNode = async (id: string) => {
    const dir = tempDir('confd-node-');
    dirs.push(dir);
    const config = opts.config ?? {};
    const d = await startConfd({
      dataDir: join(dir, 'data'),
      config: { mediasoup: { workers: 1 }, ...config, cluster: { redis: redis.url, nodeId: id, ...(config.cluster ?? {}) } },
    });
    nodes.push(d);
    return d;
  };
  try {
    // One at a time: each then sees the ones before it (no id clash; a deterministic table).
    for (const id of opts.nodes) await addNode(id);
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop().catch(() => null)));
    if (!opts.redis) await redis.stop();
    cleanup(...dirs);
    throw e;
  }
  return {
    redis,
    nodes,
    addNode,
    async stop() {
      await Promise.all(nodes.map((n) => (n.proc.exitCode === null && n.proc.signalCode === null ? n.stop().catch(() => null) : null)));
      if (!opts.redis) await redis.stop();
      cleanup(...dirs, redis.dir);
    },
  };
}

/**
 * Connects through `entry` as a page does: when the node says the room is held elsewhere (`moved`),
 * connects there with the same hello. Resolves with the client and the node it ended up on.
 */
export async function connectVia(entry: string, o: ConnectOptions): Promise<{ client: SfuClient; at: string; hops: number }> {
  let base = entry;
  for (let hops = 0; hops < 4; hops++) {
    const c = await connect(base, o);
    const hello = (await c.hello) as { moved?: string } | Error;
    if (!(hello instanceof Error) && typeof hello.moved === 'string') {
      await c.closed;
      base = hello.moved;
      continue;
    }
    return { client: c, at: base, hops };
  }
  throw new Error(`join for ${o.room} kept being sent elsewhere`);
}

export async function ctl(d: RunningDaemon, args: string[], input?: string): Promise<string> {
  const r = await confctl(['--socket', d.socket, ...args], input === undefined ? {} : { input });
  assert.equal(r.code, 0, `confctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
