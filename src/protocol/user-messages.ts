/**
 * Sentences the server says to the person at the page (in `waiting`, `disconnected`, `role` and `error`
 * notifications and close reasons). The page shows them as they come and never reads meaning out of
 * them: what it acts on is a close code (close-codes.ts), an error code (errors.ts) or a field
 * (`disconnected.reason`, `disconnected.rejoin`). A `disconnected` message with `rejoin` true is shown
 * as it is, so it says that the page reconnects by itself.
 */
export const USER_MESSAGES = {
  waiting: 'Waiting for the host to join. This page will join by itself.',
  /** Error response to a request sent while waiting. */
  stillWaiting: 'waiting for the host to arrive',
  locked: 'This room is locked by its host.',
  passwordRequired: 'This room needs a password.',
  banned: (seconds: number) => `You were removed from this room. Try again in ${seconds} s.`,
  peerIdInUse: 'That peer id is in use in this room.',
  replaced: 'This session was opened again elsewhere.',
  revokedJustNow: 'Your credentials were revoked just now. Ask the host for a new link, or log in again.',
  revoked: 'Your access to this room was revoked. Ask the host for a new link, or log in again.',
  linkNoLongerValid: 'Your join link is no longer valid (revoked or expired). Ask the host for a new one.',
  linkUserGone: 'This join link belongs to a user who no longer exists. Ask for a new one.',
  hostRightsEnded: 'Your host rights have ended (logged out or revoked).',
  hostRightsExpired: 'Your host rights have expired.',
  /** In the hello answer (`loginNotValid`) when the host login sent is not valid: the page offers to log in again. */
  hostLoginNotValid: 'Your host login is not valid (it ended, or was made from another address), so you joined as a guest. Log in again to be the host.',
  kickedByHost: 'The host removed you from the room.',
  kickedByAdmin: 'You were removed from the room by an administrator.',
  /** A host or the admin ended the meeting for everyone (`room_closed`, no rejoin). */
  meetingEnded: 'The meeting was ended. You can close this page.',
  workerDied: 'The media server restarted. Reconnecting...',
  shutdown: 'The server is shutting down. Reconnecting...',
  joinTimeout: 'Connected but never joined the room; reload to try again.',
  flood: 'Too many messages; disconnected.',
  tooManyWaiting: 'Too many guests are waiting for this room; try again later.',
  tooManyJoins: 'Too many joins from your address right now; wait a few seconds and try again.',
  couldNotOpen: 'The server could not open this room right now; try again.',
  roomFull: (max: number) => `This room is full (${max} participants). Try again later.`,
  /** Shown to a guest waiting in the lobby, with the name the hosts see. */
  lobbyWaiting: (name: string) => `You are waiting in the lobby as "${name}". A host has been told and will let you in; this page will join by itself.`,
  /** Error response to a request sent while waiting in the lobby. */
  stillInLobby: 'waiting in the lobby for a host to let you in',
  lobbyDenied: 'A host did not let you into this room.',
  /** Error response to a rename by a guest let in from the lobby, while the lobby is on. */
  nameKeptWhileLobby: (name: string) => `A host let you in from the lobby as "${name}"; your name stays so while the lobby is on. A host can turn the lobby off to allow a new name.`,
  /** Refused before knocking: this address's guests were denied several times just now. */
  lobbyPaused: (seconds: number) => `A host did not let guests from your address into this room. You may knock again in ${seconds} s.`,
  tooManyWaitingFromAddress: 'Too many guests from your address are waiting for this room; try again later.',
  chatTooLong: (max: number) => `A chat message is at most ${max} characters.`,
  chatOff: 'Chat is turned off in this room by a host.',
  chatRateLimited: (burst: number, seconds: number, wait: number) => `Too many chat messages: at most ${burst} every ${seconds} s. Try again in ${wait} s.`,
  chatNotJoined: 'Only participants who have joined the room can chat.',
  /** A guest whose room password checks are refused for a while (src/rooms/password-guesses.ts). */
  passwordGuessing: (scope: 'address' | 'room', minutes: number) =>
    scope === 'address'
      ? `Too many wrong room passwords from your address. Try again in ${minutes} min, or ask the host for the password.`
      : `Too many wrong passwords were tried for this room. Try again in ${minutes} min, or ask the host to let you in.`,
  /** To hosts, once per block. */
  passwordGuessingHost: (scope: 'address' | 'room', minutes: number) =>
    scope === 'address'
      ? `Someone tried several wrong room passwords from one address; it may not try again for ${minutes} min.`
      : `Many wrong room passwords were tried for this room; nobody new can enter with the password for ${minutes} min. Lock the room, or set a longer password.`,
} as const;
