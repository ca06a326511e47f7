import { z } from 'zod';
import { ConfdError } from '../errors.ts';
import type { Config } from '../config/load.ts';
import { formatDuration } from '../validation/duration.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/db.ts';
import type { AuthorisedIp } from '../store/schema.ts';
import { appendAudit } from '../store/audit.ts';
import { addUser, findUser } from '../store/users.ts';
import { USERNAME_RE, USERNAME_HELP } from '../protocol/limits.ts';
import { parseInput } from '../validation/issues.ts';
import { durationSeconds, peerId, roomName, userName } from '../validation/fields.ts';
import { activeIps, authoriseIp, normaliseIp } from '../store/ips.ts';
import { hashPassword, passwordProblem } from '../auth/passwords.ts';
import type { JoinTokens } from '../auth/tokens.ts';
import * as revocations from '../auth/revocations.ts';
import type { MediaPlane } from '../rooms/view.ts';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';
import { VERSION } from '../version.ts';
import type { Recorder } from '../recording/recorder.ts';
import type { Cluster } from '../cluster/cluster.ts';
import { createRouteTable, type RouteMatch as TableMatch } from '../http/route-table.ts';

export interface AdminContext {
  config: Config;
  store: Store;
  tokens: JoinTokens;
  media: MediaPlane;
  log: Logger;
  startedAt: Date;
  /** Base URL for join links, e.g. http://127.0.0.1:3010 */
  publicBase: () => string;
  /** Cluster mode: this node's part in it (`confctl cluster`; room requests go to the room's node). */
  cluster?: Cluster;
  /** `confctl record` (src/recording/); absent: recording is not available in this process. */
  recorder?: Recorder;
  now?: () => Date;
}

export interface RouteResult {
  status: number;
  body: unknown;
}

type Handler = (ctx: AdminContext, params: Record<string, string>, body: unknown, query: URLSearchParams) => Promise<RouteResult>;

/** Parses `body` with `schema`, or throws a 400 naming the first bad field. */
function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined) throw new ConfdError('bad_request', 'this request needs a JSON body');
  const r = parseInput(schema, body);
  if (!r.ok) throw new ConfdError('bad_request', r.problem);
  return r.data;
}

const password = z.string({ error: 'must be a string' }).check((ctx) => {
  const problem = passwordProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
});

const addUserBody = z.strictObject({ name: userName, password });
const passwdBody = z.strictObject({ password });
const issueTokenBody = z.strictObject({
  room: roomName,
  ttl: durationSeconds.optional(),
  user: userName.optional(),
  presenter: z.boolean({ error: 'must be true or false' }).optional(),
});
const addIpBody = z.strictObject({ ip: z.string({ error: 'must be a string' }), user: userName, ttl: durationSeconds.optional() });
const kickBody = z.strictObject({ peer: z.string({ error: 'must be a string' }).min(1).max(128) });
const lobbyBody = z.strictObject({ enabled: z.boolean({ error: 'must be true or false' }) });
/** Whom a lobby admit/deny is about: `peer` (one waiting guest) or `all: true`, exactly one of them. */
const lobbyTargetBody = z
  .strictObject({ peer: peerId.optional(), all: z.literal(true, { error: 'must be true' }).optional() })
  .refine((b) => (b.peer === undefined) !== (b.all === undefined), { error: 'give either "peer" or "all": true' });

function roomParam(raw: string): string {
  if (!isRoomName(raw)) throw new ConfdError('bad_request', roomNameError(raw));
  return raw;
}

const clock = (ctx: AdminContext) => (ctx.now ?? (() => new Date()))();

function ipParam(raw: string): string {
  const ip = normaliseIp(raw);
  if (!ip) throw new ConfdError('bad_request', `"${raw}" is not an IP address`);
  return ip;
}

function userParam(raw: string): string {
  if (!USERNAME_RE.test(raw)) throw new ConfdError('bad_request', `"${raw}" is not a valid user name (${USERNAME_HELP})`);
  return raw;
}

const withoutTokens = ({ tokens: _t, ...e }: AuthorisedIp) => e;

const routes = createRouteTable<Handler>();
const route = routes.route;

