import { isIP } from 'node:net';
import { ConfdError } from '../errors.ts';
import type { AuthorisedIp, StoreData } from './schema.ts';

/** Canonical text of an address: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes a.b.c.d, IPv6 lower-case. */
export function normaliseIp(text: string): string | null {
  let ip = text.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) ip = mapped[1];
  const family = isIP(ip);
  if (family === 0) return null;
  return family === 6 ? ip.toLowerCase() : ip;
}

export function activeIps(data: Readonly<StoreData>, now: Date): AuthorisedIp[] {
  const t = now.getTime();
  return data.ips.filter((e) => Date.parse(e.expiresAt) > t);
}

/** Adds or refreshes the (ip, user) entry; the expiry moves forward to now + ttl. */
export function authoriseIp(data: StoreData, ip: string, user: string, ttlSeconds: number, now: Date): AuthorisedIp {
  const at = now.toISOString();
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
  const existing = data.ips.find((e) => e.ip === ip && e.user === user);
  if (existing) {
    existing.lastSeen = at;
    existing.expiresAt = expiresAt;
    return existing;
  }
  const entry = { ip, user, since: at, lastSeen: at, expiresAt };
  data.ips.push(entry);
  return entry;
}

/** Removes every entry for `ip` (all users); returns the removed entries. */
export function revokeIp(data: StoreData, ip: string): AuthorisedIp[] {
  const removed = data.ips.filter((e) => e.ip === ip);
  if (removed.length === 0) throw new ConfdError('not_found', `${ip} is not in the authorised-IP table; "confctl ip list" shows it`);
  data.ips = data.ips.filter((e) => e.ip !== ip);
  return removed;
}

export function revokeAllIps(data: StoreData): AuthorisedIp[] {
  const removed = data.ips;
  data.ips = [];
  return removed;
}

/** Drops expired entries; returns them so the caller can audit and end their sessions. */
export function expireIps(data: StoreData, now: Date): AuthorisedIp[] {
  const t = now.getTime();
  const expired = data.ips.filter((e) => Date.parse(e.expiresAt) <= t);
  if (expired.length > 0) data.ips = data.ips.filter((e) => Date.parse(e.expiresAt) > t);
  return expired;
}
