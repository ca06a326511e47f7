/**
 * Short-lived TURN credentials for admitted peers, in the "TURN REST API" scheme coturn implements
 * with `use-auth-secret` + `static-auth-secret` (draft-uberti-behave-turn-rest-00): the username is
 * `expiry:peer` (expiry in Unix seconds) and the password is base64(HMAC-SHA1(secret, username)).
 * coturn recomputes the password from the username, so nothing is shared but the secret, and a
 * credential stops working at its expiry. They are secrets: handed only to admitted peers, never logged.
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

/** coturn's default `rest-api-separator`. */
const SEPARATOR = ':';

export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** Credentials for `peer`, valid for `ttlSeconds` from `nowMs`. */
export function turnCredentials(settings: TurnSettings, peer: string, nowMs = Date.now()): TurnServer {
  const expiry = Math.floor(nowMs / 1000) + settings.ttlSeconds;
  // Peer ids are [A-Za-z0-9_-] (PEER_ID_RE), so the separator cannot appear in them.
  const username = `${expiry}${SEPARATOR}${peer}`;
  return { urls: [...settings.urls], username, credential: turnPassword(settings.secret, username) };
}

/** From the `turn` config section: a function giving an admitted peer its TURN servers ([] without TURN). */
export function turnIssuer(turn: { urls: readonly string[]; secret: string | null; ttlSeconds: number }): (peer: string) => TurnServer[] {
  if (turn.secret === null || turn.urls.length === 0) return () => [];
  const settings: TurnSettings = { urls: turn.urls, secret: turn.secret, ttlSeconds: turn.ttlSeconds };
  return (peer) => [turnCredentials(settings, peer)];
}
