import { createClient, ErrorReply, type RedisClientType } from 'redis';
import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { redactUrlPassword } from './url.ts';

export type RedisClient = RedisClientType;

/**
 * A command that has not answered in this long counts as Redis being unreachable: a stopped or
 * partitioned Redis must turn into a clear refusal, not a request that hangs.
 */
export const COMMAND_TIMEOUT_MS = 2000;
/** Reconnect backoff: quick at first, then every 2 s, for ever (a node recovers without a restart). */
const RECONNECT_MAX_MS = 2000;

export interface RedisConnection {
  /** Commands and transactions. */
  readonly client: RedisClient;
  /** A second connection for SUBSCRIBE (a subscribed connection can run nothing else). */
  readonly subscriber: RedisClient;
  /** Where Redis is, password hidden: for messages and logs. */
  readonly where: string;
  /** True while the command connection is up. */
  up(): boolean;
  /**
   * Runs `fn` against the command connection; an unreachable or silent Redis becomes a
   * ConfdError('cluster_unavailable') that says what to do, never a hang.
   */
  run<T>(what: string, fn: (c: RedisClient) => Promise<T>): Promise<T>;
  /** Called after every reconnect (not the first connect): state may have moved on meanwhile. */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

export const unavailable = (where: string, what: string, cause: string) =>
  new ConfdError('cluster_unavailable', `cannot ${what}: the cluster's Redis at ${where} is unreachable (${cause}); rooms already open go on, try again shortly (the node reconnects by itself)`);

/** Connects both connections; rejects with a clear error if Redis cannot be reached at start. */
export async function connectRedis(url: string, log: Logger): Promise<RedisConnection> {
  const where = redactUrlPassword(url);
  const options = {
    url,
    // Fail at once while disconnected instead of queueing: the caller refuses with a clear error.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: COMMAND_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, RECONNECT_MAX_MS),
    },
  };
  const client = createClient(options) as RedisClient;
  const subscriber = client.duplicate() as RedisClient;
  const reconnectListeners: (() => void)[] = [];
  let down = false;
  for (const [name, c] of [['commands', client], ['subscriber', subscriber]] as const) {
    c.on('error', (e: Error) => {
      // node-redis emits an error per failed reconnect attempt: log the first, not every 50 ms.
      if (name === 'commands' && !down) {
        down = true;
        log.error({ redis: where, err: e.message }, 'lost the cluster Redis; open rooms go on, new logins and joins are refused until it is back');
      }
    });
  }
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ redis: where }, 'cluster Redis is back');
    for (const l of reconnectListeners) {
      try {
        l();
      } catch (e) {
        log.error({ err: e }, 'reconnect listener failed');
      }
    }
  });

  try {
    await withTimeout(Promise.all([client.connect(), subscriber.connect()]), COMMAND_TIMEOUT_MS * 2, 'no answer');
    await withTimeout(client.ping(), COMMAND_TIMEOUT_MS, 'no answer to PING');
  } catch (e) {
    await Promise.allSettled([client.destroy(), subscriber.destroy()]);
    throw new ConfdError('cluster_unavailable', `cannot reach the cluster's Redis at ${where} (${(e as Error).message}); check cluster.redis and that redis-server is running and reachable from this node`);
  }

  return {
    client,
    subscriber,
    where,
    up: () => client.isReady,
    async run(what, fn) {
      if (!client.isReady) throw unavailable(where, what, 'not connected');
      try {
        return await withTimeout(fn(client), COMMAND_TIMEOUT_MS, `no answer within ${COMMAND_TIMEOUT_MS} ms`);
      } catch (e) {
        if (e instanceof ConfdError) throw e;
        // A Redis error reply (a bug, or a wrong server) is not an outage: say what Redis said.
        if (e instanceof ErrorReply) throw new ConfdError('internal', `Redis refused to ${what}: ${e.message}`);
        throw unavailable(where, what, (e as Error).message);
      }
    },
    onReconnect: (l) => void reconnectListeners.push(l),
    async close() {
      await Promise.allSettled([client.close(), subscriber.close()]);
      await Promise.allSettled([client.destroy(), subscriber.destroy()]);
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
