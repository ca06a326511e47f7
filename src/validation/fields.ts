/**
 * One zod schema per field that more than one edge takes (admin socket, HTTP API, signalling), so the
 * same input is refused the same way, in the same words, wherever it comes in.
 */
import { z } from 'zod';
import { cleanDisplayName, DISPLAY_NAME_MAX, isRoomName, PEER_ID_RE, ROOM_NAME_RULE, USERNAME_HELP, USERNAME_RE } from '../protocol/index.ts';
import { DURATION_HELP, parseDuration } from './duration.ts';

const text = () => z.string({ error: 'must be a string' });

export const roomName = text().refine(isRoomName, { error: ROOM_NAME_RULE });
export const peerId = text().regex(PEER_ID_RE, { error: 'must be a peer id (1-64 of A-Z a-z 0-9 _ -)' });
/** Cleaned of control and bidi characters, blanks collapsed (src/protocol/display-name.ts): '' when nothing visible is left. */
export const displayName = text()
  .max(DISPLAY_NAME_MAX, { error: `must be at most ${DISPLAY_NAME_MAX} characters` })
  .transform(cleanDisplayName);
/** A name that must show something (a rename). */
export const visibleDisplayName = displayName.refine((s) => s.length > 0, { error: 'must have at least one visible character' });
export const userName = text().regex(USERNAME_RE, { error: `user names are ${USERNAME_HELP}` });
/** A duration as people write it ("30m", "2h"), parsed into seconds. */
export const durationSeconds = text().transform((s, ctx) => {
  const seconds = parseDuration(s);
  if (seconds === null) {
    ctx.issues.push({ code: 'custom', message: `must be ${DURATION_HELP}`, input: s });
    return z.NEVER;
  }
  return seconds;
});
