/**
 * The one error table: every error code confd puts on the wire, with the HTTP status it is answered
 * with (admin socket, /login, /api/v1) and the WebSocket close code a signalling connection is closed
 * with when the same error ends it. JSON error bodies are `{error: {code, message}}`; signalling error
 * responses carry the HTTP status as `errorCode` (HTTP-like, so they read at a glance).
 */

interface ErrorSpec {
  readonly http: number;
  /** Close code when this error ends a signalling connection (4000 + http for the application's). */
  readonly close?: number;
}

export const ERRORS = {
  bad_request: { http: 400, close: 4400 },
  /** No credential, or one that does not (or no longer) admit. */
  unauthorized: { http: 401, close: 4401 },
  invalid_credentials: { http: 401 },
  no_session: { http: 401 },
  forbidden: { http: 403, close: 4403 },
  not_found: { http: 404 },
  /** The HTTP API is off (no api.keySecret): it answers as if it did not exist. */
  api_disabled: { http: 404 },
  method_not_allowed: { http: 405 },
  request_timeout: { http: 408 },
  conflict: { http: 409, close: 4409 },
  payload_too_large: { http: 413 },
  unsupported_media_type: { http: 415 },
  expectation_failed: { http: 417 },
  /** The Host header names another site (DNS rebinding guard). */
  misdirected: { http: 421 },
  /** Understood, but the daemon will not do it (e.g. a ttl past the last storable date). */
  refused: { http: 422 },
  rate_limited: { http: 429, close: 4429 },
  too_many_attempts: { http: 429 },
  /** A login for the same user or address is already being checked. */
  login_in_progress: { http: 429 },
  internal: { http: 500, close: 1011 },
  /** Too much work queued right now (e.g. password checks under a login burst): retry shortly. */
  busy: { http: 503 },
  /** No media port or transport left on the server: try again later. */
  unavailable: { http: 503 },
  /** Cluster mode: the shared Redis cannot be reached right now; rooms already open go on. */
  cluster_unavailable: { http: 503, close: 4503 },
  // The disk is full or read-only: the daemon's problem, not the request's, and it may pass.
  data_dir_unusable: { http: 503 },
  // Startup errors: no request causes them, but they are codes of ConfdError like the rest.
  config_invalid: { http: 500 },
  already_running: { http: 500 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERRORS, code);

/** The HTTP status of an error code. */
export const httpStatus = (code: ErrorCode): number => ERRORS[code].http;

type WithClose = { [C in ErrorCode]: (typeof ERRORS)[C] extends { close: number } ? C : never }[ErrorCode];

/** The WebSocket close code of an error that can end a signalling connection. */
export const closeCode = <C extends WithClose>(code: C): (typeof ERRORS)[C]['close'] => ERRORS[code].close;

/** Error codes in signalling error responses (`errorCode`): the HTTP status of the same error. */
export const ERROR_CODES = {
  badRequest: ERRORS.bad_request.http,
  forbidden: ERRORS.forbidden.http,
  notFound: ERRORS.not_found.http,
  conflict: ERRORS.conflict.http,
  tooLarge: ERRORS.payload_too_large.http,
  rateLimited: ERRORS.rate_limited.http,
  internal: ERRORS.internal.http,
  /** No media port or transport left on the server: try again later. */
  unavailable: ERRORS.unavailable.http,
} as const;
