/**
 * The wire between the daemon and its clients (the web page, confctl, integrations): message types and
 * method names, limits, close codes, the error table and the sentences shown to people. Plain data and
 * types, no dependencies: the browser bundle imports it as much as the server does, and nothing here
 * imports from the rest of src/.
 */
export * from './messages.ts';
export * from './limits.ts';
export * from './room-name.ts';
export * from './display-name.ts';
export * from './errors.ts';
export * from './close-codes.ts';
export * from './user-messages.ts';
