/**
 * Sizes and shapes both sides of the wire agree on. The server refuses anything outside them; the page
 * uses the same numbers so it never sends what would be refused.
 */

/** Largest signalling frame (bytes). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** A peer id, chosen by the page and kept for its tab. */
export const PEER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** The tab's session secret: only the same tab may take over its peer id. */
export const SESSION_RE = /^[A-Za-z0-9_-]{16,128}$/;
/** A host user's name (the login form and the admin socket take the same). */
export const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const USERNAME_HELP = '1-64 characters: letters, digits, _ . @ - (starting with a letter or digit)';
export const DISPLAY_NAME_MAX = 64;
export const ROOM_PASSWORD_MAX = 128;
/** Query parameters that carry secrets: refused in the URL, sent in `hello` instead. */
export const SECRET_QUERY_KEYS = ['session', 'token', 'host', 'roomPassword'] as const;
/** Chat (src/rooms/chat-rules.ts): a message's text, in characters (UTF-16 code units, as JS counts them). */
export const CHAT_TEXT_MAX = 2000;
/** Chat rate per peer, on top of the connection's flood guard: CHAT_BURST messages, refilled over CHAT_REFILL_SECONDS. */
export const CHAT_BURST = 5;
export const CHAT_REFILL_SECONDS = 5;
/** Public messages a room keeps (in memory only) for late joiners. */
export const CHAT_HISTORY = 50;
