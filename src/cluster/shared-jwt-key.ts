import { createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ConfdError } from '../errors.ts';
import type { RedisConnection } from '../redis/connection.ts';

const KEY_KEY = 'confd:jwt:key';
const FINGERPRINT_KEY = 'confd:jwt:fingerprint';

const fingerprint = (secret: Buffer) => createHash('sha256').update('confd jwt key fingerprint\0').update(secret).digest('hex');

/**
 * The two values as nodes write them: the key as 32 random bytes in hex (up to 512 bytes taken), the
 * fingerprint as a SHA-256 in hex. Anything else in Redis was not written by a node: a node refuses
 * to start, saying which key to delete, rather than sign with a key it cannot trust the shape of.
 */
const sharedKeySchema = z.string().regex(/^(?:[0-9a-f]{2}){32,512}$/);
const fingerprintSchema = z.string().regex(/^[0-9a-f]{64}$/);

/** The shared key read from Redis, or null when it is not one a node wrote. */
export const readSharedKey = (v: unknown): Buffer | null => {
  const p = sharedKeySchema.safeParse(v);
  return p.success ? Buffer.from(p.data, 'hex') : null;
};

/** The fingerprint read from Redis, or null when it is not one a node wrote. */
export const readFingerprint = (v: unknown): string | null => {
  const p = fingerprintSchema.safeParse(v);
  return p.success ? p.data : null;
};

const notWrittenByANode = (key: string, what: string, then: string) =>
  new ConfdError('config_invalid', `${key} in Redis is not ${what} that a node wrote; delete it (redis-cli DEL ${key}) to ${then}`);

/** Leaves this secret's fingerprint in Redis unless one is there; throws unless the one there is this secret's. */
async function checkFingerprint(redis: RedisConnection, secret: Buffer, differs: string): Promise<void> {
  const mine = fingerprint(secret);
  const [, stored] = (await redis.run('check the shared JWT secret', (c) => c.multi().set(FINGERPRINT_KEY, mine, { condition: 'NX' }).get(FINGERPRINT_KEY).exec())) as unknown as [unknown, unknown];
  const theirs = readFingerprint(stored);
  if (theirs === null) throw notWrittenByANode(FINGERPRINT_KEY, 'a key fingerprint', 'let the next node that starts write it again');
  if (theirs !== mine) throw new ConfdError('config_invalid', differs);
}

/**
 * Every node must sign and verify join tokens with one key. A configured jwt.secret wins, and every
 * node must be configured with the same one (checked against a fingerprint the first node left in
 * Redis: a node with another secret refuses to start, instead of refusing every token the others
 * made). Without one, the first node makes a random key and keeps it in Redis for the others.
 */
export async function sharedJwtKey(redis: RedisConnection, configured: string | null): Promise<{ key: KeyObject; source: 'config' | 'cluster' | 'generated' }> {
  if (configured !== null) {
    const secret = Buffer.from(configured, 'utf8');
    await checkFingerprint(redis, secret, 'jwt.secret differs from the one the other nodes of this cluster use; give every node the same jwt.secret (or none: then the cluster keeps its own key in Redis)');
    return { key: createSecretKey(secret), source: 'config' };
  }
  const fresh = randomBytes(32).toString('hex');
  const [made, stored] = (await redis.run('read the shared JWT key', (c) => c.multi().set(KEY_KEY, fresh, { condition: 'NX' }).get(KEY_KEY).exec())) as unknown as [string | null, unknown];
  const secret = readSharedKey(stored);
  if (secret === null) throw notWrittenByANode(KEY_KEY, 'a hex key', 'make a new one (issued tokens stop working)');
  await checkFingerprint(redis, secret, 'the other nodes of this cluster sign tokens with a configured jwt.secret; give this node the same one');
  return { key: createSecretKey(secret), source: made === 'OK' ? 'generated' : 'cluster' };
}
