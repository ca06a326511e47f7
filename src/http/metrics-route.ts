import type { Sfu } from '../sfu/room-registry.ts';
import { counters } from '../metrics.ts';
import type { ClientIpResolver } from './client-ip.ts';
import type { HttpHandler } from './server.ts';

const LOOPBACK = /^(127\.|::1$)/;

/**
 * GET /metrics in Prometheus text format. Answered to loopback clients (a local Prometheus or node
 * exporter scrape); from elsewhere it needs the API key, as it describes the server's load.
 */
export function createMetricsRoute(opts: { sfu: Sfu; clientIp: ClientIpResolver; apiKeyOk: (authorization: string | undefined) => boolean }): HttpHandler {
  return async (req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return false;
    req.resume();
    if (!LOOPBACK.test(opts.clientIp(req)) && !opts.apiKeyOk(req.headers.authorization)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('metrics are served to localhost, or with the API key\n');
      return true;
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
    ];
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }).end(`${lines.join('\n')}\n`);
    return true;
  };
}
