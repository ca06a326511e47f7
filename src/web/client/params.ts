/**
 * Join-URL parameters (the seed's: room, name, audio, video, screen, hide, notify, token,
 * roomPassword) and the per-tab identity kept in sessionStorage.
 */
import { cleanDisplayName, DISPLAY_NAME_MAX, ROOM_PASSWORD_MAX } from '../../protocol/index.ts';

export interface JoinParams {
  room: string;
  name: string | null;
  audio: boolean;
  video: boolean;
  screen: boolean;
  hide: boolean;
  notify: boolean;
  /** The seed's `roomPassword` (`0`/`false` = none), passed on to the server. */
  roomPassword: string | null;
}

const PEER_KEY = 'confd_peer_id';
const SESSION_KEY = 'confd_session';
const TOKEN_KEY = 'peer_token';
const NAME_KEY = 'confd_name';
export const NAME_MAX = DISPLAY_NAME_MAX;
/** A typed or linked name as the server would keep it (no control or bidi characters, see display-name.ts). */
export const typedName = (raw: string): string => cleanDisplayName(raw).slice(0, NAME_MAX).trim();

/** `1`/`true`/`yes`/`on` and `0`/`false`/`no`/`off`; anything else (or absent) gives the default. */
export function flag(q: URLSearchParams, key: string, dflt: boolean): boolean {
  const v = q.get(key);
  if (v === null) return dflt;
  const s = v.trim().toLowerCase();
  if (s === '1' || s === 'true' || s === 'yes' || s === 'on') return true;
  if (s === '0' || s === 'false' || s === 'no' || s === 'off') return false;
  return dflt;
}

export function readJoinParams(room: string, loc: Location = window.location): JoinParams {
  const q = new URLSearchParams(loc.search);
  const name = typedName(q.get('name') ?? '');
  return {
    room,
    name: name || null,
    audio: flag(q, 'audio', true),
    video: flag(q, 'video', true),
    screen: flag(q, 'screen', false),
    hide: flag(q, 'hide', false),
    notify: flag(q, 'notify', false),
    roomPassword: roomPassword(q.get('roomPassword')),
  };
}

function roomPassword(v: string | null): string | null {
  if (v === null) return null;
  const s = v.trim();
  return s === '' || s === '0' || s.toLowerCase() === 'false' ? null : s.slice(0, ROOM_PASSWORD_MAX);
}

/**
 * Moves `?token=` into sessionStorage.peer_token and takes it out of the address bar (and so out of
 * history, bookmarks and screenshots). Returns the token to use, from the URL or from earlier.
 */
export function adoptToken(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    url.searchParams.delete('token');
    if (fromUrl) safeSet(TOKEN_KEY, fromUrl);
    window.history.replaceState(window.history.state, '', url.pathname + (url.search === '?' ? '' : url.search) + url.hash);
  }
  return safeGet(TOKEN_KEY);
}

function randomId(bytes: number): string {
  const a = crypto.getRandomValues(new Uint8Array(bytes));
  let s = '';
  for (const b of a) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const HOST_TOKEN_KEY = 'host_token';

/** A host session token from a login (kept by the login page in sessionStorage.host_token). */
export function hostToken(): string | null {
  return safeGet(HOST_TOKEN_KEY);
}

export function setHostToken(token: string): void {
  safeSet(HOST_TOKEN_KEY, token);
}

/** Logged out, or the login ended (revoked, expired): the token is of no use any more. */
export function clearHostToken(): void {
  safeRemove(HOST_TOKEN_KEY);
}

/** After a login the host session speaks for this tab; an old join token would only get in its way. */
export function forgetPeerToken(): void {
  safeRemove(TOKEN_KEY);
}

/**
 * The peer id and its session secret: kept for this tab, so a reload is the same participant. Kept ones
 * must be as strong as the ones made here (stricter than PEER_ID_RE / SESSION_RE, which the server takes).
 */
export function identity(): { peerId: string; session: string } {
  let peerId = safeGet(PEER_KEY);
  let session = safeGet(SESSION_KEY);
  if (!peerId || !/^[A-Za-z0-9_-]{8,64}$/.test(peerId)) {
    peerId = randomId(12);
    safeSet(PEER_KEY, peerId);
  }
  if (!session || !/^[A-Za-z0-9_-]{32,128}$/.test(session)) {
    session = randomId(32);
    safeSet(SESSION_KEY, session);
  }
  return { peerId, session };
}

export function rememberedName(): string | null {
  try {
    return window.localStorage.getItem(NAME_KEY);
  } catch {
    return null;
  }
}

export function rememberName(name: string): void {
  try {
    window.localStorage.setItem(NAME_KEY, name);
  } catch {
    /* storage may be disabled: not needed to work */
  }
}

// In-memory fallback when storage is blocked (private modes, sandboxed frames).
const memory = new Map<string, string>();
function safeGet(key: string): string | null {
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return memory.get(key) ?? null;
  }
}
function safeRemove(key: string): void {
  memory.delete(key);
  try {
    window.sessionStorage.removeItem(key);
  } catch {
    /* nothing kept there */
  }
}
function safeSet(key: string, value: string): void {
  try {
    window.sessionStorage.setItem(key, value);
  } catch {
    memory.set(key, value);
  }
}
