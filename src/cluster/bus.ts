import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RedisConnection } from '../redis/connection.ts';
import { badDataLog } from '../redis/bad-data.ts';
import { parseJsonInput, type Parsed } from '../validation/issues.ts';

/**
 * Requests to one node over Redis pub/sub (an admin request about a room that node holds) and their
 * answers. Pub/sub delivers at most once and only to a node connected at that moment: a request that
 * finds nobody, or no answer in time, is a clear error. Nothing here is state: what ends a credential
 * reaches every node through the store's change log (src/store/redis-backend.ts, Store.onChange).
 */
export const nodeChannel = (nodeId: string) => `confd:node:${nodeId}`;
/** An admin request forwarded to another node gets this long for its answer. */
export const REQUEST_TIMEOUT_MS = 5000;

const nodeRequestSchema = z.object({
  method: z.string().min(1).max(16),
  /** Path and query, e.g. /v1/rooms/r1/kick */
  url: z.string().startsWith('/').max(8192),
  body: z.unknown().optional(),
});
const nodeAnswerSchema = z.object({ status: z.number().int().min(100).max(599), body: z.unknown().optional() });

export type NodeRequest = z.infer<typeof nodeRequestSchema>;
export type NodeAnswer = z.infer<typeof nodeAnswerSchema>;

export interface Bus {
  /** Sends a request to one node and waits for its answer; a clear error when it does not come. */
  request(nodeId: string, req: NodeRequest): Promise<NodeAnswer>;
  /** What this node answers to requests from other nodes. */
  serve(handler: (req: NodeRequest) => Promise<NodeAnswer>): void;
  close(): Promise<void>;
}

/**
 * A message on a node's channel: a request (q) or an answer (a). Anyone who can reach Redis can
 * publish there, so a message is used only in this shape; any other is dropped (and said once).
 */
const wireSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('q'), from: z.string().min(1).max(200), id: z.string().min(1).max(64), req: nodeRequestSchema }),
  z.object({ t: z.literal('a'), from: z.string().max(200), id: z.string().min(1).max(64), answer: nodeAnswerSchema }),
]);
type Wire = z.infer<typeof wireSchema>;

export const parseWire = (raw: string): Parsed<Wire> => parseJsonInput(wireSchema, raw);

export async function startBus(redis: RedisConnection, nodeId: string, log: Logger): Promise<Bus> {
  const waiting = new Map<string, { resolve: (a: NodeAnswer) => void; timer: NodeJS.Timeout }>();
  let handler: ((req: NodeRequest) => Promise<NodeAnswer>) | null = null;

  const publish = (channel: string, msg: Wire, what: string) => redis.run(what, (c) => c.publish(channel, JSON.stringify(msg)));

  const bad = badDataLog(log, 'a message to this node');

  function onMessage(raw: string): void {
    const parsed = parseWire(raw);
    // Said once per kind of problem: a stream of bad messages is not a stream of log lines.
    if (!parsed.ok) return bad.skipped(nodeChannel(nodeId), parsed.problem);
    const msg = parsed.data;
    if (msg.t === 'q') {
      const { id, from, req } = msg;
      const answer = handler ? handler(req) : Promise.resolve({ status: 503, body: { error: { code: 'cluster_unavailable', message: 'this node is not ready' } } });
      answer
        .catch((e: unknown) => ({ status: 500, body: { error: { code: 'internal', message: (e as Error).message } } }))
        .then((a) => publish(nodeChannel(from), { t: 'a', from: nodeId, id, answer: a }, 'answer another node'))
        .catch((e: unknown) => log.warn({ err: e, to: from }, 'could not answer a request from another node'));
    } else if (msg.t === 'a') {
      const w = waiting.get(msg.id);
      if (!w) return;
      waiting.delete(msg.id);
      clearTimeout(w.timer);
      w.resolve(msg.answer);
    }
  }

  await redis.subscriber.subscribe(nodeChannel(nodeId), onMessage);

  return {
    async request(to, req) {
      const id = randomBytes(8).toString('hex');
      const answer = new Promise<NodeAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new ConfdError('cluster_unavailable', `node "${to}" did not answer in ${REQUEST_TIMEOUT_MS / 1000} s; "confctl cluster" shows whether it is alive`));
        }, REQUEST_TIMEOUT_MS);
        timer.unref();
        waiting.set(id, { resolve, timer });
      });
      try {
        const receivers = await publish(nodeChannel(to), { t: 'q', from: nodeId, id, req }, `ask node "${to}"`);
        if (receivers === 0) throw new ConfdError('cluster_unavailable', `node "${to}" is not connected to the cluster; "confctl cluster" shows whether it is alive`);
      } catch (e) {
        clearTimeout(waiting.get(id)?.timer);
        waiting.delete(id);
        throw e;
      }
      return answer;
    },
    serve(h) {
      handler = h;
    },
    async close() {
      for (const w of waiting.values()) clearTimeout(w.timer);
      waiting.clear();
      await redis.subscriber.unsubscribe(nodeChannel(nodeId)).catch(() => {});
    },
  };
}
