import type { IncomingMessage } from 'node:http';
import { ConfdError } from '../errors.ts';

/** Every JSON body is capped: nothing a client sends may make the daemon buffer without bound. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/** Reads a JSON body; empty bodies give `undefined`. Throws ConfdError with a client-facing message. */
export async function readJsonBody(req: IncomingMessage, maxBytes = MAX_JSON_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new ConfdError('payload_too_large', `request body is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw new ConfdError('payload_too_large', `request body is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfdError('bad_request', `request body is not valid JSON: ${(e as Error).message}`);
  }
}
