/**
 * What a host may do from the page: mute, unmute, kick, lock, password, lobby. One handler per method,
 * each refused unless the connection has host rights at that moment; the state each one changes is
 * the door's (lock, password, lobby) or the target peer's.
 */
import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ServerNotifications } from '../protocol/messages.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { Door } from './door.ts';
import { requireHost, type Handlers, type Peer } from './peer.ts';

export type HostMethod = 'hostMutePeer' | 'hostUnmutePeer' | 'hostKickPeer' | 'hostLockRoom' | 'hostSetRoomPassword' | 'hostSetLobby' | 'hostAdmit' | 'hostDeny' | 'hostAdmitAll' | 'hostEndMeeting';

export function createHostCommands(ctx: {
  log: Logger;
  peers: ReadonlyMap<string, Peer>;
  door: Door;
  kick(peerId: string, message: string): boolean;
  /** Ends the meeting for everyone, as the admin's end does; `by` names who, for the log and the audit. */
  end(by: string): void;
  broadcast<M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]): void;
}): Handlers<HostMethod> {
  const { log, door } = ctx;
  function targetOf(peerId: string): Peer {
    const t = ctx.peers.get(peerId);
    if (!t) throw new ConfdError('not_found', `no peer ${peerId} in this room`);
    return t;
  }
  const notWaiting = (peerId: string) => new ConfdError('not_found', `no guest ${peerId} is waiting in the lobby`);

  return {
    async hostMutePeer(peer, d) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      // Held on the server: the peer cannot resume it, nor produce that kind again, until a host lifts it.
      target.mutedByHost.add(d.kind);
      const muted = [...target.producers.values()].filter((p) => p.kind === d.kind && !p.paused);
      for (const p of muted) await p.pause();
      target.channel.notify('mutedByHost', { kind: d.kind });
      log.info({ host: peer.id, peer: target.id, kind: d.kind }, 'peer muted by host');
      return { muted: muted.length };
    },
    async hostUnmutePeer(peer, d) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      if (target.mutedByHost.delete(d.kind)) target.channel.notify('unmutedByHost', { kind: d.kind });
      log.info({ host: peer.id, peer: target.id, kind: d.kind }, 'peer may unmute again');
      return {};
    },
    async hostKickPeer(peer, d) {
      requireHost(peer);
      const target = targetOf(d.peerId);
      if (target === peer) throw new ConfdError('bad_request', 'use leave to leave the room');
      ctx.kick(target.id, USER_MESSAGES.kickedByHost);
      log.info({ host: peer.id, peer: target.id }, 'peer kicked by host');
      return {};
    },
    async hostLockRoom(peer, d) {
      requireHost(peer);
      const state = door.lock(d.locked);
      ctx.broadcast('roomState', state);
      return state;
    },
    async hostSetRoomPassword(peer, d) {
      requireHost(peer);
      const state = door.setPassword(d.password);
      ctx.broadcast('roomState', state);
      return state;
    },
    async hostSetLobby(peer, d) {
      requireHost(peer);
      return door.setLobby(d.enabled, `host ${peer.id}`);
    },
    async hostAdmit(peer, d) {
      requireHost(peer);
      if (!door.lobbyAdmit({ peerId: d.peerId }, `host ${peer.id}`)) throw notWaiting(d.peerId);
      return door.lobby();
    },
    async hostDeny(peer, d) {
      requireHost(peer);
      if (!door.lobbyDeny({ peerId: d.peerId }, `host ${peer.id}`)) throw notWaiting(d.peerId);
      return door.lobby();
    },
    async hostAdmitAll(peer) {
      requireHost(peer);
      const admitted = door.lobbyAdmit({ all: true }, `host ${peer.id}`) ?? [];
      return { ...door.lobby(), admitted };
    },
    async hostEndMeeting(peer) {
      requireHost(peer);
      // After this answer goes out: the host's page hears that its request worked, then the meeting ends.
      setImmediate(() => ctx.end(`host ${peer.id}`));
      return {};
    },
  };
}
