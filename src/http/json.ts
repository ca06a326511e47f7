/**
 * The one way confd answers JSON over HTTP (web server, /login, /api/v1, the admin socket): a JSON body,
 * and errors as `{error: {code, message}}` with the status the error table gives their code.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { httpStatus, type ErrorCode } from '../protocol/errors.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

/** An error answer: the status is the error table's for `code`. */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, httpStatus(code), { error: { code, message } }, headers);
}

/** The same error as a whole raw HTTP/1.1 response, for a socket Node has not parsed a request from. */
export function rawErrorResponse(code: ErrorCode, message: string): string {
  const status = httpStatus(code);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${JSON.stringify({ error: { code, message } })}\n`;
}
