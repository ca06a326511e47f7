/**
 * Plumbing for the fuzz and fault tests: one raw HTTP request (Unix socket or TCP) that reports
 * whatever happened, and the checks of the daemon's answer shapes.
 */
import assert from 'node:assert/strict';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: any;
}

export const tryJson = (text: string): any => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * One request on its own connection. A daemon that answers early (413) and closes before the whole body
 * is written is fine: only errors before an answer count. Rejects on connection errors and timeouts.
 */
export function httpCall(
  target: { socketPath: string } | { base: string },
  method: string,
  path: string,
  opts: { headers?: Record<string, string | number>; body?: string | Buffer; chunks?: (string | Buffer)[]; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...opts.headers };
    // A caller's content-length wins (to lie about it); `chunks` sends a chunked body instead.
    if (opts.body !== undefined) headers['content-length'] ??= Buffer.byteLength(opts.body);
    // Keep-alive, so that a daemon answering early drains the rest of the body instead of hanging up on it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let answered = false;
    const where = 'socketPath' in target ? { socketPath: target.socketPath } : (() => {
      const u = new URL(target.base);
      return { host: u.hostname, port: Number(u.port) };
    })();
    let req;
    try {
      req = request({ ...where, method, path, headers, agent, timeout: opts.timeoutMs ?? 15_000 }, (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          agent.destroy();
          const text = Buffer.concat(parts).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: tryJson(text) });
        });
        res.on('error', (e) => {
          agent.destroy();
          reject(e);
        });
      });
    } catch (e) {
      agent.destroy();
      reject(e);
      return;
    }
    req.on('error', (e) => {
      agent.destroy();
      if (!answered) reject(e);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path.slice(0, 80)}: no answer within ${(opts.timeoutMs ?? 15_000) / 1000}s`)));
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

/** `{"error":{"code","message"}}` with a JSON content type. */
export function assertJsonError(r: HttpResult, what: string): void {
  assert.match(String(r.headers['content-type']), /^application\/json/, `${what}: content-type of ${r.status}: ${r.text.slice(0, 300)}`);
  assert.equal(typeof r.body?.error?.code, 'string', `${what}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(r.body.error.code.length > 0, `${what}: empty error code`);
  assert.equal(typeof r.body.error.message, 'string', `${what}: ${r.text.slice(0, 300)}`);
  assert.ok(r.body.error.message.trim().length > 0, `${what}: empty error message`);
}

/** pino levels: 50 error, 60 fatal. */
export function errorLogLines(logs: any[]): any[] {
  return logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
}

/** VmRSS of a process, in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
