import { isIP } from 'node:net';
import { hostname } from 'node:os';

/**
 * DNS rebinding: a page on evil.example whose name is made to resolve to 127.0.0.1 talks to a local
 * confd as "same origin". Such a request still says `Host: evil.example`, so confd answers only to
 * names it knows: an IP literal, localhost, this machine's host name, or server.publicUrl's host.
 * Ports are not compared (a proxy or a NAT may change them).
 */
export type HostCheck = (hostHeader: string | undefined) => boolean;

/** The name part of a Host header: `[::1]:3010` -> `::1`, `Example.org:443` -> `example.org`. */
export function hostName(header: string): string | null {
  const h = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.%]+)\](?::\d{1,5})?$/.exec(h);
  if (v6) return v6[1]!;
  const m = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1]!.replace(/\.$/, '') : null;
}

export function createHostCheck(publicUrl: string | null, extraNames: readonly string[] = []): HostCheck {
  const names = new Set(['localhost', hostname().toLowerCase(), ...extraNames.map((n) => n.toLowerCase())]);
  if (publicUrl) names.add(new URL(publicUrl).hostname.toLowerCase().replace(/^\[|\]$/g, ''));
  return (header) => {
    if (!header) return false;
    const name = hostName(header);
    if (name === null) return false;
    return isIP(name) !== 0 || names.has(name);
  };
}

export const misdirectedMessage = (host: string | undefined): string =>
  `this server does not answer to the name "${String(host ?? '').slice(0, 100)}"; set server.publicUrl to the URL clients use (IP addresses and localhost always work)`;
