/**
 * Kept for the modules that still import the protocol from here: the wire types, limits and codes are
 * in src/protocol (zod-free, shared with the browser bundle), the schemas in ./schemas.ts. New code
 * imports those directly.
 */
export * from '../protocol/index.ts';
export { clientRequests, envelopeSchema, helloSchema } from './schemas.ts';
