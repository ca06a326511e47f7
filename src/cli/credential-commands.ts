/** `confctl user`, `token` and `ip`: the credentials the daemon keeps (host users, join tokens, authorised IPs). */
import type { Command } from 'commander';
import { parseDuration, DURATION_HELP } from '../config/duration.ts';
import { normaliseIp } from '../store/ips.ts';
import { table, shortTime } from './format.ts';
import { readNewPassword } from './password-input.ts';
import { UsageError } from './usage-error.ts';
import { roomOption, type Call, type Show } from './command-kit.ts';

export function addUserCommands(program: Command, call: Call, show: Show): void {
  const user = program.command('user').description('manage host users (stored hashed with argon2id)');
  user
    .command('add <name>')
    .description('add a user; asks for the password twice on a terminal')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }) => {
      const password = await readNewPassword(Boolean(o.passwordStdin));
      const r = await call('POST', '/v1/users', { name, password });
      show(r, () => `user ${r.name} added`);
    });
  user
    .command('list')
    .description('list users')
    .action(async () => {
      const r = await call('GET', '/v1/users');
      show(r, () => (r.users.length === 0 ? 'no users' : table(['NAME', 'CREATED', 'UPDATED'], r.users.map((u: any) => [u.name, shortTime(u.createdAt), shortTime(u.updatedAt)]))));
    });
  user
    .command('remove <name>')
    .description('remove a user (and the authorised IPs it holds)')
    .action(async (name: string) => {
      const r = await call('DELETE', `/v1/users/${encodeURIComponent(name)}`);
      show(r, () => `user ${r.name} removed${r.removedIps ? `; ${r.removedIps} authorised IP entr${r.removedIps === 1 ? 'y' : 'ies'} revoked` : ''}${r.revokedTokens?.length ? `; ${r.revokedTokens.length} join token${r.revokedTokens.length === 1 ? '' : 's'} revoked` : ''}`);
    });
  user
    .command('passwd <name>')
    .description("change a user's password; asks twice on a terminal")
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, o: { passwordStdin?: boolean }) => {
      const password = await readNewPassword(Boolean(o.passwordStdin));
      const r = await call('PUT', `/v1/users/${encodeURIComponent(name)}/password`, { password });
      show(r, () => `password of ${r.name} changed`);
    });
}

export function addTokenCommands(program: Command, call: Call, show: Show): void {
  const token = program.command('token').description('join tokens (JWT) for rooms');
  token
    .command('issue')
    .description('issue a join token; prints the token and the join URL')
    .requiredOption('-r, --room <room>', 'the room the token opens')
    .option('-t, --ttl <duration>', `lifetime, ${DURATION_HELP} (default: jwt.expiresIn, 1h)`)
    .option('-u, --user <name>', 'the user the token is for (default: guest)')
    .option('--presenter', 'the token gives host rights in its room')
    .action(async (o: { room: string; ttl?: string; user?: string; presenter?: boolean }) => {
      roomOption(o.room);
      if (o.ttl !== undefined && parseDuration(o.ttl) === null) throw new UsageError(`invalid --ttl "${o.ttl}": must be ${DURATION_HELP}`);
      const r = await call('POST', '/v1/tokens', { room: o.room, ttl: o.ttl, user: o.user, presenter: Boolean(o.presenter) });
      show(r, () => [`token:    ${r.token}`, `join url: ${r.joinUrl}`, `id:       ${r.id}`, `room:     ${r.room}`, `user:     ${r.sub}${r.presenter ? ' (presenter)' : ''}`, `expires:  ${shortTime(r.expiresAt)}`].join('\n'));
    });
  token
    .command('list')
    .description('list issued tokens (active, expired within the last day, revoked)')
    .action(async () => {
      const r = await call('GET', '/v1/tokens');
      show(r, () =>
        r.tokens.length === 0
          ? 'no tokens'
          : table(['ID', 'ROOM', 'USER', 'PRESENTER', 'EXPIRES', 'STATE'], r.tokens.map((t: any) => [t.id, t.room, t.sub, t.presenter ? 'yes' : 'no', shortTime(t.expiresAt), t.state])),
      );
    });
  token
    .command('revoke <id>')
    .description('revoke a token by id; it stops working at once')
    .action(async (id: string) => {
      const r = await call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      show(r, () => `token ${r.id} (room ${r.room}) revoked`);
    });
}

export function addIpCommands(program: Command, call: Call, show: Show): void {
  const ip = program.command('ip').description('the authorised host IP table');
  ip
    .command('list')
    .description('list authorised IPs')
    .action(async () => {
      const r = await call('GET', '/v1/ips');
      show(r, () =>
        r.ips.length === 0
          ? 'no authorised IPs'
          : table(['IP', 'USER', 'SINCE', 'LAST SEEN', 'EXPIRES'], r.ips.map((e: any) => [e.ip, e.user, shortTime(e.since), shortTime(e.lastSeen), shortTime(e.expiresAt)])),
      );
    });
  ip
    .command('revoke [ip]')
    .description('revoke an IP (its hosts lose host rights at once), or every IP with --all')
    .option('--all', 'revoke every authorised IP')
    .action(async (addr: string | undefined, o: { all?: boolean }) => {
      if (o.all && addr) throw new UsageError('give an IP or --all, not both');
      if (!o.all && !addr) throw new UsageError('give the IP to revoke, or --all');
      if (addr && !normaliseIp(addr)) throw new UsageError(`"${addr}" is not an IP address; give one like 203.0.113.7 or 2001:db8::1`);
      const r = await call('DELETE', o.all ? '/v1/ips' : `/v1/ips/${encodeURIComponent(addr!)}`);
      // Presenter tokens used from a revoked IP are revoked with it (they would authorise it again).
      const tokens = r.revokedTokens?.length ? `; presenter token${r.revokedTokens.length === 1 ? '' : 's'} revoked with it: ${r.revokedTokens.join(', ')}` : '';
      show(r, () => `${o.all ? `revoked ${r.revoked.length} authorised IP entr${r.revoked.length === 1 ? 'y' : 'ies'}` : `revoked ${addr}`}${tokens}`);
    });
}
