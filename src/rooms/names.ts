/**
 * Display names in a room: the one a peer joins under, and renames. A guest let in from the lobby
 * enters under the name the hosts saw when they let it in (issue 21, point 9: "Ann" was admitted, then
 * `join` said "Host (the real one)"); while the lobby is on it cannot rename either, since a host
 * decides on each newcomer by name. With the lobby off anyone may come in under any name, so a rename
 * is allowed and everyone is told. Names arrive cleaned (src/validation/fields.ts).
 */
import { ConfdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { Door } from './door.ts';
import type { Handlers, Peer } from './peer.ts';

export function createRoomNames(ctx: { log: Logger; door: Pick<Door, 'admittedName' | 'lobby'>; others(peer: Peer): Peer[] }) {
  const { log, door } = ctx;
  const handlers: Handlers<'changeDisplayName'> = {
    async changeDisplayName(peer, d) {
      const admitted = door.admittedName(peer);
      if (admitted !== null && door.lobby().enabled) throw new ConfdError('forbidden', USER_MESSAGES.nameKeptWhileLobby(admitted));
      peer.displayName = d.displayName;
      for (const other of ctx.others(peer)) other.channel.notify('peerDisplayNameChanged', { peerId: peer.id, displayName: d.displayName });
      return {};
    },
  };
  return {
    /** The name a joining peer takes: the one it asks for (when it asks), unless it was let in from the lobby. */
    joinName(peer: Peer, asked: string | undefined): string {
      if (door.admittedName(peer) !== null) {
        if (asked && asked !== peer.displayName) log.info({ peer: peer.id, name: peer.displayName, asked }, 'join name ignored: let in from the lobby under another');
        return peer.displayName;
      }
      return asked || peer.displayName;
    },
    handlers,
  };
}
