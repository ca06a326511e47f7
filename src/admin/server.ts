import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, chown, unlink } from 'node:fs/promises';
import { ConfdError, isConfdError } from '../errors.ts';
import { readJsonBody } from '../http/body.ts';
import { rawErrorResponse, sendError, sendJson } from '../http/json.ts';
import { claimSocketPath } from './socket-file.ts';
import { resolveGid } from './group.ts';
import { matchRoute, type AdminContext } from './routes.ts';
import { clusterForward } from './cluster-forward.ts';
import type { NodeAnswer, NodeRequest } from '../cluster/bus.ts';
import { httpStatus } from '../protocol/errors.ts';

type AdminCall = (req: NodeRequest) => Promise<NodeAnswer>;

export interface AdminServer {
  close(): Promise<void>;
  readonly path: string;
}

/** A client that hangs up mid-body is not a daemon failure: nothing to answer, nothing to log as an error. */
const clientWentAway = (req: IncomingMessage, e: unknown): boolean => req.destroyed && (e as NodeJS.ErrnoException).code === 'ECONNRESET';

/** The request target as a URL: origin-form ("/v1/status") or absolute-form; anything else is a 400. */
function requestUrl(target: string): URL {
  try {
    return new URL(target.startsWith('/') ? `http://confd${target}` : target);
  } catch {
    throw new ConfdError('bad_request', `"${target.slice(0, 200)}" is not a request path; use one like /v1/status`);
  }
}

async function handle(call: AdminCall, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = requestUrl(req.url ?? '/');
  const match = matchRoute(req.method ?? 'GET', url.pathname);
  if (match === null) {
    req.resume();
    return sendError(res, 'not_found', `no admin route ${req.method} ${url.pathname}; docs/admin-socket.md lists the routes`);
  }
  if ('allowed' in match) {
    req.resume();
    return sendError(res, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname}; use ${match.allowed.join(' or ')}`, {
      allow: match.allowed.join(', '),
    });
  }
  const body = await readJsonBody(req);
  const result = await call({ method: req.method ?? 'GET', url: url.pathname + url.search, body });
  sendJson(res, result.status, result.body);
}

/**
 * An admin request, from the socket or from inside the daemon (the HTTP API): in a cluster sent to
 * the node holding its room, or gathered from every node; else run here.
 */
export function createAdminCall(ctx: AdminContext): AdminCall {
  const here = (r: NodeRequest) => dispatchHere(ctx, r);
  const forward = ctx.cluster ? clusterForward(ctx.cluster, here) : null;
  return async (req) => (forward ? ((await forward(req).catch((e: unknown) => answerFor(ctx, req, e))) ?? (await here(req))) : here(req));
}

function answerFor(ctx: AdminContext, req: NodeRequest, e: unknown): NodeAnswer {
  if (isConfdError(e)) return { status: httpStatus(e.code), body: { error: { code: e.code, message: e.message } } };
  ctx.log.error({ err: e, route: `${req.method} ${req.url}` }, 'admin request failed');
  return { status: 500, body: { error: { code: 'internal', message: 'internal error; the daemon log has the details' } } };
}

/**
 * Runs an admin request here, as the bus brings it from another node (never sent on again): the
 * answer, or the error as the error table answers it.
 */
export async function dispatchHere(ctx: AdminContext, req: NodeRequest): Promise<NodeAnswer> {
  try {
    const url = requestUrl(req.url);
    const match = matchRoute(req.method, url.pathname);
    if (match === null || 'allowed' in match) throw new ConfdError('not_found', `no admin route ${req.method} ${url.pathname}`);
    return await match.handler(ctx, match.params, req.body, url.searchParams);
  } catch (e) {
    return answerFor(ctx, req, e);
  }
}

/** Listens on the admin Unix socket: HTTP/1.1 + JSON, mode 0600 (0660 with admin.group). */
export async function startAdminServer(ctx: AdminContext): Promise<AdminServer> {
  const path = ctx.config.socketPath;
  const group = ctx.config.admin.group;
  const gid = group === null ? null : resolveGid(group);
  await claimSocketPath(path);
  const call = createAdminCall(ctx);
  // Requests other nodes send here are run here, never sent on.
  ctx.cluster?.bus.serve((r) => dispatchHere(ctx, r));

  // No Host check: a Unix socket has no host, and Node's own 400 for a missing Host has no JSON body.
  // The timeouts below are enforced by a sweep every connectionsCheckingInterval (default 30 s, which
  // would let a stalled client hold a connection for up to 40 s).
  const server: Server = createServer({ requireHostHeader: false, connectionsCheckingInterval: 1_000 }, (req, res) => {
    handle(call, req, res).catch((e: unknown) => {
      if (isConfdError(e)) {
        sendError(res, e.code, e.message);
      } else if (clientWentAway(req, e)) {
        ctx.log.debug({ route: `${req.method} ${req.url}` }, 'admin client closed the connection mid-request');
      } else {
        ctx.log.error({ err: e, route: `${req.method} ${req.url}` }, 'admin request failed');
        if (!res.headersSent) sendError(res, 'internal', 'internal error; the daemon log has the details');
        else res.destroy();
      }
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.maxHeadersCount = 50;
  // Without this listener Node answers 417 itself, with no JSON body.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    sendError(res, 'expectation_failed', `unsupported "Expect: ${String(req.headers.expect).slice(0, 100)}"; send the request without it, or with "Expect: 100-continue"`);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    // Node reports a request that outran headersTimeout/requestTimeout here too: a 408, not a malformed request.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      return socket.end(rawErrorResponse('request_timeout', 'the request did not arrive in time; send it at once'));
    }
    socket.end(rawErrorResponse('bad_request', 'malformed HTTP request'));
  });

  // bind() creates the socket file with the process umask: make it private from the first instant,
  // not after a chmod race window.
  const oldUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldUmask);
  }
  try {
    if (gid !== null) {
      await chown(path, process.getuid?.() ?? -1, gid);
      await chmod(path, 0o660);
    } else {
      await chmod(path, 0o600);
    }
  } catch (e) {
    server.close();
    throw new ConfdError('config_invalid', `cannot set owner/mode of the admin socket ${path}: ${(e as Error).message}`);
  }

  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          unlink(path).catch(() => {}).finally(resolve);
        });
        server.closeAllConnections();
      }),
  };
}

