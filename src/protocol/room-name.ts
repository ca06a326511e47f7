/**
 * The room-name rule, once for every caller (page, HTTP, signalling, admin socket, confctl, tokens).
 * Room names appear in URLs, logs and tokens: a safe, readable alphabet.
 */
export const ROOM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const ROOM_NAME_HELP = '1-64 characters: letters, digits, _ . - (starting with a letter or digit)';

export const isRoomName = (s: unknown): s is string => typeof s === 'string' && ROOM_NAME_RE.test(s);

/** The rule as a field's message, written after the field's name ("room: room names are ..."). */
export const ROOM_NAME_RULE = `room names are ${ROOM_NAME_HELP}`;

/** The one sentence for a bad room name; `label` says where it was given (e.g. "--room"). */
export const roomNameError = (name: string, label = 'room name'): string => `invalid ${label} "${name}": ${ROOM_NAME_HELP}`;
