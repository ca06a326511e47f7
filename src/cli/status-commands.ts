/** `confctl status`, `rooms`, `cluster` and `audit`: what the daemon (or the cluster) is doing, and what was done. */
import { Option, type Command } from 'commander';
import { printable, table, tableOr, shortTime } from './format.ts';
import { UsageError } from './usage-error.ts';
import { readCommand, type Call, type Show } from './command-kit.ts';

/** The ports a firewall must let in for media, as the workers report them. */
const mediaPorts = (workers: { port: number | null }[]): string => {
  const ports = workers.map((w) => w.port).filter((p): p is number => p !== null);
  if (ports.length === 0) return 'a UDP+TCP port per transport from mediasoup.portRange';
  return `UDP+TCP port${ports.length === 1 ? '' : 's'} ${ports.sort((a, b) => a - b).join(', ')} (one per worker)`;
};

export function addStatusCommands(program: Command, call: Call, show: Show): void {
  readCommand(program, call, show, {
    name: 'status',
    description: 'version, uptime, workers (pid, media port, CPU), rooms and peers',
    path: '/v1/status',
    human: (r) =>
      [
        `confd ${r.version} (pid ${r.pid}, node ${r.node})`,
        `uptime:          ${r.uptimeSeconds}s (since ${shortTime(r.startedAt)})`,
        `http:            ${r.http}`,
        `admin socket:    ${r.socket}`,
        `data dir:        ${r.dataDir}`,
        `host protection: ${r.hostProtected ? 'on' : 'off'}${r.userAuth ? ', user auth on' : ''}`,
        r.cluster
          ? `cluster:         node ${r.cluster.nodeId} (${r.cluster.url}), ${r.cluster.aliveNodes} of ${r.cluster.nodes} node${r.cluster.nodes === 1 ? '' : 's'} alive; Redis ${r.cluster.redis}${r.cluster.redisConnected ? '' : ' (UNREACHABLE)'}`
          : 'cluster:         no (a single node; state in the data dir)',
        `users: ${r.users}   authorised IPs: ${r.authorisedIps}   active tokens: ${r.activeTokens}`,
        `rooms: ${r.rooms}   peers: ${r.peers}`,
        ...(r.workers.length === 0 ? [] : [`media:           ${mediaPorts(r.workers)}`]),
        r.workers.length === 0
          ? 'workers: none'
          : `workers:\n${table(
              ['  PID', 'PORT', 'CPU USER', 'CPU SYS', 'ROUTERS', 'PEERS', 'CONSUMERS'],
              r.workers.map((w: any) => [`  ${w.pid}`, w.port ?? '-', `${(w.cpu.userMs / 1000).toFixed(1)}s`, `${(w.cpu.systemMs / 1000).toFixed(1)}s`, w.routers, w.peers, w.consumers]),
            )}`,
      ].join('\n'),
  });
  readCommand(program, call, show, {
    name: 'rooms',
    description: 'list rooms with their workers, peers and producers',
    path: '/v1/rooms',
    human: (r) =>
      r.rooms.length === 0
        ? 'no rooms'
        : [...r.rooms
            .map((room: any) =>
              [
                `${room.node ? `[${room.node}] ` : ''}${room.name} (${room.peers.length} peer${room.peers.length === 1 ? '' : 's'}, since ${shortTime(room.createdAt)}; worker${room.routers.length === 1 ? '' : 's'} ${room.routers.map((x: any) => `${x.workerPid} (${x.peers} peer${x.peers === 1 ? '' : 's'})`).join(', ')})`,
                ...room.peers.map((p: any) => `  ${p.id}  ${printable(p.name)}  producers=${p.producers} consumers=${p.consumers}`),
              ].join('\n'),
            ), ...(r.unreachable ? [`(no answer from node${r.unreachable.length === 1 ? '' : 's'} ${r.unreachable.join(', ')}: their rooms are missing)`] : [])]
            .join('\n'),
  });
  readCommand(program, call, show, {
    name: 'cluster',
    description: 'the nodes of the cluster: id, URL, load, rooms and last heartbeat (cluster.redis must be set)',
    path: '/v1/cluster',
    human: (r) =>
      table(
        ['NODE', 'URL', 'STATE', 'PEERS', 'CPU', 'ROOMS', 'HEARTBEAT'],
        r.nodes.map((n: any) => [
          `${n.id}${n.id === r.self ? ' *' : ''}`,
          n.url,
          n.alive ? 'alive' : 'dead',
          n.load.peers,
          `${Math.round(n.load.cpu * 100)}%`,
          n.rooms.length === 0 ? '-' : n.rooms.join(','),
          `${Math.max(0, Math.round((Date.now() - Date.parse(n.heartbeatAt)) / 1000))}s ago`,
        ]),
      ),
  });
}

export function addAuditCommand(program: Command, call: Call, show: Show): void {
  program
    .command('audit')
    .description('show the newest audit events (admin changes, logins, revocations)')
    .addOption(new Option('-n, --limit <n>', 'how many events').default('50'))
    .action(async (o: { limit: string }) => {
      if (!/^[1-9][0-9]{0,4}$/.test(o.limit)) throw new UsageError('--limit must be a whole number from 1 to 99999');
      const r = await call('GET', `/v1/audit?limit=${o.limit}`);
      show(r, () =>
        tableOr('no events', ['TIME', 'EVENT', 'ACTOR', 'DETAILS'], r.events, (e: any) => {
          const { at, type, actor, ...rest } = e;
          return [shortTime(at), type, actor, Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(' ')];
        }),
      );
    });
}
