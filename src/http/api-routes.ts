import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isConfdError } from '../errors.ts';
import type { JoinTokens } from '../auth/tokens.ts';
import type { Rooms as Sfu } from '../rooms/registry.ts';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';
import { parseInput } from '../validation/issues.ts';
import { displayName, durationSeconds, roomName as room, userName } from '../validation/fields.ts';
import { counters } from '../metrics.ts';
import { createApiKeyCheck, createApiKeyGuard, type ApiKeyVerdict } from '../auth/api-key.ts';
import type { LoginLimiter } from '../auth/login-limiter.ts';
import { randomRoomName } from '../web/client/random-name.ts';
import { readJsonBody } from './body.ts';
import type { ClientIpResolver } from '../edge/client-ip.ts';
import { sendError, sendJson } from './json.ts';
import { createRouteTable } from './route-table.ts';
import type { HttpHandler } from './server.ts';
import type { NodeAnswer, NodeRequest } from '../cluster/bus.ts';

const ttl = durationSeconds;
const flag = z.union([z.boolean(), z.literal(0), z.literal(1)]).optional();
const tokenBody = z.strictObject({ room, ttl: ttl.optional(), user: userName.optional(), presenter: z.boolean().optional() });
const joinBody = z.strictObject({
  room,
  name: displayName.optional(),
  audio: flag,
  video: flag,
  screen: flag,
  hide: flag,
  notify: flag,
  token: z.boolean().optional(),
  ttl: ttl.optional(),
  presenter: z.boolean().optional(),
});
const meetingBody = z.strictObject({ room: room.optional() });

type ApiHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>;

/**
 * /api/v1 for integrations: `Authorization: <api.keySecret>` (or "Bearer <key>"), compared in constant
 * time; off (404) while api.keySecret is null. Wrong keys are limited per address (IPv6 by /64).
 */
