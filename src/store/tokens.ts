import { ConfdError } from '../errors.ts';
import type { StoreData, TokenRecord } from './schema.ts';

export function recordToken(data: StoreData, rec: TokenRecord): void {
  data.tokens.push(rec);
}

/**
 * Index by id, built once per committed state: every write replaces the data object, so the index
 * of an older state is simply never looked up again (and is collected with it).
 */
const indexes = new WeakMap<readonly TokenRecord[], Map<string, TokenRecord>>();

/** O(1): join-token verification looks the jti up on every join. */
export function findToken(data: Readonly<StoreData>, id: string): TokenRecord | undefined {
  let index = indexes.get(data.tokens);
  if (!index) {
    index = new Map(data.tokens.map((t) => [t.id, t]));
    indexes.set(data.tokens, index);
  }
  return index.get(id);
}

export function revokeToken(data: StoreData, id: string, now: Date): TokenRecord {
  const rec = data.tokens.find((t) => t.id === id);
  if (!rec) throw new ConfdError('not_found', `no token with id "${id}"; "confctl token list" shows the ids`);
  if (rec.revokedAt) throw new ConfdError('conflict', `token ${id} was already revoked at ${rec.revokedAt}`);
  rec.revokedAt = now.toISOString();
  return rec;
}

/**
 * Revokes every live token that `match` selects (a removed user's tokens, the presenter tokens that
 * authorised a revoked IP); returns their ids. Already revoked or expired tokens are left as they are.
 */
export function revokeTokensWhere(data: StoreData, now: Date, match: (t: TokenRecord) => boolean): string[] {
  const at = now.toISOString();
  const ids: string[] = [];
  for (const t of data.tokens) {
    if (t.revokedAt || Date.parse(t.expiresAt) <= now.getTime() || !match(t)) continue;
    t.revokedAt = at;
    ids.push(t.id);
  }
  return ids;
}

/** Registry entries are needed until their token expires; a day later they carry no information. */
export function pruneTokens(data: StoreData, now: Date, keepSeconds = 86400): number {
  const cutoff = now.getTime() - keepSeconds * 1000;
  const before = data.tokens.length;
  data.tokens = data.tokens.filter((t) => Date.parse(t.expiresAt) > cutoff);
  return before - data.tokens.length;
}
