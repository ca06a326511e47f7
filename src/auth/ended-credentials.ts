import type { Store } from '../store/db.ts';
import type { StoreData } from '../store/schema.ts';
import type { CredentialEnded } from './admission.ts';
import type { HostProtection } from './host-protection.ts';

/**
 * What ended between two states of the store, whichever node made the change: host sessions that are
 * gone (expired when their time, or their IP's, had run out; revoked otherwise: logout, password
 * change, user removal, ip revoke) and join tokens newly revoked. A cluster node derives this from the
 * state it follows, so a revocation reaches it even when a pub/sub message was lost (its copy catches
 * up at least every 2 s).
 */
export function endedCredentials(before: Readonly<StoreData>, after: Readonly<StoreData>, nowMs: number): CredentialEnded[] {
  const revoked: string[] = [];
  const expired: string[] = [];
  if (before.sessions !== after.sessions) {
    const still = new Set(after.sessions.map((s) => s.id));
    const ipGone = (ip: string, user: string) => {
      const was = before.ips.find((e) => e.ip === ip && e.user === user);
      return was !== undefined && Date.parse(was.expiresAt) <= nowMs && !after.ips.some((e) => e.ip === ip && e.user === user);
    };
    for (const s of before.sessions) {
      if (still.has(s.id)) continue;
      (Date.parse(s.expiresAt) <= nowMs || ipGone(s.ip, s.user) ? expired : revoked).push(s.id);
    }
  }
  if (before.tokens !== after.tokens) {
    const was = new Map(before.tokens.map((t) => [t.id, t]));
    for (const t of after.tokens) {
      const old = was.get(t.id);
      if (t.revokedAt && old !== undefined && old !== t && !old.revokedAt) revoked.push(`token:${t.id}`);
    }
  }
  return [
    ...(revoked.length > 0 ? [{ keys: revoked, kind: 'revoked' as const }] : []),
    ...(expired.length > 0 ? [{ keys: expired, kind: 'expired' as const }] : []),
  ];
}

/**
 * The one path by which the rest of the daemon learns that a credential ended: every store change
 * (this node's and, in a cluster, the others'), plus the presenter tokens whose time ran out, which
 * change nothing in the state. Host protection forgets its timers for them first.
 */
export function followEndedCredentials(
  store: Pick<Store, 'onChange'>,
  hosts: Pick<HostProtection, 'credentialsEnded' | 'onClockEnded'>,
  tell: (ended: CredentialEnded) => void,
  now: () => number = Date.now,
): void {
  const ended = (e: CredentialEnded) => {
    hosts.credentialsEnded(e);
    tell(e);
  };
  store.onChange((before, after) => {
    for (const e of endedCredentials(before, after, now())) ended(e);
  });
  hosts.onClockEnded(ended);
}
