import { ROOM_NAME_RE } from '../protocol/limits.ts';

/** Room names appear in URLs, logs and tokens: keep them to a safe, readable alphabet (src/protocol/limits.ts). */
export { ROOM_NAME_RE, ROOM_NAME_HELP } from '../protocol/limits.ts';

export const isRoomName = (s: unknown): s is string => typeof s === 'string' && ROOM_NAME_RE.test(s);
