/**
 * Errors that cross module boundaries carry a stable code (for scripts; its HTTP status is in the error
 * table, src/protocol/errors.ts) and a sentence a sysadmin can act on.
 */
import type { ErrorCode } from './protocol/errors.ts';

export type { ErrorCode };

export class ConfdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ConfdError';
  }
}

export const isConfdError = (e: unknown): e is ConfdError => e instanceof ConfdError;
