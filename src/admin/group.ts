import { readFileSync } from 'node:fs';
import { ConfdError } from '../errors.ts';

/** Resolves a group name to its gid via /etc/group (numeric ids pass through). */
export function resolveGid(group: string | number): number {
  if (typeof group === 'number') return group;
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === group);
  const gid = line ? Number(line.split(':')[2]) : NaN;
  if (!Number.isInteger(gid)) throw new ConfdError('config_invalid', `admin.group: no group named "${group}" on this system`);
  return gid;
}
