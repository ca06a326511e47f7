/**
 * A table of routes for one HTTP surface (admin socket, /login, /api/v1): `route(method, path, handler)`
 * with `:name` parameters, and `match(method, path)` giving the handler, or the methods the path allows
 * (for a 405 with an Allow header), or nothing.
 */
import { ConfdError } from '../errors.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export type RouteMatch<H> = { handler: H; params: Record<string, string> } | { allowed: Method[] } | null;

export interface RouteTable<H> {
  route(method: Method, path: string, handler: H): void;
  match(method: string, path: string): RouteMatch<H>;
}

/** Percent-decodes a path parameter; a bad encoding is the client's 400. */
export function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ConfdError('bad_request', `bad percent-encoding in the path: ${raw}`);
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `decode` turns a raw parameter into its value (by default percent-decoded; pass `(s) => s` to keep it raw). */
export function createRouteTable<H>(decode: (raw: string) => string = decodePathParam): RouteTable<H> {
  const routes: { method: Method; pattern: RegExp; keys: string[]; handler: H }[] = [];
  return {
    route(method, path, handler) {
      const keys: string[] = [];
      const source = path
        .split(/(:[a-z]+)/)
        .map((part) => {
          if (!part.startsWith(':')) return escape(part);
          keys.push(part.slice(1));
          return '([^/]+)';
        })
        .join('');
      routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler });
    },
    match(method, path) {
      const allowed: Method[] = [];
      for (const r of routes) {
        const m = r.pattern.exec(path);
        if (!m) continue;
        if (r.method !== method) {
          allowed.push(r.method);
          continue;
        }
        const params: Record<string, string> = {};
        r.keys.forEach((k, i) => (params[k] = decode(m[i + 1]!)));
        return { handler: r.handler, params };
      }
      return allowed.length > 0 ? { allowed } : null;
    },
  };
}
