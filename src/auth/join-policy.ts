import type { Config } from '../config/load.ts';
import type { JoinPolicy } from '../signalling/server.ts';
import { CLOSE_CODES } from '../signalling/connection.ts';
import type { JoinTokens } from './tokens.ts';

/**
 * Who may enter a room. With host.user_auth every participant needs a valid join token for that
 * room; a token that is given is always checked, so a bad link is reported rather than ignored.
 */
export function createJoinPolicy(config: Config, tokens: JoinTokens): JoinPolicy {
  return (attempt) => {
    if (attempt.token) {
      const v = tokens.verifyJoinToken(attempt.token, attempt.room);
      if (!v.ok) return { ok: false, code: CLOSE_CODES.unauthorized, message: v.message };
      return { ok: true };
    }
    if (config.host.user_auth) return { ok: false, code: CLOSE_CODES.unauthorized, message: 'This room needs a join link with a token, or a login.' };
    return { ok: true };
  };
}
