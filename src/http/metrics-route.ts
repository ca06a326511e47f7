import type { Rooms as Sfu } from '../rooms/registry.ts';
import type { StateEntries } from '../rooms/view.ts';
import { createApiKeyGuard, type ApiKeyVerdict } from '../auth/api-key.ts';
import type { LoginLimiter } from '../auth/login-limiter.ts';
import { isConfdError } from '../errors.ts';
import { httpStatus } from '../protocol/errors.ts';
import { counters } from '../metrics.ts';
import { processMetricLines } from './process-metrics.ts';
import type { ClientIpResolver } from '../edge/client-ip.ts';
import type { HttpHandler } from './server.ts';

const LOOPBACK = /^(127\.|::1$)/;

/**
 * GET /metrics in Prometheus text format. Answered to loopback clients (a local Prometheus or node
 * exporter scrape); from elsewhere it needs the API key, as it describes the server's load. Wrong keys
 * from one address (IPv6: its /64) are limited: API_KEY_MAX_FAILURES per API_KEY_BLOCK_MS, then 429.
 */
export function createMetricsRoute(opts: {
  sfu: Sfu;
  clientIp: ClientIpResolver;
  apiKeyOk: (authorization: string | undefined) => boolean;
  /** Counts wrong keys (default: in memory; in cluster mode a Redis one, not the API's). */
  keyLimiter?: LoginLimiter;
  /** What the daemon keeps in memory beyond its connections, by kind (rooms and signalling). */
  entries: () => StateEntries;
}): HttpHandler {
  // Wrong keys are limited per address like /api/v1's (its own count: /metrics must not be a way
  // around the API's limit, nor a way to block an integration's address on the API).
  const guard = createApiKeyGuard(opts.apiKeyOk, opts.keyLimiter);
  return async (req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return false;
    req.resume();
    const ip = opts.clientIp(req);
    if (!LOOPBACK.test(ip)) {
      let verdict: ApiKeyVerdict;
      try {
        verdict = await guard(req.headers.authorization, ip);
      } catch (e) {
        // The limiter's Redis (cluster mode) is unreachable: a clear 503, not a 500.
        if (!isConfdError(e)) throw e;
        res.writeHead(httpStatus(e.code), { 'content-type': 'text/plain' }).end(`${e.message}\n`);
        return true;
      }
      if (!verdict.ok) {
        counters.metricsUnauthorized++;
        if (verdict.status === 429) {
          res
            .writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(verdict.retryAfterSeconds) })
            .end(`too many requests with a wrong API key from this address; try again in ${verdict.retryAfterSeconds} s\n`);
        } else {
          res.writeHead(403, { 'content-type': 'text/plain' }).end('metrics are served to localhost, or with the API key (Authorization: Bearer KEY)\n');
        }
        return true;
      }
    }
    const rooms = opts.sfu.rooms();
    const peers = rooms.reduce((n, r) => n + r.peers.length, 0);
    const producers = rooms.reduce((n, r) => n + r.peers.reduce((m, p) => m + p.producers, 0), 0);
    const consumers = rooms.reduce((n, r) => n + r.peers.reduce((m, p) => m + p.consumers, 0), 0);
    const workers = await opts.sfu.workers();
    const lines = [
      '# HELP confd_up 1 while the daemon answers.',
      '# TYPE confd_up gauge',
      'confd_up 1',
      '# HELP confd_rooms Open rooms.',
      '# TYPE confd_rooms gauge',
      `confd_rooms ${rooms.length}`,
      '# HELP confd_peers Connected peers.',
      '# TYPE confd_peers gauge',
      `confd_peers ${peers}`,
      '# HELP confd_producers Media producers.',
      '# TYPE confd_producers gauge',
      `confd_producers ${producers}`,
      '# HELP confd_consumers Media consumers.',
      '# TYPE confd_consumers gauge',
      `confd_consumers ${consumers}`,
      '# HELP confd_logins_total Login attempts by result.',
      '# TYPE confd_logins_total counter',
      `confd_logins_total{result="ok"} ${counters.loginsOk}`,
      `confd_logins_total{result="failed"} ${counters.loginsFailed}`,
      `confd_logins_total{result="blocked"} ${counters.loginsBlocked}`,
      `confd_logins_total{result="busy"} ${counters.loginsBusy}`,
      `confd_logins_total{result="overloaded"} ${counters.loginsOverloaded}`,
      '# HELP confd_metrics_unauthorized_total /metrics requests refused for a wrong or missing API key.',
      '# TYPE confd_metrics_unauthorized_total counter',
      `confd_metrics_unauthorized_total ${counters.metricsUnauthorized}`,
      '# HELP confd_db_writes_total Database file rewrites.',
      '# TYPE confd_db_writes_total counter',
      `confd_db_writes_total ${counters.dbWrites}`,
      '# HELP confd_tokens_issued_total Join tokens issued.',
      '# TYPE confd_tokens_issued_total counter',
      `confd_tokens_issued_total ${counters.tokensIssued}`,
      '# HELP confd_api_requests_total HTTP API requests (unauthorized ones included).',
      '# TYPE confd_api_requests_total counter',
      `confd_api_requests_total ${counters.apiRequests}`,
      '# HELP confd_worker_cpu_seconds_total CPU time of each mediasoup worker.',
      '# TYPE confd_worker_cpu_seconds_total counter',
      ...workers.flatMap((w) => [
        `confd_worker_cpu_seconds_total{pid="${w.pid}",mode="user"} ${(w.cpu.userMs / 1000).toFixed(3)}`,
        `confd_worker_cpu_seconds_total{pid="${w.pid}",mode="system"} ${(w.cpu.systemMs / 1000).toFixed(3)}`,
      ]),
      '# HELP confd_workers Running mediasoup workers.',
      '# TYPE confd_workers gauge',
      `confd_workers ${workers.length}`,
      '# HELP confd_state_entries Entries kept in memory beyond the open connections, by kind: each comes back to its level once those it was kept for are gone (one that only grows is a leak).',
      '# TYPE confd_state_entries gauge',
      ...Object.entries(opts.entries())
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([kind, n]) => `confd_state_entries{kind="${kind}"} ${n}`),
      ...processMetricLines(),
    ];
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }).end(`${lines.join('\n')}\n`);
    return true;
  };
}
