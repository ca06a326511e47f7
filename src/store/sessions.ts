import type { StoreData, StoredSession } from './schema.ts';

/**
 * Host sessions in the state (schema.ts): found by the SHA-256 of their token on every use, by id when
 * a live connection's host rights are re-checked. Indexes are built once per committed state, as for
 * tokens (tokens.ts).
 */
const byHash = new WeakMap<readonly StoredSession[], Map<string, StoredSession>>();
const byId = new WeakMap<readonly StoredSession[], Map<string, StoredSession>>();

function index(cache: WeakMap<readonly StoredSession[], Map<string, StoredSession>>, list: readonly StoredSession[], key: (s: StoredSession) => string) {
  let m = cache.get(list);
  if (!m) {
    m = new Map(list.map((s) => [key(s), s]));
    cache.set(list, m);
  }
  return m;
}

export const findSessionByHash = (data: Readonly<StoreData>, hash: string) => index(byHash, data.sessions, (s) => s.hash).get(hash);
export const findSessionById = (data: Readonly<StoreData>, id: string) => index(byId, data.sessions, (s) => s.id).get(id);

export function addSession(data: StoreData, session: StoredSession): void {
  data.sessions.push(session);
}

/** Removes the sessions `match` selects; returns them. */
export function removeSessions(data: StoreData, match: (s: StoredSession) => boolean): StoredSession[] {
  const gone = data.sessions.filter(match);
  if (gone.length > 0) data.sessions = data.sessions.filter((s) => !match(s));
  return gone;
}

export const sessionLive = (s: StoredSession, nowMs: number) => Date.parse(s.expiresAt) > nowMs;
