/**
 * WebSocket close codes of the signalling connection (4000-4999 are the application's). 40xx end a
 * session the server chose to end; 44xx refuse or cut off a connection, numbered 4000 + the HTTP status
 * of the same error (see errors.ts). A `disconnected` notification (or an `error` one, for a refusal)
 * comes just before the close and says why in words.
 */
import { closeCode } from './errors.ts';
import type { DisconnectReason } from './messages.ts';

export const CLOSE_CODES = {
  kicked: 4000,
  replaced: 4001,
  worker_died: 4002,
  room_closed: 4003,
  host_left: 4004,
  shutdown: 4005,
  badRequest: closeCode('bad_request'),
  unauthorized: closeCode('unauthorized'),
  forbidden: closeCode('forbidden'),
  conflict: closeCode('conflict'),
  rate_limited: closeCode('rate_limited'),
  /** The credential that admitted this connection was revoked. */
  revoked: closeCode('unauthorized'),
  /** Connected but never joined in time: the seat is given back. */
  join_timeout: 4408,
  /** The room is locked by its host. */
  locked: 4423,
  /** The room has a password and none or a wrong one was given (the page asks for it). */
  passwordRequired: 4424,
  /** A host (or the admin) refused this guest entry from the lobby. */
  lobbyDenied: 4425,
  /** The server failed (WebSocket's own "internal error"). */
  internal: closeCode('internal'),
} as const satisfies { [R in DisconnectReason]: number } & Record<string, number>;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/** A refusal the page cannot mend by trying again as it is (a login, a new link or another id may). */
export const isRefusal = (code: number): boolean => code >= 4400 && code < 4500;
