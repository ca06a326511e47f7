import { accessSync, chmodSync, constants, mkdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Config } from './config/load.ts';
import { ConfdError } from './errors.ts';
import type { Logger } from './log.ts';
import { lockDataDir } from './store/lock.ts';
import { openStore, type Store } from './store/db.ts';
import { appendAudit } from './store/audit.ts';
import { loadJwtKey } from './auth/secret.ts';
import { isPasswordHash } from './auth/passwords.ts';
import { createJoinTokens, type JoinTokens } from './auth/tokens.ts';
import { startHttpServer, type HttpServer } from './http/server.ts';
import { createWebRoutes } from './http/web-routes.ts';
import { createAdminCall, startAdminServer } from './admin/server.ts';
import type { AdminContext } from './admin/routes.ts';
import { startRooms, type Rooms } from './rooms/registry.ts';
import { createRecorder } from './recording/recorder.ts';
import { startSignalling } from './signalling/server.ts';
import { createJoinPolicy } from './auth/join-policy.ts';
import { createHostProtection } from './auth/host-protection.ts';
import { API_KEY_BLOCK_MS, API_KEY_MAX_FAILURES, createApiKeyCheck } from './auth/api-key.ts';
import { turnIssuer } from './auth/turn-credentials.ts';
import { createClientIpResolver } from './edge/client-ip.ts';
import { createLoginRoutes } from './http/login-routes.ts';
import { createApiRoutes } from './http/api-routes.ts';
import { createMetricsRoute } from './http/metrics-route.ts';
import { addEntries } from './rooms/view.ts';
import { connectRedis } from './redis/connection.ts';
import { joinCluster, type Cluster } from './cluster/cluster.ts';
import { nodeLoadMeter } from './cluster/node-load.ts';
import { sharedJwtKey } from './cluster/shared-jwt-key.ts';
import { openRedisStore } from './store/redis-backend.ts';
import { createRedisLoginLimiter } from './auth/login-limiter-redis.ts';
import { followEndedCredentials } from './auth/ended-credentials.ts';
import { anythingExpired, expireCredentials } from './auth/revocations.ts';
import { loginInFlightLimit } from './auth/login-gate.ts';
import { createShutdown } from './shutdown.ts';

export interface Daemon {
  readonly store: Store;
  readonly rooms: Rooms;
  readonly tokens: JoinTokens;
  readonly http: HttpServer;
  publicBase(): string;
  stop(): Promise<void>;
}

/** How often expired authorised IPs are swept from the table (and their hosts demoted). */
const IP_SWEEP_MS = 5_000;
/** Expired sessions are left this long for their own timers (which audit them) before the sweep drops them. */
const SESSION_SWEEP_SLACK_MS = 60_000;

/** A cluster node also answers to the name in its own cluster.url (joins are sent there). */
function clusterUrlHost(config: Config): string[] {
  return config.cluster.url ? [new URL(config.cluster.url).hostname.replace(/^\[|\]$/g, '')] : [];
}

function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    // The data dir holds password hashes and the signing secret: nobody else may read it.
    if (st.uid === process.getuid?.() && (st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    // A read-only mount or an immutable dir would otherwise fail later, at the lock file or first write.
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new ConfdError('data_dir_unusable', `cannot use data dir ${dir}: ${(e as Error).message}; create it writable by this user or pass --data-dir`);
  }
}

