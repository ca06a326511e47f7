import { isIP, SocketAddress } from 'node:net';
import { ConfdError } from '../errors.ts';
import type { AuthorisedIp, StoreData } from './schema.ts';

/**
 * Canonical text of an address, so that every spelling of one address compares equal: IPv6 in its
 * RFC 5952 form (lower case, zeros compressed: `2001:DB8:0:0::1` -> `2001:db8::1`), IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, `::ffff:102:304`) as the IPv4 address, brackets dropped. A zone (`fe80::1%eth0`)
 * is kept. Null when `text` is not an IP address.
 */
export function normaliseIp(text: string): string | null {
  let ip = text.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const family = isIP(ip);
  if (family === 0) return null;
  if (family === 4) return ip;
  const zoneAt = ip.indexOf('%');
  const zone = zoneAt >= 0 ? ip.slice(zoneAt) : '';
  let canonical: string;
  try {
    canonical = new SocketAddress({ address: zoneAt >= 0 ? ip.slice(0, zoneAt) : ip, family: 'ipv6' }).address;
  } catch {
    return null;
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
  if (mapped?.[1] && !zone) return mapped[1];
  return canonical + zone;
}

/**
 * The key rate limits count under: an IPv4 address as is, an IPv6 address as its /64 prefix
 * (`2001:db8:1:2::/64`), because one IPv6 client usually holds a whole /64 and could otherwise take
 * a fresh address for every attempt. Anything that is not an address (e.g. "unknown") is its own key.
 */
export function rateKeyForIp(ip: string): string {
  const canonical = normaliseIp(ip);
  if (canonical === null) return ip;
  if (isIP(canonical) === 4) return canonical;
  const bare = canonical.split('%')[0]!;
  // Expand "::" to the missing zero groups, then keep the first four.
  const [head = '', tail] = bare.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  // A trailing dotted quad (::1.2.3.4) stands for two groups; it never reaches the first four anyway.
  const width = right.length > 0 && right[right.length - 1]!.includes('.') ? 1 : 0;
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length - width).fill('0'), ...right];
  const prefix = groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, ''));
  return normaliseIp(`${prefix.join(':')}::`)! + '/64';
}

export function activeIps(data: Readonly<StoreData>, now: Date): AuthorisedIp[] {
  const t = now.getTime();
  return data.ips.filter((e) => Date.parse(e.expiresAt) > t);
}

/**
 * True when presenter token `tokenId` already authorised `ip` for `user` until at least `untilMs`:
 * a repeat of that token's login from that address, which changes nothing worth a database write or
 * an audit event (anyone holding the link can repeat it at will).
 */
export function alreadyAuthorisedByToken(data: Readonly<StoreData>, ip: string, user: string, tokenId: string, untilMs: number, now: Date): boolean {
  return activeIps(data, now).some((e) => e.ip === ip && e.user === user && (e.tokens ?? []).includes(tokenId) && Date.parse(e.expiresAt) >= untilMs);
}

/**
 * Adds or refreshes the (ip, user) entry; the expiry moves forward to now + ttl. `tokenId` names the
 * presenter token that did it, so that revoking the IP can revoke that token too.
 */
export function authoriseIp(data: StoreData, ip: string, user: string, ttlSeconds: number, now: Date, tokenId?: string): AuthorisedIp {
  const at = now.toISOString();
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
  let entry = data.ips.find((e) => e.ip === ip && e.user === user);
  if (entry) {
    entry.lastSeen = at;
    entry.expiresAt = expiresAt;
  } else {
    entry = { ip, user, since: at, lastSeen: at, expiresAt };
    data.ips.push(entry);
  }
  if (tokenId && !entry.tokens?.includes(tokenId)) entry.tokens = [...(entry.tokens ?? []), tokenId];
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
