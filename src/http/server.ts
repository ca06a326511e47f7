import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { ConfdError } from '../errors.ts';
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { createHostCheck, misdirectedMessage, type HostCheck } from '../edge/host-check.ts';
import { sendError, sendJson } from './json.ts';

export interface HttpServer {
  readonly server: Server;
  /** The address actually bound (port 0 in config means "any free port"). */
  address(): { host: string; port: number };
  /** Later parts (web page, login, API, signalling) add handlers here, tried in order. */
  use(handler: HttpHandler): void;
  setReady(ready: boolean): void;
  /** Whether a Host header names this server (DNS rebinding guard; the signalling upgrade uses it too). */
  readonly hostOk: HostCheck;
  close(): Promise<void>;
}

/** Returns true when it handled the request. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export async function startHttpServer(config: Config, log: Logger, extraNames: readonly string[] = []): Promise<HttpServer> {
  let ready = false;
  const handlers: HttpHandler[] = [];
  const { tls } = config.server;
  let options = {};
  if (tls.cert && tls.key) {
    try {
      options = { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
    } catch (e) {
      throw new ConfdError('config_invalid', `server.tls: cannot read certificate or key: ${(e as Error).message}`);
    }
  }

  const hostOk = createHostCheck(config.server.publicUrl, extraNames);
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ok' : 'starting' });
    }
    if (!hostOk(req.headers.host)) {
      req.resume();
      return sendError(res, 'misdirected', misdirectedMessage(req.headers.host));
    }
    for (const h of handlers) if (await h(req, res)) return;
    req.resume();
    sendError(res, 'not_found', `nothing at ${path}`);
  };

  // Node enforces headersTimeout/requestTimeout in a sweep every connectionsCheckingInterval (30 s by
  // default): a slow client would keep its socket for up to 40 s, not the 10 s set below.
  const sweep = { connectionsCheckingInterval: 1_000 };
  const server: Server = tls.cert ? (createHttpsServer({ ...options, ...sweep }) as unknown as Server) : createHttpServer(sweep);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    onRequest(req, res).catch((e: unknown) => {
      // A client that hangs up (or is cut off by requestTimeout) mid-body is not a daemon failure.
      if (req.destroyed && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return log.debug({ url: req.url }, 'http client closed the connection mid-request');
      log.error({ err: e, url: req.url }, 'http request failed');
      if (!res.headersSent) sendError(res, 'internal', 'internal error');
      else res.destroy();
    });
  });
  // Slow or stalled clients (slowloris) are cut off rather than holding sockets forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the port is already in use' : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.message;
      reject(new ConfdError('config_invalid', `cannot listen on ${config.server.listen}:${config.server.port}: ${why}; choose another server.port / --port`));
    });
    server.listen(config.server.port, config.server.listen, () => resolve());
  });

  return {
    server,
    address: () => {
      const a = server.address() as AddressInfo;
      return { host: a.address, port: a.port };
    },
    use: (h) => void handlers.push(h),
    setReady: (r) => void (ready = r),
    hostOk,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
