import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration, DURATION_HELP } from '../validation/duration.ts';

const duration = z.string().refine((s) => parseDuration(s) !== null, { error: `must be ${DURATION_HELP}` });
/**
 * The file keeps durations as people write them ("12h"); the loaded config carries each one parsed
 * beside it (host.authTtlSeconds, jwt.expiresInSeconds, jwt.maxTtlSeconds, turn.ttlSeconds), so no
 * caller parses one again. Only run on a value the `duration` check has passed.
 */
const seconds = (text: string): number => parseDuration(text) ?? Number.NaN;

const ipOrCidr = z.string().refine(
  (s) => {
    const [addr, bits, extra] = s.split('/');
    if (extra !== undefined || !addr) return false;
    const family = isIP(addr);
    if (family === 0) return false;
    if (bits === undefined) return true;
    if (!/^[0-9]{1,3}$/.test(bits)) return false;
    return Number(bits) <= (family === 4 ? 32 : 128);
  },
  { error: 'must be an IP address or CIDR range, e.g. 10.0.0.1 or 10.0.0.0/8' },
);

const listenAddress = z
  .string()
  .refine((s) => isIP(s) !== 0 || s === 'localhost', { error: 'must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) or "localhost"' });

const secret = (what: string) =>
  z
    .string()
    .refine((s) => Buffer.byteLength(s, 'utf8') >= 32, {
      error: `${what} must be at least 32 bytes long; generate one with: openssl rand -hex 32 (or set it to null)`,
    })
    .nullable();

const hostUser = z.strictObject({
  username: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, {
    error: 'must be 1-64 characters: letters, digits, _ . @ - (not starting with a symbol)',
  }),
  password: z.string().min(1, { error: 'must not be empty; use a hash from `confd hash-password`' }),
});

