/**
 * Short-lived TURN credentials for admitted peers, in the "TURN REST API" scheme coturn implements
 * with `use-auth-secret` + `static-auth-secret` (draft-uberti-behave-turn-rest-00): the username is
 * `expiry:peer:tag` (expiry in Unix seconds, the part coturn reads before the first ':'; tag a keyed
 * hash of the client's address) and the password is base64(HMAC-SHA1(secret, username)).
 * coturn recomputes the password from the username, so nothing is shared but the secret, and a
 * credential stops working at its expiry; it cannot be revoked before, hence a ttl of minutes.
 * They are secrets: handed only to admitted peers, never logged.
 */
import { createHmac } from 'node:crypto';

import type { IceServer } from '../protocol/messages.ts';

/** What RTCPeerConnection takes as one entry of `iceServers` (the wire type). */
export type TurnServer = IceServer;

export interface TurnSettings {
  urls: readonly string[];
  secret: string;
  ttlSeconds: number;
}

/**
 * Live (unexpired) credentials one client address (IPv6: its /64) may hold. One per connection, and
 * signalling lets an address hold 64 connections at once: this leaves room for a whole office behind
 * one NAT reloading its pages, while a harvester gets no more relays than the connections it opens.
 */
export const TURN_CREDENTIALS_PER_ADDRESS = 128;

/** coturn's default `rest-api-separator`. */
const SEPARATOR = ':';

export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/**
 * The client address in a username, keyed with the secret so that coturn's logs do not publish
 * guests' addresses, while whoever holds the secret can tell which address a relay was issued to.
 */
export function turnAddressTag(secret: string, ipKey: string): string {
  return createHmac('sha256', secret).update(`turn-address:${ipKey}`).digest('base64url').slice(0, 16);
}

/** Credentials for `peer` at `ipKey`, valid for `ttlSeconds` from `nowMs`. */
export function turnCredentials(settings: TurnSettings, peer: string, ipKey: string, nowMs = Date.now()): TurnServer {
  const expiry = Math.floor(nowMs / 1000) + settings.ttlSeconds;
  // Peer ids are [A-Za-z0-9_-] (PEER_ID_RE) and the tag base64url, so the separator cannot appear in them.
  const username = [expiry, peer, turnAddressTag(settings.secret, ipKey)].join(SEPARATOR);
  return { urls: [...settings.urls], username, credential: turnPassword(settings.secret, username) };
}

/** One connection as the issuer sees it: the object itself names the connection (a room's Peer). */
export interface TurnClient {
  readonly id: string;
  readonly ipKey: string;
}

export interface TurnIssuerOptions {
  now?: () => number;
  /** Told when an address reaches TURN_CREDENTIALS_PER_ADDRESS (once, until it is below again): its next connections get no TURN. */
  onRefused?: (ipKey: string) => void;
}

/**
 * From the `turn` config section: a function giving an admitted connection its TURN servers ([] without
 * TURN). A connection gets one credential, reused for all its transports while at least half its
 * life is left, and an address at most TURN_CREDENTIALS_PER_ADDRESS live ones.
 */
export function turnIssuer(turn: { urls: readonly string[]; secret: string | null; ttlSeconds: number }, opts: TurnIssuerOptions = {}): (client: TurnClient) => TurnServer[] {
  if (turn.secret === null || turn.urls.length === 0) return () => [];
  const settings: TurnSettings = { urls: turn.urls, secret: turn.secret, ttlSeconds: turn.ttlSeconds };
  const now = opts.now ?? Date.now;
  const ttlMs = turn.ttlSeconds * 1000;
  const byConnection = new WeakMap<TurnClient, { server: TurnServer; expiresMs: number }>();
  /** Expiry times of the live credentials of each address. */
  const byAddress = new Map<string, number[]>();
  /** Addresses at the limit whose refusal was reported: one report per episode, not per connection. */
  const reported = new Set<string>();
  let nextSweep = 0;

  const live = (ipKey: string, t: number): number[] => {
    const list = (byAddress.get(ipKey) ?? []).filter((e) => e > t);
    if (list.length > 0) byAddress.set(ipKey, list);
    else byAddress.delete(ipKey);
    if (list.length < TURN_CREDENTIALS_PER_ADDRESS) reported.delete(ipKey);
    return list;
  };

  return (client) => {
    const t = now();
    const held = byConnection.get(client);
    if (held && held.expiresMs - t >= ttlMs / 2) return [held.server];
    // Addresses not seen again would otherwise stay in the map: drop the expired ones once per ttl.
    if (t >= nextSweep) {
      for (const ipKey of [...byAddress.keys()]) live(ipKey, t);
      nextSweep = t + ttlMs;
    }
    const list = live(client.ipKey, t);
    if (list.length >= TURN_CREDENTIALS_PER_ADDRESS) {
      if (!reported.has(client.ipKey)) opts.onRefused?.(client.ipKey);
      reported.add(client.ipKey);
      return [];
    }
    const server = turnCredentials(settings, client.id, client.ipKey, t);
    const expiresMs = (Math.floor(t / 1000) + turn.ttlSeconds) * 1000;
    byConnection.set(client, { server, expiresMs });
    byAddress.set(client.ipKey, [...list, expiresMs]);
    return [server];
  };
}
