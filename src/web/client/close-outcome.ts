/**
 * What the page does when its signalling connection closes, decided from the close code and the
 * server's `disconnected` / `error` notifications before it (src/protocol), never from their wording.
 */
import { CLOSE_CODES, isRefusal } from '../../protocol/index.ts';
import type { CloseInfo } from './signalling.ts';

/** Reconnects in a row, before the first join, after which the page stops and says it cannot connect. */
export const MAX_SILENT_RETRIES = 8;

export type CloseOutcome =
  /** We closed it to leave: nothing to do. */
  | { kind: 'left' }
  /** Try again after a backoff; `saysSo`: the message already tells that the page reconnects. */
  | { kind: 'reconnect'; message: string; saysSo: boolean }
  /** The server ended this session for good (kicked, replaced, ...). */
  | { kind: 'ended'; title: string; message: string }
  /** The room wants a password: ask for it (again, when one was given). */
  | { kind: 'password'; retry: boolean }
  | { kind: 'locked' }
  /** Refused: trying again as it is cannot help; `login` when a login (or a join link) is what is missing. */
  | { kind: 'refused'; message: string; login: boolean }
  | { kind: 'unreachable'; message: string };

export interface SessionFacts {
  leaving: boolean;
  /** Why we closed the connection ourselves to start over (media failed), or null. */
  restart: string | null;
  passwordGiven: boolean;
  joinedOnce: boolean;
  retries: number;
}

export function closeOutcome(info: CloseInfo, s: SessionFacts): CloseOutcome {
  if (s.leaving) return { kind: 'left' };
  if (s.restart && !info.disconnected) return { kind: 'reconnect', message: s.restart, saysSo: false };
  const d = info.disconnected;
  if (d) {
    // The server's message for a rejoin says that the page reconnects (src/protocol/user-messages.ts).
    if (d.rejoin) return { kind: 'reconnect', message: d.message, saysSo: true };
    const title = d.reason === 'kicked' ? 'You were removed from the room' : d.reason === 'replaced' ? 'Opened elsewhere' : d.reason === 'room_closed' ? 'The meeting has ended' : 'The meeting ended for you';
    return { kind: 'ended', title, message: d.message };
  }
  const why = info.lastError || info.reason;
  if (info.code === CLOSE_CODES.passwordRequired) return { kind: 'password', retry: s.passwordGiven };
  if (info.code === CLOSE_CODES.locked) return { kind: 'locked' };
  if (isRefusal(info.code)) return { kind: 'refused', message: why || `The server refused the connection (code ${info.code}).`, login: info.code === CLOSE_CODES.unauthorized };
  if (!s.joinedOnce && s.retries >= MAX_SILENT_RETRIES) {
    return { kind: 'unreachable', message: why || 'The connection to the server could not be opened. Check your network and try again.' };
  }
  return { kind: 'reconnect', message: why || 'The connection to the server was lost.', saysSo: false };
}
