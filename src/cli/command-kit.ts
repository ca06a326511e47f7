/** What each group of confctl commands is given by main, and the checks they share. */
import type { Command } from 'commander';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';
import { UsageError } from './usage-error.ts';

/** A request to the admin socket: the answer's body, or a refusal thrown (exit 1). */
export type Call = (method: string, path: string, body?: unknown) => Promise<any>;
/** Prints JSON with --json, else the human form. */
export type Show = (body: unknown, human: () => string) => void;

/** A --room value, checked before anything is sent: a usage error (exit 2) when it is no room name. */
export function roomOption(room: string): string {
  if (!isRoomName(room)) throw new UsageError(roomNameError(room, '--room'));
  return room;
}

/** A command that only reads `path` and prints the answer (`human` renders it for a terminal). */
export function readCommand(parent: Command, call: Call, show: Show, spec: { name: string; description: string; path: string; human: (r: any) => string }): Command {
  return parent
    .command(spec.name)
    .description(spec.description)
    .action(async () => {
      const r = await call('GET', spec.path);
      show(r, () => spec.human(r));
    });
}
