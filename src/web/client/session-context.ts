/**
 * What the parts of a room session (local media, remote peers, host controls) share: the view, our
 * peer id, and the session's current connection and state, read at the moment they are needed.
 */
import type { Signal } from './signalling.ts';
import type { RoomUi } from './ui.ts';

export type SessionState = 'idle' | 'connecting' | 'waiting' | 'password' | 'joined' | 'reconnecting' | 'refused' | 'closed' | 'left';

export interface SessionContext {
  readonly ui: RoomUi;
  readonly peerId: string;
  /** The current signalling connection (null between connections). */
  signal(): Signal | null;
  state(): SessionState;
}
