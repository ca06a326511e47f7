import type { AuditEvent, StoreData } from './schema.ts';

/**
 * The trail is two bounded rings, so the database (rewritten whole on each change) stays small and
 * login noise can never evict what an admin needs to see:
 * - `audit`: admin and security events (user.*, token.*, ip.*, login.ok, login.token, logout,
 *   host.left, peer.kick, ...), the newest AUDIT_MAX_EVENTS;
 * - `auditNoise`: what anyone on the network can cause at will (login.failed, login.blocked), the
 *   newest AUDIT_NOISE_MAX_EVENTS, written in coalesced batches (see Store.recordNoise).
 * `confctl audit` shows both merged in time order (auditTrail).
 */
export const AUDIT_MAX_EVENTS = 5000;
export const AUDIT_NOISE_MAX_EVENTS = 1000;

/** Event types anyone can cause from the network, as often as they like. */
export const NOISE_EVENT_TYPES: ReadonlySet<string> = new Set(['login.failed', 'login.blocked', 'audit.noise_dropped']);

export const isNoise = (type: string) => NOISE_EVENT_TYPES.has(type);

export type AuditDetails = Record<string, string | number | boolean | null>;

/** Appends to the ring the type belongs to, dropping that ring's oldest events beyond its bound. */
export function appendAudit(data: StoreData, now: Date, type: string, actor: string, details: AuditDetails = {}): AuditEvent {
  const event: AuditEvent = { ...details, at: now.toISOString(), type, actor };
  pushEvent(data, event);
  return event;
}

export function pushEvent(data: StoreData, event: AuditEvent): void {
  const noise = isNoise(event.type);
  const ring = noise ? data.auditNoise : data.audit;
  const max = noise ? AUDIT_NOISE_MAX_EVENTS : AUDIT_MAX_EVENTS;
  ring.push(event);
  if (ring.length > max) ring.splice(0, ring.length - max);
}

/** Both rings (plus events not yet written) as one list, oldest first; the newest `limit`. */
export function mergedTrail(data: Readonly<StoreData>, pending: readonly AuditEvent[], limit: number): AuditEvent[] {
  const all = [...data.audit, ...data.auditNoise, ...pending];
  // ISO-8601 UTC strings sort as times; the sort is stable, so equal times keep ring order.
  all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return all.slice(Math.max(0, all.length - limit));
}

/**
 * A database written before the rings existed may hold login noise in `audit`: it moves to the
 * noise ring (the newest AUDIT_NOISE_MAX_EVENTS of it), so the next login burst cannot evict the
 * admin events that survived. Returns true when something moved.
 */
export function splitLegacyNoise(data: StoreData): boolean {
  if (!data.audit.some((e) => isNoise(e.type))) return false;
  const noise = data.audit.filter((e) => isNoise(e.type));
  data.audit = data.audit.filter((e) => !isNoise(e.type));
  const merged = [...data.auditNoise, ...noise].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  data.auditNoise = merged.slice(Math.max(0, merged.length - AUDIT_NOISE_MAX_EVENTS));
  return true;
}
