/**
 * The guest web page: `/`, `/login`, `/join/ROOM`, `/join/?room=ROOM&...` and the bundled `/assets/app.js` and
 * `/assets/style.css`. Pages are never cached (join URLs carry tokens); assets are served with a strong
 * ETag and, when asked for by their current `?v=` hash, cached as immutable.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from './server.ts';
import { buildWebAssets, type WebAsset } from '../web/build.ts';
import { homePage, loginPage, messagePage, roomPage, type AssetVersions, type HostOptions } from '../web/pages.ts';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';

/** Host header values we are willing to echo into the CSP (host, IPv4, [IPv6], optional port). */
const SAFE_HOST_RE = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/** A node's base URL as the WebSocket origin the page may open (http -> ws, https -> wss). */
const wsOrigin = (base: string): string | null => {
  try {
    const u = new URL(base);
    return u.protocol === 'https:' ? `wss://${u.host}` : u.protocol === 'http:' ? `ws://${u.host}` : null;
  } catch {
    return null;
  }
};

function contentSecurityPolicy(host: string | undefined, nodes: readonly string[]): string {
  // 'self' covers same-origin ws(s): in current browsers; the explicit entries cover older ones.
  let ws = host && SAFE_HOST_RE.test(host) ? ` ws://${host} wss://${host}` : '';
  // In a cluster a join may be sent to another node: the page may open its signalling there.
  for (const o of nodes.map(wsOrigin)) if (o) ws += ` ${o}`;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    `connect-src 'self'${ws}`,
    "font-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

function securityHeaders(req: IncomingMessage, nodes: readonly string[]): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(req.headers.host, nodes),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=()',
  };
}

function sendHtml(req: IncomingMessage, res: ServerResponse, sec: Record<string, string>, status: number, html: string): void {
  const body = Buffer.from(html);
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
    ...sec,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, sec: Record<string, string>, url: URL, a: WebAsset): void {
  const headers: Record<string, string | number> = {
    'content-type': a.contentType,
    etag: a.etag,
    // The page asks for ?v=<hash>: that exact content never changes. Anything else revalidates.
    'cache-control': url.searchParams.get('v') === a.version ? 'public, max-age=31536000, immutable' : 'no-cache',
    ...sec,
  };
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === a.etag || t.trim() === `W/${a.etag}`)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers['content-length'] = a.body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : a.body);
}

/** Decodes one path segment; null when it is not valid percent-encoding. */
function segment(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

export interface WebRouteOptions {
  /** config.host.protected: the pages offer "Log in as host". */
  hostProtected?: boolean;
  /** config.host.user_auth: participants need a login or a join token. */
  userAuth?: boolean;
  /** Cluster: the nodes' base URLs, whose signalling the page may be sent to. */
  nodeUrls?: () => readonly string[];
}

/** Builds the page assets (once) and returns the handler that serves the web page. */
export async function createWebRoutes(options: WebRouteOptions = {}): Promise<HttpHandler> {
  const assets = await buildWebAssets();
  const versions: AssetVersions = { js: assets.js.version, css: assets.css.version };
  const host: HostOptions = { hostProtected: options.hostProtected === true, userAuth: options.userAuth === true };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const sec = securityHeaders(req, options.nodeUrls?.() ?? []);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://confd.invalid');
    } catch {
      return false;
    }
    const path = url.pathname;

    const asset = path === '/assets/app.js' ? assets.js : path === '/assets/style.css' ? assets.css : null;
    if (asset) {
      req.resume();
      sendAsset(req, res, sec, url, asset);
      return true;
    }

    const isJoin = path === '/join' || path.startsWith('/join/');
    // POST /login (and /logout, /session) belong to the login routes.
    if (path !== '/' && path !== '/login' && !isJoin) return false;
    req.resume();

    // Credentials never travel in URLs (they end up in logs, history and Referer headers).
    if (url.searchParams.has('username') || url.searchParams.has('password')) {
      sendHtml(req, res, sec, 400, messagePage(versions, {
        title: 'Credentials are not accepted in links',
        message: 'This link carries a user name or password. confd never takes credentials in a URL, because links end up in browser history, logs and chat messages.',
        detail: 'If this was your password, change it. Hosts log in on the login page; guests join with a plain room link or a join link with a token.',
      }));
      return true;
    }

    if (path === '/') {
      sendHtml(req, res, sec, 200, homePage(versions, { host }));
      return true;
    }
    if (path === '/login') {
      // `?next=` is read (and checked to be a same-site path) by the page's script, never echoed here.
      sendHtml(req, res, sec, 200, loginPage(versions, host));
      return true;
    }

    const rest = path === '/join' ? '' : path.slice('/join/'.length);
    let room: string | null;
    if (rest === '') {
      room = url.searchParams.get('room');
      if (room === null || room.trim() === '') {
        sendHtml(req, res, sec, 200, homePage(versions, { name: url.searchParams.get('name')?.slice(0, 64) ?? '', host }));
        return true;
      }
      room = room.trim();
    } else {
      room = rest.includes('/') ? null : segment(rest);
    }
    if (room === null || !isRoomName(room)) {
      const shown = (room ?? rest).slice(0, 80);
      sendHtml(req, res, sec, 400, homePage(versions, { error: roomNameError(shown), name: url.searchParams.get('name')?.slice(0, 64) ?? '', host }));
      return true;
    }
    sendHtml(req, res, sec, 200, roomPage(versions, room, host));
    return true;
  };
}
