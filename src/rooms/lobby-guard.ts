/**
 * What one address may do to a room's lobby (issue 21: ~1,000 knocks/s from one address, each a
 * prompt to every host and a log line; four addresses filled the whole queue; `lobby deny --all` was
 * undone within 300 ms). Pure rules, the time passed in; the door asks and acts:
 *
 * - a share of the waiting queue per address (an office behind one NAT fits; a flood does not fill it);
 * - one knock told to the hosts and logged per address per `knockNoticeMs`: the others reach the hosts
 *   in the lobby state (every waiting guest is listed there), and the next logged knock counts them;
 * - a pause after denials: an address `deniesBeforePause` of whose guests were denied within
 *   `denyWindowMs` may not knock for `pauseMs` (one denied guest does not shut out its colleagues;
 *   a denied flood is paused at once).
 */
import { setBounded } from '../bounded-map.ts';

export interface LobbyLimits {
  perAddress: number;
  knockNoticeMs: number;
  deniesBeforePause: number;
  denyWindowMs: number;
  pauseMs: number;
}

export const LOBBY_LIMITS: LobbyLimits = { perAddress: 20, knockNoticeMs: 1000, deniesBeforePause: 3, denyWindowMs: 10 * 60_000, pauseMs: 60_000 };

/** Addresses remembered at most per map (the oldest go first). */
const MAX_ADDRESSES = 5_000;

export type KnockNotice = { tell: true; coalesced: number } | { tell: false };

export interface LobbyGuard {
  /** ms this address must still wait before knocking again (0: it may knock). */
  pausedFor(ipKey: string, now: number): number;
  /** Whether one more guest from this address may wait, given how many from it wait now. */
  hasRoom(waitingFromAddress: number): boolean;
  /** A guest from this address knocked: tell the hosts (and log) now, or fold it into the next notice. */
  knock(ipKey: string, now: number): KnockNotice;
  /** A guest from this address was denied: true when this starts a pause (log it once). */
  denied(ipKey: string, now: number): boolean;
  /** Forgets what no longer counts: ended pauses, old notices, denials older than the window. */
  sweep(now: number): void;
  /** No pause in force (the rest is soft and may go with the room). */
  idle(now: number): boolean;
  /** Addresses remembered (notices, denials, pauses). */
  size(): number;
}

const remember = <V>(map: Map<string, V>, key: string, value: V) => setBounded(map, key, value, MAX_ADDRESSES);

export function createLobbyGuard(limits: LobbyLimits = LOBBY_LIMITS): LobbyGuard {
  const lastNotice = new Map<string, { at: number; coalesced: number }>();
  const denials = new Map<string, number[]>();
  const paused = new Map<string, number>();

  const pausedFor = (ipKey: string, now: number) => Math.max(0, (paused.get(ipKey) ?? 0) - now);
  function sweep(now: number): void {
    for (const [k, until] of paused) if (until <= now) paused.delete(k);
    for (const [k, n] of lastNotice) if (now - n.at >= limits.knockNoticeMs) lastNotice.delete(k);
    for (const [k, times] of denials) if (times.every((t) => now - t >= limits.denyWindowMs)) denials.delete(k);
  }

  return {
    pausedFor,

    hasRoom: (waitingFromAddress) => waitingFromAddress < limits.perAddress,

    knock(ipKey, now) {
      const last = lastNotice.get(ipKey);
      if (last && now - last.at < limits.knockNoticeMs) {
        last.coalesced++;
        return { tell: false };
      }
      remember(lastNotice, ipKey, { at: now, coalesced: 0 });
      return { tell: true, coalesced: last?.coalesced ?? 0 };
    },

    denied(ipKey, now) {
      if (pausedFor(ipKey, now) > 0) return false;
      const recent = [...(denials.get(ipKey) ?? []).filter((t) => now - t < limits.denyWindowMs), now];
      if (recent.length < limits.deniesBeforePause) {
        remember(denials, ipKey, recent);
        return false;
      }
      denials.delete(ipKey);
      remember(paused, ipKey, now + limits.pauseMs);
      return true;
    },

    sweep,

    idle(now) {
      sweep(now);
      return paused.size === 0;
    },

    size: () => lastNotice.size + denials.size + paused.size,
  };
}
