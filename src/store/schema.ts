import { z } from 'zod';

/** On-disk shape of the database. Times are ISO-8601 strings in UTC so the file reads well. */
export const storedUserSchema = z.object({
  name: z.string(),
  hash: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const authorisedIpSchema = z.object({
  ip: z.string(),
  user: z.string(),
  since: z.string(),
  lastSeen: z.string(),
  expiresAt: z.string(),
  /** Presenter tokens that authorised this entry: `ip revoke` revokes them too, so they cannot re-add it. */
  tokens: z.array(z.string()).optional(),
});

export const tokenRecordSchema = z.object({
  id: z.string(),
  room: z.string(),
  sub: z.string(),
  presenter: z.boolean(),
  issuedAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
});

/**
 * A host session made by a login. The token went to the browser; only its SHA-256 is kept. A single
 * node drops them when it starts (a restart ends every session); a cluster keeps them in Redis, so a
 * host logged in through one node is a host on every node.
 */
export const hostSessionSchema = z.object({
  id: z.string(),
  hash: z.string(),
  user: z.string(),
  ip: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
});

export const auditEventSchema = z.looseObject({
  at: z.string(),
  type: z.string(),
  actor: z.string(),
});

export const storeDataSchema = z.object({
  version: z.literal(1),
  users: z.array(storedUserSchema),
  ips: z.array(authorisedIpSchema),
  tokens: z.array(tokenRecordSchema),
  /** Admin and security events (user.*, token.*, ip.*, login.ok, logout, host.left, ...). */
  audit: z.array(auditEventSchema),
  /**
   * Login noise (login.failed, login.blocked), kept apart so that no amount of it can evict the
   * events above. Absent in databases written before it existed: read as empty.
   */
  auditNoise: z.array(auditEventSchema).default([]),
  sessions: z.array(hostSessionSchema).default([]),
});

export type StoredUser = z.infer<typeof storedUserSchema>;
export type AuthorisedIp = z.infer<typeof authorisedIpSchema>;
export type TokenRecord = z.infer<typeof tokenRecordSchema>;
export type StoredSession = z.infer<typeof hostSessionSchema>;
export type AuditEvent = z.infer<typeof auditEventSchema>;
export type StoreData = z.infer<typeof storeDataSchema>;

export const emptyStore = (): StoreData => ({ version: 1, users: [], ips: [], tokens: [], audit: [], auditNoise: [], sessions: [] });
