import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { adminRequest, DaemonUnreachable, type AdminResponse } from '../admin/client.ts';
import { parseDuration, DURATION_HELP } from '../config/duration.ts';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';
import { VERSION } from '../version.ts';
import { normaliseIp } from '../store/ips.ts';
import { table, shortTime } from './format.ts';
import { readNewPassword, PasswordMismatch } from './password-input.ts';
import { UsageError } from './usage-error.ts';
import { addRecordCommands } from './record-commands.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

interface GlobalOpts {
  socket?: string;
  config?: string;
  json?: boolean;
}

/** Refused by the daemon: exit 1 with its message. */
class Refused extends Error {
  readonly body: unknown;
  constructor(message: string, body: unknown) {
    super(message);
    this.body = body;
  }
}

const SYSTEMD_SOCKET = '/run/confd/confd.sock';

/** Same precedence as the daemon: --socket, CONFD_SOCKET, the config's, then the usual places. */
async function socketPath(g: GlobalOpts): Promise<string> {
  if (g.socket) return resolve(g.socket);
  if (process.env.CONFD_SOCKET) return resolve(process.env.CONFD_SOCKET);
  const configFile = g.config ?? process.env.CONFD_CONFIG;
  if (configFile) {
    const { loadConfig } = await import('../config/load.ts');
    try {
      return loadConfig({ config: configFile }).socketPath;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (process.env.CONFD_DATA_DIR) return resolve(process.env.CONFD_DATA_DIR, 'confd.sock');
  const local = resolve('data', 'confd.sock');
  if (!existsSync(local) && existsSync(SYSTEMD_SOCKET)) return SYSTEMD_SOCKET;
  return local;
}

/** Commander's error text without its "error: " prefix; help shown for a missing command says so. */
function commanderMessage(e: CommanderError): string {
  if (e.code === 'commander.help') return 'no command given; run "confctl --help" for the commands';
  return e.message.replace(/^error: /, '');
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('confctl')
    .description(
      'Administer a running confd over its admin socket.\n\nExit codes: 0 ok, 1 refused or failed, 2 usage error, 3 daemon not reachable.',
    )
    .version(VERSION, '-V, --version')
    .option('-s, --socket <path>', `admin socket (env CONFD_SOCKET; default ./data/confd.sock, else ${SYSTEMD_SOCKET})`)
    .option('-c, --config <file>', "take the socket path from confd's config file (env CONFD_CONFIG)")
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError('(run "confctl --help" for usage)')
    .exitOverride();

  const g = () => program.opts<GlobalOpts>();
  const out = (text: string) => process.stdout.write(`${text}\n`);

  async function call(method: string, path: string, body?: unknown): Promise<any> {
    const res: AdminResponse = await adminRequest(await socketPath(g()), method, path, body);
    if (res.status >= 400) {
      const msg = res.body?.error?.message ?? `daemon answered HTTP ${res.status}`;
      throw new Refused(msg, res.body);
    }
    return res.body;
  }

  /** Prints JSON with --json, else the human form. */
  const show = (body: unknown, human: () => string) => out(g().json ? JSON.stringify(body, null, 2) : human());

  // ----- user
  const user = program.command('user').description('manage host users (stored hashed with argon2id)');
  user
    .command('add <name>')
    .description('add a user; asks for the password twice on a terminal')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }) => {
      const password = await readNewPassword(Boolean(o.passwordStdin));
      const r = await call('POST', '/v1/users', { name, password });
      show(r, () => `user ${r.name} added`);
    });
  user
    .command('list')
    .description('list users')
    .action(async () => {
      const r = await call('GET', '/v1/users');
      show(r, () => (r.users.length === 0 ? 'no users' : table(['NAME', 'CREATED', 'UPDATED'], r.users.map((u: any) => [u.name, shortTime(u.createdAt), shortTime(u.updatedAt)]))));
    });
  user
    .command('remove <name>')
    .description('remove a user (and the authorised IPs it holds)')
    .action(async (name: string) => {
      const r = await call('DELETE', `/v1/users/${encodeURIComponent(name)}`);
      show(r, () => `user ${r.name} removed${r.removedIps ? `; ${r.removedIps} authorised IP entr${r.removedIps === 1 ? 'y' : 'ies'} revoked` : ''}${r.revokedTokens?.length ? `; ${r.revokedTokens.length} join token${r.revokedTokens.length === 1 ? '' : 's'} revoked` : ''}`);
    });
  user
    .command('passwd <name>')
    .description("change a user's password; asks twice on a terminal")
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }) => {
      const password = await readNewPassword(Boolean(o.passwordStdin));
      const r = await call('PUT', `/v1/users/${encodeURIComponent(name)}/password`, { password });
      show(r, () => `password of ${r.name} changed`);
    });

  // ----- token
  const token = program.command('token').description('join tokens (JWT) for rooms');
  token
    .command('issue')
    .description('issue a join token; prints the token and the join URL')
    .requiredOption('-r, --room <room>', 'the room the token opens')
    .option('-t, --ttl <duration>', `lifetime, ${DURATION_HELP} (default: jwt.expiresIn, 1h)`)
    .option('-u, --user <name>', 'the user the token is for (default: guest)')
    .option('--presenter', 'the token gives host rights in its room')
    .action(async (o: { room: string; ttl?: string; user?: string; presenter?: boolean }) => {
      if (!isRoomName(o.room)) throw new UsageError(roomNameError(o.room, '--room'));
      if (o.ttl !== undefined && parseDuration(o.ttl) === null) throw new UsageError(`invalid --ttl "${o.ttl}": must be ${DURATION_HELP}`);
      const r = await call('POST', '/v1/tokens', { room: o.room, ttl: o.ttl, user: o.user, presenter: Boolean(o.presenter) });
      show(r, () => [`token:    ${r.token}`, `join url: ${r.joinUrl}`, `id:       ${r.id}`, `room:     ${r.room}`, `user:     ${r.sub}${r.presenter ? ' (presenter)' : ''}`, `expires:  ${shortTime(r.expiresAt)}`].join('\n'));
    });
  token
    .command('list')
    .description('list issued tokens (active, expired within the last day, revoked)')
    .action(async () => {
      const r = await call('GET', '/v1/tokens');
      show(r, () =>
        r.tokens.length === 0
          ? 'no tokens'
          : table(['ID', 'ROOM', 'USER', 'PRESENTER', 'EXPIRES', 'STATE'], r.tokens.map((t: any) => [t.id, t.room, t.sub, t.presenter ? 'yes' : 'no', shortTime(t.expiresAt), t.state])),
      );
    });
  token
    .command('revoke <id>')
    .description('revoke a token by id; it stops working at once')
    .action(async (id: string) => {
      const r = await call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      show(r, () => `token ${r.id} (room ${r.room}) revoked`);
    });

  // ----- ip
  const ip = program.command('ip').description('the authorised host IP table');
  ip
    .command('list')
    .description('list authorised IPs')
    .action(async () => {
      const r = await call('GET', '/v1/ips');
      show(r, () =>
        r.ips.length === 0
          ? 'no authorised IPs'
          : table(['IP', 'USER', 'SINCE', 'LAST SEEN', 'EXPIRES'], r.ips.map((e: any) => [e.ip, e.user, shortTime(e.since), shortTime(e.lastSeen), shortTime(e.expiresAt)])),
      );
    });
  ip
    .command('revoke [ip]')
    .description('revoke an IP (its hosts lose host rights at once), or every IP with --all')
    .option('--all', 'revoke every authorised IP')
    .action(async (addr: string | undefined, o: { all?: boolean }) => {
      if (o.all && addr) throw new UsageError('give an IP or --all, not both');
      if (!o.all && !addr) throw new UsageError('give the IP to revoke, or --all');
      if (addr && !normaliseIp(addr)) throw new UsageError(`"${addr}" is not an IP address; give one like 203.0.113.7 or 2001:db8::1`);
      const r = await call('DELETE', o.all ? '/v1/ips' : `/v1/ips/${encodeURIComponent(addr!)}`);
      // Presenter tokens used from a revoked IP are revoked with it (they would authorise it again).
      const tokens = r.revokedTokens?.length ? `; presenter token${r.revokedTokens.length === 1 ? '' : 's'} revoked with it: ${r.revokedTokens.join(', ')}` : '';
      show(r, () => `${o.all ? `revoked ${r.revoked.length} authorised IP entr${r.revoked.length === 1 ? 'y' : 'ies'}` : `revoked ${addr}`}${tokens}`);
    });

  /** The ports a firewall must let in for media, as the workers report them. */
  const mediaPorts = (workers: { port: number | null }[]): string => {
    const ports = workers.map((w) => w.port).filter((p): p is number => p !== null);
    if (ports.length === 0) return 'a UDP+TCP port per transport from mediasoup.portRange';
    return `UDP+TCP port${ports.length === 1 ? '' : 's'} ${ports.sort((a, b) => a - b).join(', ')} (one per worker)`;
  };

  // ----- status, rooms, kick, audit
  program
    .command('status')
    .description('version, uptime, workers (pid, media port, CPU), rooms and peers')
    .action(async () => {
      const r = await call('GET', '/v1/status');
      show(r, () =>
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
      );
    });
  program
    .command('rooms')
    .description('list rooms with their workers, peers and producers')
    .action(async () => {
      const r = await call('GET', '/v1/rooms');
      show(r, () =>
        r.rooms.length === 0
          ? 'no rooms'
          : [...r.rooms
              .map((room: any) =>
                [
                  `${room.node ? `[${room.node}] ` : ''}${room.name} (${room.peers.length} peer${room.peers.length === 1 ? '' : 's'}, since ${shortTime(room.createdAt)}; worker${room.routers.length === 1 ? '' : 's'} ${room.routers.map((x: any) => `${x.workerPid} (${x.peers} peer${x.peers === 1 ? '' : 's'})`).join(', ')})`,
                  ...room.peers.map((p: any) => `  ${p.id}  ${p.name}  producers=${p.producers} consumers=${p.consumers}`),
                ].join('\n'),
              ), ...(r.unreachable ? [`(no answer from node${r.unreachable.length === 1 ? '' : 's'} ${r.unreachable.join(', ')}: their rooms are missing)`] : [])]
              .join('\n'),
      );
    });
  program
    .command('cluster')
    .description('the nodes of the cluster: id, URL, load, rooms and last heartbeat (cluster.redis must be set)')
    .action(async () => {
      const r = await call('GET', '/v1/cluster');
      show(r, () =>
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
      );
    });
  program
    .command('end')
    .description('end a meeting: everyone in the room is disconnected (in a cluster, on whichever node holds it)')
    .requiredOption('-r, --room <room>', 'room name')
    .action(async (o: { room: string }) => {
      if (!isRoomName(o.room)) throw new UsageError(roomNameError(o.room, '--room'));
      const r = await call('DELETE', `/v1/rooms/${encodeURIComponent(o.room)}`);
      show(r, () => `ended ${r.room}: ${r.peers} peer${r.peers === 1 ? '' : 's'} disconnected`);
    });
  program
    .command('kick')
    .description('disconnect a peer from a room')
    .requiredOption('-r, --room <room>', 'room name')
    .requiredOption('-p, --peer <peer>', 'peer id (see "confctl rooms")')
    .action(async (o: { room: string; peer: string }) => {
      if (!isRoomName(o.room)) throw new UsageError(roomNameError(o.room, '--room'));
      const r = await call('POST', `/v1/rooms/${encodeURIComponent(o.room)}/kick`, { peer: o.peer });
      show(r, () => `kicked ${r.peer} from ${r.room}`);
    });
  // ----- lobby
  const lobby = program.command('lobby').description("a room's lobby: guests wait there until a host or the admin lets them in");
  const roomOpt = (o: { room: string }) => {
    if (!isRoomName(o.room)) throw new UsageError(roomNameError(o.room, '--room'));
    return encodeURIComponent(o.room);
  };
  const waitingTable = (r: any) =>
    r.waiting.length === 0 ? 'nobody is waiting' : table(['PEER', 'NAME', 'SINCE'], r.waiting.map((w: any) => [w.peerId, w.displayName, shortTime(new Date(w.since).toISOString())]));
  for (const state of ['on', 'off'] as const) {
    lobby
      .command(state)
      .description(state === 'on' ? 'turn the lobby on: new guests wait until let in (hosts and presenter tokens skip it)' : 'turn the lobby off: everyone waiting in it is let in')
      .requiredOption('-r, --room <room>', 'room name')
      .action(async (o: { room: string }) => {
        const r = await call('PUT', `/v1/rooms/${roomOpt(o)}/lobby`, { enabled: state === 'on' });
        show(r, () => (state === 'on' ? `lobby of ${r.room} is on` : `lobby of ${r.room} is off${r.letIn.length ? `; let in: ${r.letIn.join(', ')}` : ''}`));
      });
  }
  lobby
    .command('list')
    .description('show whether the lobby is on, and who is waiting in it')
    .requiredOption('-r, --room <room>', 'room name')
    .action(async (o: { room: string }) => {
      const r = await call('GET', `/v1/rooms/${roomOpt(o)}/lobby`);
      show(r, () => `lobby of ${r.room} is ${r.enabled ? 'on' : 'off'}\n${waitingTable(r)}`);
    });
  for (const action of ['admit', 'deny'] as const) {
    lobby
      .command(action)
      .description(action === 'admit' ? 'let a waiting guest in (--peer), or everyone waiting (--all)' : 'refuse a waiting guest (--peer), or everyone waiting (--all); they are told and disconnected')
      .requiredOption('-r, --room <room>', 'room name')
      .option('-p, --peer <peer>', 'peer id (see "confctl lobby list")')
      .option('--all', 'everyone waiting in the lobby')
      .action(async (o: { room: string; peer?: string; all?: boolean }) => {
        const room = roomOpt(o);
        if (Boolean(o.peer) === Boolean(o.all)) throw new UsageError('give --peer ID or --all (one of them)');
        const r = await call('POST', `/v1/rooms/${room}/lobby/${action}`, o.all ? { all: true } : { peer: o.peer });
        const ids: string[] = action === 'admit' ? r.admitted : r.denied;
        show(r, () => (ids.length === 0 ? 'nobody was waiting' : `${action === 'admit' ? 'let in' : 'denied'}: ${ids.join(', ')}`));
      });
  }

  program
    .command('audit')
    .description('show the newest audit events (admin changes, logins, revocations)')
    .addOption(new Option('-n, --limit <n>', 'how many events').default('50'))
    .action(async (o: { limit: string }) => {
      if (!/^[1-9][0-9]{0,4}$/.test(o.limit)) throw new UsageError('--limit must be a whole number from 1 to 99999');
      const r = await call('GET', `/v1/audit?limit=${o.limit}`);
      show(r, () =>
        r.events.length === 0
          ? 'no events'
          : table(
              ['TIME', 'EVENT', 'ACTOR', 'DETAILS'],
              r.events.map((e: any) => {
                const { at, type, actor, ...rest } = e;
                return [shortTime(at), type, actor, Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(' ')];
              }),
            ),
      );
    });

  // ----- record
  addRecordCommands(program, call, show);

  try {
    await program.parseAsync(argv);
  } catch (e) {
    const json = argv.includes('--json');
    const emit = (code: string, message: string, exit: number): never => {
      if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
      else process.stderr.write(`confctl: ${message}\n`);
      process.exit(exit);
    };
    if (e instanceof CommanderError) {
      // Commander has already printed its message (or the help) on stderr.
      if (e.exitCode === 0) process.exit(EXIT.ok);
      if (json) emit('usage', commanderMessage(e), EXIT.usage);
      process.exit(EXIT.usage);
    }
    if (e instanceof UsageError) emit('usage', e.message, EXIT.usage);
    if (e instanceof DaemonUnreachable) emit('unreachable', e.message, EXIT.unreachable);
    if (e instanceof Refused) {
      if (json) {
        process.stdout.write(`${JSON.stringify(e.body)}\n`);
        process.exit(EXIT.failed);
      }
      emit('refused', e.message, EXIT.failed);
    }
    if (e instanceof PasswordMismatch) emit('refused', e.message, EXIT.failed);
    throw e;
  }
}

