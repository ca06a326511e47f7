/** `confctl record start|stop --room R` and `confctl record list` (the daemon side: src/recording/). */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { printable, table, shortTime } from './format.ts';
import { UsageError } from './usage-error.ts';
import { roomOption, type Call, type Show } from './command-kit.ts';


/** Who runs confctl, for the audit trail (the admin socket's mode decides who may run it at all). */
function who(): { user: string; uid: number } | undefined {
  try {
    const u = userInfo();
    const user = /^[A-Za-z0-9._-]{1,64}$/.test(u.username) ? u.username : `uid${u.uid}`;
    return u.uid >= 0 ? { user, uid: u.uid } : undefined;
  } catch {
    return undefined;
  }
}

export function size(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1048576).toFixed(1)} MiB`;
  return `${(bytes / 1073741824).toFixed(2)} GiB`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export function addRecordCommands(program: Command, call: Call, show: Show): void {
  const record = program.command('record').description('record a room: one WebM (VP8 + Opus) per participant under DATA_DIR/recordings; everyone in the room is told');
  const room = (r: string) => encodeURIComponent(roomOption(r));
  record
    .command('start')
    .description('start recording a room (needs ffmpeg on the server)')
    .requiredOption('-r, --room <room>', 'room name')
    .action(async (o: { room: string }) => {
      const r = await call('POST', `/v1/rooms/${room(o.room)}/recording`, { by: who() });
      show(r, () =>
        [
          `recording room ${r.room} (started ${shortTime(r.startedAt)} by ${printable(String(r.startedBy))})`,
          ...r.files.map((f: any) => `  ${printable(f.peerName)} (${f.peerId}${f.source === 'main' ? '' : `, ${f.source}`}): ${f.file}`),
          ...(r.files.length === 0 ? ['  nobody sends media yet: each participant is recorded from their first camera or microphone'] : []),
          ...r.skipped.map((s: string) => `  not recorded: ${printable(s)}`),
        ].join('\n'),
      );
    });
  record
    .command('stop')
    .description('stop recording a room; the files are finalised')
    .requiredOption('-r, --room <room>', 'room name')
    .action(async (o: { room: string }) => {
      const r = await call('DELETE', `/v1/rooms/${room(o.room)}/recording`, { by: who() });
      show(r, () => `stopped recording room ${r.room}; ${r.files.length} file${r.files.length === 1 ? '' : 's'} written`);
    });
  record
    .command('list')
    .description('recordings on disk (room, participant, file, size, duration) and the rooms being recorded now')
    .action(async () => {
      const r = await call('GET', '/v1/recordings');
      show(r, () => {
        const lines: string[] = [];
        const at = (x: any) => (x.node ? `${x.node}:` : '');
        if (r.active.length > 0) lines.push(`recording now: ${r.active.map((a: any) => `${at(a)}${a.room} (since ${shortTime(a.startedAt)}, by ${printable(String(a.startedBy))})`).join(', ')}`, '');
        if (r.unreachable) lines.push(`(no answer from ${r.unreachable.join(', ')}: their recordings are missing)`, '');
        if (r.recordings.length === 0) return [...lines, 'no recordings'].join('\n');
        // In a cluster each file is on the disk of the node that held the room: NODE:PATH.
        lines.push(
          table(
            ['ROOM', 'PEER', 'STARTED', 'DURATION', 'SIZE', 'STATE', 'FILE'],
            r.recordings.map((x: any) => [
              x.room,
              x.peerName,
              shortTime(x.startedAt),
              duration(x.durationSeconds),
              size(x.sizeBytes),
              x.active ? 'recording' : x.error ? `${x.stopReason ?? 'failed'} (error)` : (x.stopReason ?? 'incomplete'),
              `${at(x)}${x.file}`,
            ]),
          ),
        );
        return lines.join('\n');
      });
    });
}
