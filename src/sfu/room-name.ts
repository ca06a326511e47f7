/** Room names appear in URLs, logs and tokens: keep them to a safe, readable alphabet. */
export const ROOM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const ROOM_NAME_HELP = '1-64 characters: letters, digits, _ . - (starting with a letter or digit)';

export const isRoomName = (s: unknown): s is string => typeof s === 'string' && ROOM_NAME_RE.test(s);
