import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { normaliseIp } from '../store/ips.ts';

export type ClientIpResolver = (req: IncomingMessage) => string;

/** Builds the matcher for server.trustProxy (IPs and CIDR ranges, v4 and v6). */
export function trustedProxies(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, bits] = entry.split('/');
    const ip = normaliseIp(addr!)!;
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(bits), type);
  }
  return list;
}

function isTrusted(list: BlockList, ip: string): boolean {
  return list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the socket peer, unless that peer is a trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first untrusted address
 * wins. Entries to the left of it were written by the client and are never believed.
 */
export function createClientIpResolver(trustProxy: readonly string[]): ClientIpResolver {
  const list = trustedProxies(trustProxy);
  return (req) => {
    const peer = normaliseIp(req.socket.remoteAddress ?? '') ?? 'unknown';
    if (trustProxy.length === 0 || peer === 'unknown' || !isTrusted(list, peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = normaliseIp(hops[i]!);
      if (ip === null) return peer; // garbage in the chain: fall back to what we know
      if (!isTrusted(list, ip)) return ip;
    }
    return peer;
  };
}
