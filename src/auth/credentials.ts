import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/load.ts';
import type { Store } from '../store/db.ts';
import { findUser } from '../store/users.ts';
import { isPasswordHash, verifyPassword, hashPassword } from './passwords.ts';

/** Verified against when the user does not exist, so both answers cost the same argon2 time. */
let decoyHash: Promise<string> | null = null;
const decoy = () => (decoyHash ??= hashPassword('confd-decoy-password-never-matches'));

function sameText(a: string, b: string): boolean {
  // Digests first: timingSafeEqual needs equal lengths, and lengths must not leak either.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Checks a user name and password against confctl-managed users (argon2id hashes in the store),
 * then host.users from the config (hashes, or plaintext compared in constant time). The work done
 * is the same whether the user exists or not.
 */
export async function checkCredentials(store: Store, config: Config, username: string, password: string): Promise<boolean> {
  const stored = findUser(store.data, username);
  if (stored) return verifyPassword(stored.hash, password);
  const configured = config.host.users.find((u) => u.username === username);
  if (configured) {
    if (isPasswordHash(configured.password)) return verifyPassword(configured.password, password);
    const ok = sameText(configured.password, password);
    await verifyPassword(await decoy(), password); // keep the timing of plaintext users like the rest
    return ok;
  }
  await verifyPassword(await decoy(), password);
  return false;
}
