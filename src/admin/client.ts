// getBuiltinModule, not `import ... from 'node:http'`: the ESM import evaluates every export of
// node:http, which loads undici (fetch/WebSocket) and costs confctl ~15 ms at each start.
const { request } = process.getBuiltinModule('node:http') as typeof import('node:http');

export interface AdminResponse {
  status: number;
  body: any;
}

/** The daemon could not be reached on the socket (not running, wrong path, no permission). */
export class DaemonUnreachable extends Error {
  readonly socketPath: string;
  constructor(socketPath: string, why: string) {
    super(`cannot reach confd on ${socketPath}: ${why}`);
    this.socketPath = socketPath;
  }
}

const WHY: Record<string, string> = {
  ENOENT: 'no socket there (is confd running? is this the right --socket?)',
  ECONNREFUSED: 'nothing is listening (confd is not running; the socket file is stale)',
  EACCES: "permission denied (run as the daemon's user, or set admin.group and join that group)",
  ENOTSOCK: 'that path is not a socket',
};

/** One JSON request to the admin socket. */
export function adminRequest(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        // A fresh connection per request: a kept-alive one can be closed by the daemon's idle timeout
        // just as the next request is written to it (EPIPE), and one local connection costs nothing.
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = { error: { code: 'bad_response', message: `daemon sent a non-JSON answer: ${text.slice(0, 200)}` } };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new DaemonUnreachable(socketPath, `no answer within ${timeoutMs / 1000}s`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof DaemonUnreachable) return reject(e);
      reject(new DaemonUnreachable(socketPath, WHY[e.code ?? ''] ?? e.message));
    });
    req.end(payload);
  });
}
