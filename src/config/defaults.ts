/** The embedded default: what confd runs with when no config file is given. */
export const DEFAULT_CONFIG = {
  server: {
    listen: '127.0.0.1',
    port: 3010,
    publicUrl: null,
    trustProxy: [],
    joinRate: { perSecond: 20, burst: 100 },
    tls: { cert: null, key: null },
  },
  dataDir: './data',
  admin: { socket: null, group: null },
  host: {
    protected: false,
    user_auth: false,
    users: [],
    maxLoginAttempts: 5,
    loginBlockMinutes: 15,
    authTtl: '12h',
    leaveGraceSeconds: 20,
  },
  jwt: { secret: null, expiresIn: '1h', maxTtl: '7d' },
  api: { keySecret: null },
  mediasoup: {
    workers: 'auto',
    listenIp: '127.0.0.1',
    announcedAddress: null,
    // Below Linux's ephemeral ports (32768-60999), which outgoing sockets take, and below the
    // recorder's ffmpeg receive ports (the 6000 just under that range).
    port: 10000,
    portRange: [16000, 25999],
    peersPerRouter: 10,
  },
  // Minutes: a TURN credential cannot be revoked, so it outlives a kick or a leave by at most this.
  turn: { urls: [], secret: null, ttl: '10m' },
  rooms: { maxPeers: 50, dynacast: true, lobby: false },
  cluster: { redis: null, url: null, nodeId: null },
  log: { level: 'info' },
} as const;

/** Keys whose values are secrets: never printed, never logged. */
export const SECRET_PATHS = ['jwt.secret', 'api.keySecret', 'turn.secret', 'host.users[].password'] as const;