route('GET', '/v1/status', async (ctx) => {
  const now = clock(ctx);
  // The node table as Redis has it now (the cached one may be a heartbeat old); while Redis is away, the last one.
  await ctx.cluster?.nodes.refresh().catch(() => {});
  const rooms = ctx.media.rooms();
  return {
    status: 200,
    body: {
      version: VERSION,
      pid: process.pid,
      node: process.version,
      startedAt: ctx.startedAt.toISOString(),
      uptimeSeconds: Math.floor((now.getTime() - ctx.startedAt.getTime()) / 1000),
      http: ctx.publicBase(),
      socket: ctx.config.socketPath,
      dataDir: ctx.config.dataDir,
      hostProtected: ctx.config.host.protected,
      userAuth: ctx.config.host.user_auth,
      users: ctx.store.data.users.length,
      authorisedIps: activeIps(ctx.store.data, now).length,
      activeTokens: ctx.store.data.tokens.filter((t) => !t.revokedAt && Date.parse(t.expiresAt) > now.getTime()).length,
      workers: await ctx.media.workers(),
      rooms: rooms.length,
      peers: rooms.reduce((n, r) => n + r.peers.length, 0),
      cluster: ctx.cluster ? ctx.cluster.summary() : null,
    },
  };
});

route('GET', '/v1/cluster', async (ctx) => {
  if (!ctx.cluster) throw new ConfdError('not_found', 'this node is not in a cluster (cluster.redis is null); see docs/cluster.md');
  const nodes = await ctx.cluster.nodes.refresh();
  return {
    status: 200,
    body: {
      self: ctx.cluster.nodeId,
      nodes: nodes.map((n) => ({ id: n.id, url: n.url, alive: n.alive, load: n.load, rooms: n.roomNames, heartbeatAt: n.heartbeatAt, startedAt: n.startedAt, version: n.version })),
    },
  };
});

route('GET', '/v1/users', async (ctx) => ({
  status: 200,
  body: { users: ctx.store.data.users.map((u) => ({ name: u.name, createdAt: u.createdAt, updatedAt: u.updatedAt })) },
}));

route('POST', '/v1/users', async (ctx, _p, body) => {
  const { name, password: pw } = parseBody(addUserBody, body);
  if (findUser(ctx.store.data, name)) throw new ConfdError('conflict', `user "${name}" already exists; use "confctl user passwd ${name}" to change the password`);
  const hash = await hashPassword(pw);
  const now = clock(ctx);
  const user = await ctx.store.mutate((d) => {
    const u = addUser(d, name, hash, now);
    appendAudit(d, now, 'user.add', 'admin', { user: name });
    return u;
  });
  ctx.log.info({ user: name }, 'user added');
  return { status: 201, body: { name: user.name, createdAt: user.createdAt } };
});

route('DELETE', '/v1/users/:name', async (ctx, p) => {
  const name = userParam(p.name!);
  const now = clock(ctx);
  const { removedIps, revokedTokens } = await revocations.removeUser(ctx.store, name, now);
  ctx.log.info({ user: name, removedIps, revokedTokens: revokedTokens.length }, 'user removed');
  return { status: 200, body: { name, removed: true, removedIps, revokedTokens } };
});

route('PUT', '/v1/users/:name/password', async (ctx, p, body) => {
  const name = userParam(p.name!);
  const { password: pw } = parseBody(passwdBody, body);
  if (!findUser(ctx.store.data, name)) throw new ConfdError('not_found', `no user "${name}"; "confctl user list" shows the users`);
  const hash = await hashPassword(pw);
  const now = clock(ctx);
  await revocations.changePassword(ctx.store, name, hash, now);
  ctx.log.info({ user: name }, 'password changed');
  return { status: 200, body: { name, updated: true } };
});

route('GET', '/v1/tokens', async (ctx) => {
  const now = clock(ctx).getTime();
  return {
    status: 200,
    body: {
      tokens: ctx.store.data.tokens.map((t) => ({
        ...t,
        state: t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= now ? 'expired' : 'active',
      })),
    },
  };
});

