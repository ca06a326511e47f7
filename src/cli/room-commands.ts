/** `confctl end`, `kick` and `lobby`: what the admin does to a room. */
import type { Command } from 'commander';
import { table, shortTime } from './format.ts';
import { UsageError } from './usage-error.ts';
import { roomOption, type Call, type Show } from './command-kit.ts';

export function addRoomCommands(program: Command, call: Call, show: Show): void {
  program
    .command('end')
    .description('end a meeting: everyone in the room is disconnected (in a cluster, on whichever node holds it)')
    .requiredOption('-r, --room <room>', 'room name')
    .action(async (o: { room: string }) => {
      const r = await call('DELETE', `/v1/rooms/${encodeURIComponent(roomOption(o.room))}`);
      show(r, () => `ended ${r.room}: ${r.peers} peer${r.peers === 1 ? '' : 's'} disconnected`);
    });
  program
    .command('kick')
    .description('disconnect a peer from a room')
    .requiredOption('-r, --room <room>', 'room name')
    .requiredOption('-p, --peer <peer>', 'peer id (see "confctl rooms")')
    .action(async (o: { room: string; peer: string }) => {
      const r = await call('POST', `/v1/rooms/${encodeURIComponent(roomOption(o.room))}/kick`, { peer: o.peer });
      show(r, () => `kicked ${r.peer} from ${r.room}`);
    });
}

export function addLobbyCommands(program: Command, call: Call, show: Show): void {
  const lobby = program.command('lobby').description("a room's lobby: guests wait there until a host or the admin lets them in");
  const roomOpt = (o: { room: string }) => encodeURIComponent(roomOption(o.room));
  const waitingTable = (r: any) =>
    r.waiting.length === 0 ? 'nobody is waiting' : table(['PEER', 'NAME', 'SINCE'], r.waiting.map((w: any) => [w.peerId, w.displayName, shortTime(new Date(w.since).toISOString())]));
  for (const state of ['on', 'off'] as const) {
    lobby
      .command(state)
      .description(state === 'on' ? 'turn the lobby on: new guests wait until let in (hosts and presenter tokens skip it)' : 'turn the lobby off: everyone waiting in it is let in')
      .requiredOption('-r, --room <room>', 'room name')
      .action(async (o: { room: string }) => {
        const r = await call('PUT', `/v1/rooms/${roomOpt(o)}/lobby`, { enabled: state === 'on' });
        show(r, () => (state === 'on' ? `lobby of ${r.room} is on` : `lobby of ${r.room} is off${r.letIn.length ? `; let in: ${r.letIn.join(', ')}` : ''}`));
      });
  }
  lobby
    .command('list')
    .description('show whether the lobby is on, and who is waiting in it')
    .requiredOption('-r, --room <room>', 'room name')
    .action(async (o: { room: string }) => {
      const r = await call('GET', `/v1/rooms/${roomOpt(o)}/lobby`);
      show(r, () => `lobby of ${r.room} is ${r.enabled ? 'on' : 'off'}\n${waitingTable(r)}`);
    });
  for (const action of ['admit', 'deny'] as const) {
    lobby
      .command(action)
      .description(action === 'admit' ? 'let a waiting guest in (--peer), or everyone waiting (--all)' : 'refuse a waiting guest (--peer), or everyone waiting (--all); they are told and disconnected')
      .requiredOption('-r, --room <room>', 'room name')
      .option('-p, --peer <peer>', 'peer id (see "confctl lobby list")')
      .option('--all', 'everyone waiting in the lobby')
      .action(async (o: { room: string; peer?: string; all?: boolean }) => {
        const room = roomOpt(o);
        if (Boolean(o.peer) === Boolean(o.all)) throw new UsageError('give --peer ID or --all (one of them)');
        const r = await call('POST', `/v1/rooms/${room}/lobby/${action}`, o.all ? { all: true } : { peer: o.peer });
        const ids: string[] = action === 'admit' ? r.admitted : r.denied;
        show(r, () => (ids.length === 0 ? 'nobody was waiting' : `${action === 'admit' ? 'let in' : 'denied'}: ${ids.join(', ')}`));
      });
  }
}
