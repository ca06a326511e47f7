import { createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { ConfdError } from '../errors.ts';
import type { RedisConnection } from '../redis/connection.ts';

const KEY_KEY = 'confd:jwt:key';
const FINGERPRINT_KEY = 'confd:jwt:fingerprint';

const fingerprint = (secret: Buffer) => createHash('sha256').update('confd jwt key fingerprint\0').update(secret).digest('hex');

/**
 * Every node must sign and verify join tokens with one key. A configured jwt.secret wins, and every
 * node must be configured with the same one (checked against a fingerprint the first node left in
 * Redis: a node with another secret refuses to start, instead of refusing every token the others
 * made). Without one, the first node makes a random key and keeps it in Redis for the others.
 */
export async function sharedJwtKey(redis: RedisConnection, configured: string | null): Promise<{ key: KeyObject; source: 'config' | 'cluster' | 'generated' }> {
  if (configured !== null) {
    const secret = Buffer.from(configured, 'utf8');
    const mine = fingerprint(secret);
    const [, theirs] = (await redis.run('check the shared JWT secret', (c) => c.multi().set(FINGERPRINT_KEY, mine, { condition: 'NX' }).get(FINGERPRINT_KEY).exec())) as unknown as [unknown, string];
    if (theirs !== mine) {
      throw new ConfdError('config_invalid', 'jwt.secret differs from the one the other nodes of this cluster use; give every node the same jwt.secret (or none: then the cluster keeps its own key in Redis)');
    }
    return { key: createSecretKey(secret), source: 'config' };
  }
  const fresh = randomBytes(32).toString('hex');
  const [made, hex] = (await redis.run('read the shared JWT key', (c) => c.multi().set(KEY_KEY, fresh, { condition: 'NX' }).get(KEY_KEY).exec())) as unknown as [string | null, string];
  if (!/^[0-9a-f]{64,}$/.test(hex ?? '')) throw new ConfdError('config_invalid', `${KEY_KEY} in Redis is not a hex key; delete it to make a new one (issued tokens stop working)`);
  const secret = Buffer.from(hex, 'hex');
  const [, theirs] = (await redis.run('check the shared JWT secret', (c) => c.multi().set(FINGERPRINT_KEY, fingerprint(secret), { condition: 'NX' }).get(FINGERPRINT_KEY).exec())) as unknown as [unknown, string];
  if (theirs !== fingerprint(secret)) {
    throw new ConfdError('config_invalid', 'the other nodes of this cluster sign tokens with a configured jwt.secret; give this node the same one');
  }
  return { key: createSecretKey(secret), source: made === 'OK' ? 'generated' : 'cluster' };
}