route('POST', '/v1/tokens', async (ctx, _p, body) => {
  const req = parseBody(issueTokenBody, body);
  if (req.user && !findUser(ctx.store.data, req.user)) {
    throw new ConfdError('not_found', `no user "${req.user}"; add it with "confctl user add ${req.user}" or leave out --user`);
  }
  const ttlSeconds = req.ttl ?? ctx.tokens.defaultTtlSeconds;
  const { token, record } = await ctx.tokens.issue({
    room: req.room,
    sub: req.user ?? 'guest',
    presenter: req.presenter ?? false,
    ttlSeconds,
    actor: 'admin',
  });
  const joinUrl = `${ctx.publicBase()}/join/${encodeURIComponent(req.room)}?token=${encodeURIComponent(token)}`;
  ctx.log.info({ id: record.id, room: record.room, sub: record.sub, presenter: record.presenter, expiresAt: record.expiresAt }, 'token issued');
  return { status: 201, body: { ...record, token, joinUrl } };
});

route('DELETE', '/v1/tokens/:id', async (ctx, p) => {
  const id = p.id!;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new ConfdError('bad_request', `"${id}" is not a token id; "confctl token list" shows the ids`);
  const now = clock(ctx);
  const rec = await revocations.revokeToken(ctx.store, id, now);
  ctx.log.info({ id, room: rec.room }, 'token revoked');
  return { status: 200, body: { ...rec, state: 'revoked' } };
});

route('GET', '/v1/ips', async (ctx) => ({ status: 200, body: { ips: activeIps(ctx.store.data, clock(ctx)).map(withoutTokens) } }));

route('POST', '/v1/ips', async (ctx, _p, body) => {
  const req = parseBody(addIpBody, body);
  const ip = ipParam(req.ip);
  const ttlSeconds = req.ttl ?? ctx.config.host.authTtlSeconds;
  const now = clock(ctx);
  // A valid duration can still end past the last date a Date holds (999999999d): refuse it, not a 500.
  if (Number.isNaN(new Date(now.getTime() + ttlSeconds * 1000).getTime())) {
    throw new ConfdError('refused', `ttl ${formatDuration(ttlSeconds)} ends past the last date confd can store; ask for a shorter ttl`);
  }
  const entry = await ctx.store.mutate((d) => {
    const e = authoriseIp(d, ip, req.user, ttlSeconds, now);
    appendAudit(d, now, 'ip.add', 'admin', { ip, user: req.user, expiresAt: e.expiresAt });
    return withoutTokens(e);
  });
  ctx.log.info({ ip, user: req.user }, 'ip authorised');
  return { status: 201, body: entry };
});

route('DELETE', '/v1/ips/:ip', async (ctx, p) => {
  const ip = ipParam(p.ip!);
  const now = clock(ctx);
  const { removed, revokedTokens: tokens } = await revocations.revokeIp(ctx.store, ip, now);
  ctx.log.info({ ip, entries: removed.length, revokedTokens: tokens.length }, 'ip revoked');
  return { status: 200, body: { revoked: removed.map(withoutTokens), revokedTokens: tokens } };
});

route('DELETE', '/v1/ips', async (ctx) => {
  const now = clock(ctx);
  const { removed, revokedTokens: tokens } = await revocations.revokeAllIps(ctx.store, now);
  ctx.log.info({ entries: removed.length, revokedTokens: tokens.length }, 'all ips revoked');
  return { status: 200, body: { revoked: removed.map(withoutTokens), revokedTokens: tokens } };
});

route('GET', '/v1/rooms', async (ctx) => ({ status: 200, body: { rooms: ctx.media.rooms() } }));

route('POST', '/v1/rooms/:room/kick', async (ctx, p, body) => {
  const room = roomParam(p.room!);
  const { peer } = parseBody(kickBody, body);
  if (!ctx.media.kick(room, peer)) throw new ConfdError('not_found', `no peer "${peer}" in room "${room}"; "confctl rooms" lists rooms and peers`);
  const now = clock(ctx);
  await ctx.store.mutate((d) => void appendAudit(d, now, 'peer.kick', 'admin', { room, peer }));
  return { status: 200, body: { room, peer, kicked: true } };
});

// Ends a meeting: everyone in the room, seated or waiting, is disconnected with room_closed (not a kick: no ban).
route('DELETE', '/v1/rooms/:room', async (ctx, p) => {
  const room = roomParam(p.room!);
  const ended = ctx.media.end(room);
  if (!ended) throw new ConfdError('not_found', `no meeting is running in room "${room}"; "confctl rooms" lists rooms`);
  const now = clock(ctx);
  await ctx.store.mutate((d) => void appendAudit(d, now, 'room.end', 'admin', { room, peers: ended.peers }));
  return { status: 200, body: { room, ended: true, peers: ended.peers } };
});

