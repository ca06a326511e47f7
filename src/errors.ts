/**
 * Errors that cross module boundaries carry a stable code (for scripts and HTTP status mapping)
 * and a sentence a sysadmin can act on.
 */
export type ErrorCode =
  | 'bad_request'
  | 'not_found'
  | 'conflict'
  | 'refused'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'internal'
  | 'config_invalid'
  | 'already_running'
  | 'data_dir_unusable'
  /** Too much work queued right now (e.g. password checks under a login burst): retry shortly. */
  | 'busy';

export class ConfdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ConfdError';
  }
}

export const isConfdError = (e: unknown): e is ConfdError => e instanceof ConfdError;
