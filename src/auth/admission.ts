/**
 * What auth decides about a connection before any room sees it: who it is (role, credential) and how
 * its rights are checked later. Rooms apply their own rules on top (src/rooms/admission.ts).
 */
import type { Role } from '../protocol/messages.ts';

export interface JoinAttempt {
  room: string;
  peerId: string;
  displayName: string;
  /** Join token, from a link. */
  token: string | null;
  /** Host session token from a login. */
  hostToken: string | null;
  roomPassword: string | null;
  ip: string;
}

export interface Admission {
  role: Role;
  /** Identifies the host credential (session or presenter token) for presence and revocation. */
  hostKey: string | null;
  /** The credential this connection came in on (`token:JTI` or a host-session id), null for none. */
  credential: string | null;
  /** When that credential is revoked: true closes the connection, false only takes host rights away. */
  closeOnRevoke: boolean;
  /** Live check of host rights: never cached. */
  hasHostRights: () => boolean;
  /** Re-checked when a waiting guest is finally let in. */
  stillValid: () => boolean;
}

export type JoinDecision =
  /** `loginNotValid`: a host login was sent and is not valid; it comes in as a guest and is told this sentence. */
  | { ok: true; admission: Admission; loginNotValid?: string }
  | { ok: false; code: number; message: string };

/** Decides who may connect and with which role (tokens, logins). */
export type JoinPolicy = (attempt: JoinAttempt) => JoinDecision | Promise<JoinDecision>;

/**
 * A credential ended. `revoked`: by the admin or the user (logout, password change, user removal,
 * token or IP revocation): whatever it let in ends now. `expired`: its time ran out: the host rights it
 * gave end now, but a connection it let in may stay as a guest (a join link admits at entry).
 */
export interface CredentialEnded {
  /** Host-session ids and `token:JTI` keys, as in Admission.credential. */
  keys: string[];
  kind: 'revoked' | 'expired';
}