export function createApiRoutes(opts: {
  keySecret: string | null;
  tokens: JoinTokens;
  sfu: Sfu;
  publicBase: () => string;
  clientIp: ClientIpResolver;
  /** Counts wrong keys (default: in memory; in cluster mode a Redis one of its own). */
  keyLimiter?: LoginLimiter;
  /**
   * Admin requests as `confctl` makes them: listing and ending meetings is the admin route's one path
   * (its audit event; in a cluster, on the node holding the room).
   */
  admin: (req: NodeRequest) => Promise<NodeAnswer>;
}): HttpHandler {
  const guard = createApiKeyGuard(createApiKeyCheck(opts.keySecret), opts.keyLimiter);

  async function body<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T | string> {
    const raw = await readJsonBody(req, 16 * 1024);
    const r = parseInput(schema, raw ?? {}, { top: 'body' });
    return r.ok ? r.data : r.problem;
  }

  function joinUrl(b: z.infer<typeof joinBody>, token?: string): string {
    const q = new URLSearchParams({ room: b.room });
    if (b.name) q.set('name', b.name);
    for (const k of ['audio', 'video', 'screen', 'hide', 'notify'] as const) if (b[k] !== undefined) q.set(k, b[k] ? '1' : '0');
    if (token) q.set('token', token);
    return `${opts.publicBase()}/join/?${q}`;
  }

  // Parameters stay percent-encoded: the handler says which one was badly encoded.
  const routes = createRouteTable<ApiHandler>((raw) => raw);
  routes.route('POST', '/api/v1/token', async (req, res) => {
    const b = await body(req, tokenBody);
    if (typeof b === 'string') return sendError(res, 'bad_request', b);
    const { token, record } = await opts.tokens.issue({
      room: b.room,
      sub: b.user ?? 'guest',
      presenter: b.presenter ?? false,
      ttlSeconds: b.ttl ?? opts.tokens.defaultTtlSeconds,
      actor: 'api',
    });
    sendJson(res, 200, { token, id: record.id, room: record.room, expiresAt: record.expiresAt, joinUrl: joinUrl({ room: b.room }, token) });
  });
  routes.route('POST', '/api/v1/join', async (req, res) => {
    const b = await body(req, joinBody);
    if (typeof b === 'string') return sendError(res, 'bad_request', b);
    let token: string | undefined;
    if (b.token) {
      token = (
        await opts.tokens.issue({ room: b.room, sub: 'guest', presenter: b.presenter ?? false, ttlSeconds: b.ttl ?? opts.tokens.defaultTtlSeconds, actor: 'api' })
      ).token;
    }
    sendJson(res, 200, { joinUrl: joinUrl(b, token) });
  });
  routes.route('POST', '/api/v1/meeting', async (req, res) => {
    const b = await body(req, meetingBody);
    if (typeof b === 'string') return sendError(res, 'bad_request', b);
    const name = b.room ?? randomRoomName('meeting');
    sendJson(res, 200, { room: name, joinUrl: `${opts.publicBase()}/join/${encodeURIComponent(name)}` });
  });
  routes.route('GET', '/api/v1/meetings', async (req, res) => {
    req.resume();
    const r = await opts.admin({ method: 'GET', url: '/v1/rooms', body: undefined });
    if (r.status !== 200) return sendJson(res, r.status, r.body);
    const rooms = (r.body as { rooms: { name: string; createdAt: string; peers: unknown[]; node?: string }[] }).rooms;
    sendJson(res, 200, { meetings: rooms.map((m) => ({ room: m.name, createdAt: m.createdAt, peers: m.peers.length, node: m.node })) });
  });
  routes.route('GET', '/api/v1/stats', async (req, res) => {
    req.resume();
    const rooms = opts.sfu.rooms();
    sendJson(res, 200, {
      rooms: rooms.length,
      peers: rooms.reduce((n, r) => n + r.peers.length, 0),
      producers: rooms.reduce((n, r) => n + r.peers.reduce((m, p) => m + p.producers, 0), 0),
      consumers: rooms.reduce((n, r) => n + r.peers.reduce((m, p) => m + p.consumers, 0), 0),
      workers: (await opts.sfu.workers()).length,
    });
  });
  routes.route('DELETE', '/api/v1/meeting/:name', async (req, res, params) => {
    req.resume();
    let name: string;
    try {
      name = decodeURIComponent(params.name!);
    } catch {
      return sendError(res, 'bad_request', 'bad percent-encoding in the room name');
    }
    if (!isRoomName(name)) return sendError(res, 'bad_request', roomNameError(name));
    // As `confctl end`: one path (audited; in a cluster, the node holding the room ends it).
    const ended = await opts.admin({ method: 'DELETE', url: `/v1/rooms/${name}`, body: undefined });
    if (ended.status === 404) return sendError(res, 'not_found', `no meeting "${name}" is running`);
    sendJson(res, ended.status, ended.body);
  });

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith('/api/')) return false;
    counters.apiRequests++;
    if (opts.keySecret === null) {
      req.resume();
      sendError(res, 'api_disabled', 'the HTTP API is off; set api.keySecret in the config to enable it');
      return true;
    }
    let verdict: ApiKeyVerdict;
    try {
      verdict = await guard(req.headers.authorization, opts.clientIp(req));
    } catch (e) {
      // The limiter's Redis (cluster mode) is unreachable: a clear 503, not a 500.
      req.resume();
      if (isConfdError(e)) return sendError(res, e.code, e.message), true;
      throw e;
    }
    if (!verdict.ok) {
      req.resume();
      counters.apiUnauthorized++;
      if (verdict.status === 429) {
        sendError(res, 'too_many_attempts', `too many requests with a wrong API key from this address; try again in ${verdict.retryAfterSeconds} s`, {
          'retry-after': String(verdict.retryAfterSeconds),
        });
      } else {
        sendError(res, 'unauthorized', 'missing or wrong API key in the Authorization header');
      }
      return true;
    }
    const path = url.pathname.replace(/\/+$/, '');
    const match = routes.match(req.method ?? 'GET', path);
    try {
      // The API has no 405: a method a path does not take is no route either.
      if (match === null || 'allowed' in match) {
        req.resume();
        sendError(res, 'not_found', `no API route ${req.method} ${path}; docs/http-api.md lists the routes`);
      } else {
        await match.handler(req, res, match.params);
      }
      return true;
    } catch (e) {
      if (isConfdError(e)) return sendError(res, e.code, e.message), true;
      throw e;
    }
  };
}