function baseUrl(config: Config, http: HttpServer): string {
  if (config.server.publicUrl) return config.server.publicUrl.replace(/\/+$/, '');
  const scheme = config.server.tls.cert ? 'https' : 'http';
  const { host, port } = http.address();
  const shown = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${shown}:${port}`;
}

/** Builds the parts from Config and starts them in order; stop() undoes them in reverse. */
export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const shutdown = createShutdown(log);
  const stop = async () => {
    const overran = await shutdown.run();
    if (overran.length > 0) throw new Error(`shutdown left ${overran.join(', ')} unfinished (see the log above)`);
  };

  try {
    prepareDataDir(config.dataDir);
    shutdown.add('data dir lock', lockDataDir(config.dataDir));

    // Cluster mode: the state, the signing key and the login counters are shared through Redis.
    const redis = config.cluster.redis ? await connectRedis(config.cluster.redis, log) : null;
    if (redis) shutdown.add('redis', () => redis.close());
    const shared = redis ? await openRedisStore(redis, log) : null;
    const store = shared ?? (await openStore(config.dataDir, log));
    shutdown.add('store', () => store.close());

    const { key, source } = redis ? await sharedJwtKey(redis, config.jwt.secret) : loadJwtKey(config.jwt.secret, config.dataDir);
    if (source === 'generated') log.info(redis ? { redis: redis.where } : { dataDir: config.dataDir }, 'generated a new JWT signing secret');
    const tokens = createJoinTokens({
      key,
      store,
      defaultTtlSeconds: config.jwt.expiresInSeconds,
      maxTtlSeconds: config.jwt.maxTtlSeconds,
    });

    const plaintext = config.host.users.filter((u) => !isPasswordHash(u.password)).map((u) => u.username);
    if (plaintext.length > 0) {
      log.warn({ users: plaintext }, 'host.users has plaintext passwords; replace them with hashes from "confd hash-password"');
    }

    const limiter = redis ? createRedisLoginLimiter(redis, config.host.maxLoginAttempts, config.host.loginBlockMinutes * 60_000, { inFlightLimit: loginInFlightLimit }) : undefined;
    // Set once the node has joined its cluster (below); until then no host can have left a room.
    let cluster: Cluster | null = null;
    const hosts = createHostProtection({
      config,
      store,
      log,
      ...(limiter ? { limiter } : {}),
      ...(redis ? { presentElsewhere: (id: string) => cluster?.hostElsewhere(id) ?? false } : {}),
    });
    shutdown.add('host protection', () => hosts.close());

    const rooms = await startRooms({
      workers: config.mediasoup.workers,
      media: {
        ip: config.mediasoup.listenIp,
        announcedAddress: config.mediasoup.announcedAddress,
        port: config.mediasoup.port,
        portRange: config.mediasoup.portRange,
      },
      settings: {
        hostProtected: config.host.protected,
        maxPeers: config.rooms.maxPeers,
        dynacast: config.rooms.dynacast,
        lobby: config.rooms.lobby,
        peersPerRouter: config.mediasoup.peersPerRouter,
        reserveIdMs: Math.max(10, config.host.leaveGraceSeconds) * 1000,
        iceServers: turnIssuer(config.turn, {
          onRefused: (ipKey) => log.warn({ ipKey }, 'TURN credentials: this address holds the most allowed at once; this connection gets none'),
        }),
      },
      presence: hosts,
      audit: (type, actor, details) => store.mutate((d) => void appendAudit(d, new Date(), type, actor, details)),
      log,
    });
    shutdown.add('rooms and media workers', () => rooms.close());
    // `confctl record`: ffmpeg is looked for when a recording starts, not here (it is optional).
    const recorder = createRecorder({
      dataDir: config.dataDir,
      log,
      room: (n) => {
        const r = rooms.existing(n);
        return r && { tap: r.recording };
      },
      audit: (type, actor, details) => store.mutate((d) => void appendAudit(d, new Date(), type, actor, details)),
    });
    // The rooms, and only them, are told when a credential ends: derived from each change of the
    // state, this node's or (in a cluster) another's, and from presenter tokens running out.
    followEndedCredentials(store, hosts, (ended) => rooms.credentialEnded(ended));

    const http = await startHttpServer(config, log, clusterUrlHost(config));
    shutdown.add('http server', () => http.close());

    if (redis) {
      const bound = http.address();
      cluster = await joinCluster({
        redis,
        nodeId: config.cluster.nodeId ?? `${hostname()}-${bound.port}`,
        url: config.cluster.url ?? baseUrl(config, http),
        load: nodeLoadMeter(rooms, () => rooms.held(), () => rooms.hostsPresent()),
        held: () => rooms.held(),
        placementRate: config.server.joinRate,
        log,
      });
      shutdown.add('cluster', () => cluster?.close());
    }
    http.use(
      await createWebRoutes({
        hostProtected: config.host.protected,
        userAuth: config.host.user_auth,
        ...(cluster ? { nodeUrls: () => cluster!.nodes.list().map((n) => n.url) } : {}),
      }),
    );
    const publicBase = () => baseUrl(config, http);

    const clientIp = createClientIpResolver(config.server.trustProxy);
    http.use(createLoginRoutes(hosts, clientIp));
    const adminContext: AdminContext = {
      recorder,
      config,
      store,
      tokens,
      media: rooms,
      log,
      startedAt: new Date(),
      publicBase,
      ...(cluster ? { cluster } : {}),
    };
    // A cluster counts API-key failures on every node together (each route its own count, as on one node).
    const keyLimiter = (prefix: string) => (redis ? { keyLimiter: createRedisLoginLimiter(redis, API_KEY_MAX_FAILURES, API_KEY_BLOCK_MS, { prefix }) } : {});
    http.use(createApiRoutes({ keySecret: config.api.keySecret, tokens, sfu: rooms, publicBase, clientIp, ...keyLimiter('confd:login:api:'), admin: createAdminCall(adminContext) }));

    const signalling = startSignalling({
      server: http.server,
      rooms,
      policy: createJoinPolicy({ config, tokens, hosts, store, log }),
      log,
      clientIp,
      hostOk: http.hostOk,
      publicOrigin: config.server.publicUrl ? new URL(config.server.publicUrl).origin : null,
      joinRate: config.server.joinRate,
      ...(cluster ? { cluster: { route: cluster.placement.route, originOk: cluster.originOk, selfUrl: cluster.url } } : {}),
    });
    shutdown.add('signalling', () => signalling.close());
    http.use(
      createMetricsRoute({
        sfu: rooms,
        clientIp,
        apiKeyOk: createApiKeyCheck(config.api.keySecret),
        ...keyLimiter('confd:login:metrics:'),
        entries: () => addEntries(rooms.entries(), signalling.entries()),
      }),
    );

    // Before the connections close: recordings end as 'shutdown', each WebM finalised.
    shutdown.add('recordings', () => recorder.close());
    const admin = await startAdminServer(adminContext);
    shutdown.add('admin socket', () => admin.close());

    const sweep = setInterval(() => {
      const now = new Date();
      if (!anythingExpired(store.data, now, SESSION_SWEEP_SLACK_MS)) return;
      expireCredentials(store, now, SESSION_SWEEP_SLACK_MS)
        .then(({ ips }) => {
          if (ips.length > 0) log.info({ entries: ips.length }, 'expired authorised ips removed');
        })
        .catch((e: unknown) => log.error({ err: e }, 'could not sweep expired ips'));
    }, IP_SWEEP_MS);
    sweep.unref();
    shutdown.add('expiry sweep', () => clearInterval(sweep));

    http.setReady(true);
    shutdown.add('readiness', () => http.setReady(false));
    const bound = http.address();
    log.info({ http: publicBase(), listening: `${config.server.tls.cert ? 'https' : 'http'}://${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}`, socket: admin.path, dataDir: config.dataDir, hostProtected: config.host.protected }, 'confd ready');
    return { store, rooms, tokens, http, publicBase, stop };
  } catch (e) {
    await shutdown.run();
    throw e;
  }
}