route('GET', '/v1/rooms/:room/lobby', async (ctx, p) => {
  const room = roomParam(p.room!);
  return { status: 200, body: { room, ...ctx.media.lobby(room) } };
});

// On or off; off lets everyone waiting in the lobby in (each still checked against lock, ban and password).
route('PUT', '/v1/rooms/:room/lobby', async (ctx, p, body) => {
  const room = roomParam(p.room!);
  const { enabled } = parseBody(lobbyBody, body);
  const waitingBefore = ctx.media.lobby(room).waiting.map((w) => w.peerId);
  const state = ctx.media.setLobby(room, enabled);
  const letIn = enabled ? [] : waitingBefore;
  const now = clock(ctx);
  await ctx.store.mutate((d) => void appendAudit(d, now, enabled ? 'lobby.on' : 'lobby.off', 'admin', { room, ...(enabled ? {} : { letIn: letIn.join(',') }) }));
  ctx.log.info({ room, enabled, letIn: letIn.length }, 'lobby set by the admin');
  return { status: 200, body: { room, ...state, letIn } };
});

for (const action of ['admit', 'deny'] as const) {
  route('POST', `/v1/rooms/:room/lobby/${action}`, async (ctx, p, body) => {
    const room = roomParam(p.room!);
    const req = parseBody(lobbyTargetBody, body);
    const target = req.all ? { all: true as const } : { peerId: req.peer! };
    const ids = action === 'admit' ? ctx.media.lobbyAdmit(room, target) : ctx.media.lobbyDeny(room, target);
    if (!ids) throw new ConfdError('not_found', `no guest "${req.peer}" is waiting in the lobby of room "${room}"; "confctl lobby list --room ${room}" shows who is`);
    const now = clock(ctx);
    await ctx.store.mutate((d) => void appendAudit(d, now, `lobby.${action}`, 'admin', { room, peers: ids.join(','), ...(req.all ? { all: true } : {}) }));
    return { status: 200, body: { room, [action === 'admit' ? 'admitted' : 'denied']: ids, ...ctx.media.lobby(room) } };
  });
}

/** Who asked, as confctl reports it (the socket's mode already limits who can ask at all). */
const recordBody = z.strictObject({
  by: z.strictObject({ user: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be a user name' }), uid: z.number().int().min(0) }).optional(),
});
const recordingRoom = (ctx: AdminContext, raw: string) => {
  const room = roomParam(raw);
  if (!ctx.recorder) throw new ConfdError('unavailable', 'recording is not available in this daemon');
  return { room, recorder: ctx.recorder };
};
const requester = (body: unknown): string => {
  const { by } = parseBody(recordBody, body ?? {});
  return by ? `${by.user} (uid ${by.uid})` : 'admin socket (no user given)';
};

route('POST', '/v1/rooms/:room/recording', async (ctx, p, body) => {
  const { room, recorder } = recordingRoom(ctx, p.room!);
  return { status: 201, body: await recorder.start(room, requester(body)) };
});

route('DELETE', '/v1/rooms/:room/recording', async (ctx, p, body) => {
  const { room, recorder } = recordingRoom(ctx, p.room!);
  return { status: 200, body: await recorder.stop(room, requester(body)) };
});

route('GET', '/v1/recordings', async (ctx) => {
  if (!ctx.recorder) throw new ConfdError('unavailable', 'recording is not available in this daemon');
  return { status: 200, body: await ctx.recorder.list() };
});

route('GET', '/v1/audit', async (ctx, _p, _b, query) => {
  const raw = query.get('limit') ?? '50';
  if (!/^[0-9]{1,5}$/.test(raw) || Number(raw) < 1) throw new ConfdError('bad_request', 'limit must be a whole number from 1 to 99999');
  // Admin/security events and login noise live in separate rings: one list, in time order.
  return { status: 200, body: { events: ctx.store.auditTrail(Number(raw)) } };
});

export type RouteMatch = TableMatch<Handler>;

/** Finds the handler for method + path; `{allowed}` when the path exists with other methods. */
export const matchRoute = (method: string, path: string): RouteMatch => routes.match(method, path);