export const fileConfigSchema = z.strictObject({
  server: z.strictObject({
    listen: listenAddress,
    port: z.int({ error: 'must be a whole number' }).min(0).max(65535),
    publicUrl: z
      .string()
      .refine((s) => {
        try {
          const u = new URL(s);
          return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
        } catch {
          return false;
        }
      }, { error: 'must be an http(s) URL without query or fragment, e.g. https://meet.example.org' })
      .nullable(),
    trustProxy: z.array(ipOrCidr).max(64),
    /** Hellos (join attempts) per client address (IPv6: per /64): a token bucket. */
    joinRate: z.strictObject({
      perSecond: z.number({ error: 'must be a number' }).positive({ error: 'must be above 0' }),
      burst: z.int({ error: 'must be a whole number' }).min(1),
    }),
    tls: z
      .strictObject({ cert: z.string().min(1).nullable(), key: z.string().min(1).nullable() })
      .refine((t) => (t.cert === null) === (t.key === null), {
        error: 'set both cert and key (paths to PEM files), or neither',
      }),
  }),
  dataDir: z.string().min(1),
  admin: z.strictObject({
    socket: z.string().min(1).nullable(),
    group: z
      .union([z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/), z.int().min(0)], {
        error: 'must be a group name or numeric gid (or null)',
      })
      .nullable(),
  }),
  host: z.strictObject({
    protected: z.boolean(),
    user_auth: z.boolean(),
    users: z.array(hostUser).max(1000),
    maxLoginAttempts: z.int().min(1).max(1000),
    loginBlockMinutes: z.int().min(1).max(10080),
    authTtl: duration,
    leaveGraceSeconds: z.int().min(0).max(3600),
  }).transform((h) => ({ ...h, authTtlSeconds: seconds(h.authTtl) })),
  jwt: z.strictObject({
    secret: secret('jwt.secret'),
    expiresIn: duration,
    maxTtl: duration,
  }).refine((j) => (parseDuration(j.expiresIn) ?? 0) <= (parseDuration(j.maxTtl) ?? 0), {
    error: 'jwt.expiresIn must not be longer than jwt.maxTtl',
    path: ['expiresIn'],
  }).transform((j) => ({ ...j, expiresInSeconds: seconds(j.expiresIn), maxTtlSeconds: seconds(j.maxTtl) })),
  api: z.strictObject({ keySecret: secret('api.keySecret') }),
  mediasoup: z.strictObject({
    workers: z.union([z.literal('auto'), z.int().min(1).max(64)], { error: 'must be "auto" or a whole number from 1 to 64' }),
    listenIp: z.string().refine((s) => isIP(s) !== 0, { error: 'must be an IP address' }),
    /** Where guests reach the media: an IP address or DNS name, for a server behind NAT or listening on 0.0.0.0. */
    announcedAddress: z
      .string()
      .refine((s) => isIP(s) !== 0 || /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(s), {
        error: 'must be a public IP address or DNS name, e.g. 203.0.113.10 or media.example.org',
      })
      .nullable(),
    /** Single-port media: worker i listens on UDP and TCP port + i (a mediasoup WebRtcServer). null: one port per transport from portRange. */
    port: z.int({ error: 'must be a whole number from 1024 to 65535, or null for a port per transport from portRange' }).min(1024).max(65535).nullable(),
    portRange: z
      .tuple([z.int().min(1024).max(65535), z.int().min(1024).max(65535)])
      .refine(([lo, hi]) => lo <= hi, { error: 'must be [low, high] with low <= high' }),
    /** Peers on one router before a room spreads onto another worker (docs/rooms-and-media.md). */
    peersPerRouter: z.int({ error: 'must be a whole number' }).min(1).max(1000),
  }),
  turn: z
    .strictObject({
      /** turn:/turns: URLs of a TURN server (coturn) that shares `secret` (use-auth-secret). */
      urls: z
        .array(
          z.string().regex(/^turns?:[^\s?#]+(\?transport=(udp|tcp))?$/, {
            error: 'must be a turn: or turns: URL, e.g. turn:turn.example.org:3478?transport=udp or turns:turn.example.org:443?transport=tcp',
          }),
        )
        .max(16),
      secret: secret('turn.secret'),
      /**
       * How long the TURN credential of an admitted connection stays valid for new relays. It cannot be
       * revoked, so it is kept short: a relay already allocated outlives it (coturn checks the expiry
       * when an allocation is made), a kicked guest's does not get new ones for long.
       */
      ttl: duration.refine((s) => {
        const t = parseDuration(s) ?? 0;
        // Up to 7d, as before, so that an older config still loads; check-config warns above 1h.
        return t >= 300 && t <= 7 * 86400;
      }, { error: 'must be from 5m to 7d (the default 10m is enough: a relay already allocated outlives it)' }),
    })
    .refine((t) => (t.urls.length === 0) === (t.secret === null), {
      error: 'set both turn.urls and turn.secret (the static-auth-secret of coturn), or neither',
    })
    .transform((t) => ({ ...t, ttlSeconds: seconds(t.ttl) })),
  rooms: z.strictObject({
    maxPeers: z.int().min(1).max(1000),
    /** Tell simulcast senders to stop encoding layers nobody receives (docs/rooms-and-media.md). */
    dynacast: z.boolean({ error: 'must be true or false' }),
    /** Whether a room's lobby is on when the room is made (docs/rooms-and-media.md, "Lobby"); hosts and confctl turn it on or off per room. */
    lobby: z.boolean({ error: 'must be true or false' }),
  }),
  cluster: z.strictObject({
    /** redis:// or rediss:// URL of the Redis that nodes share (docs/cluster.md); null: a single node on lowdb. */
    redis: z
      .string()
      .refine((s) => {
        try {
          const u = new URL(s);
          return (u.protocol === 'redis:' || u.protocol === 'rediss:') && !!u.hostname && !u.hash;
        } catch {
          return false;
        }
      }, { error: 'must be a redis:// or rediss:// URL, e.g. redis://10.0.0.5:6379 or rediss://:password@redis.example.org:6380' })
      .nullable(),
    /**
     * Where browsers reach this node itself (a join for a room held here is sent here); null:
     * server.publicUrl, else the listening address. Behind a load balancer, each node's own name.
     */
    url: z
      .string()
      .refine((s) => {
        try {
          const u = new URL(s);
          return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && (u.pathname === '/' || u.pathname === '');
        } catch {
          return false;
        }
      }, { error: 'must be an http(s) URL with no path, e.g. https://node1.meet.example.org' })
      .nullable(),
    /** This node's name in the cluster (confctl cluster); null: <hostname>-<HTTP port>. */
    nodeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: 'must be 1-63 characters: letters, digits, _ . - (starting with a letter or digit)' }).nullable(),
  }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }),
});

export type FileConfig = z.infer<typeof fileConfigSchema>;
