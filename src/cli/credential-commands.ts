/** `confctl user`, `token` and `ip`: the credentials the daemon keeps (host users, join tokens, authorised IPs). */
import type { Command } from 'commander';
import { parseDuration, DURATION_HELP } from '../validation/duration.ts';
import { normaliseIp } from '../store/ips.ts';
import { tableOr, shortTime } from './format.ts';
import { readNewPassword } from './password-input.ts';
import { UsageError } from './usage-error.ts';
import { readCommand, roomOption, type Call, type Show } from './command-kit.ts';

export function addUserCommands(program: Command, call: Call, show: Show): void {
  const user = program.command('user').description('manage host users (stored hashed with argon2id)');
  /** `add` and `passwd`: a user name, and a new password read twice from a terminal or once from stdin. */
  const withNewPassword = (usage: string, description: string, send: (name: string, password: string) => Promise<any>, done: (r: any) => string) =>
    user
      .command(usage)
      .description(description)
      .option('--password-stdin', 'read the password from standard input')
      .action(async (name: string, o: { passwordStdin?: boolean }) => {
        const r = await send(name, await readNewPassword(Boolean(o.passwordStdin)));
        show(r, () => done(r));
      });
  withNewPassword('add <name>', 'add a user; asks for the password twice on a terminal', (name, password) => call('POST', '/v1/users', { name, password }), (r) => `user ${r.name} added`);
  readCommand(user, call, show, {
    name: 'list',
    description: 'list users',
    path: '/v1/users',
    human: (r) => tableOr('no users', ['NAME', 'CREATED', 'UPDATED'], r.users, (u: any) => [u.name, shortTime(u.createdAt), shortTime(u.updatedAt)]),
  });
  user
    .command('remove <name>')
    .description('remove a user (and the authorised IPs it holds)')
    .action(async (name: string) => {
      const r = await call('DELETE', `/v1/users/${encodeURIComponent(name)}`);
      show(r, () => `user ${r.name} removed${r.removedIps ? `; ${r.removedIps} authorised IP entr${r.removedIps === 1 ? 'y' : 'ies'} revoked` : ''}${r.revokedTokens?.length ? `; ${r.revokedTokens.length} join token${r.revokedTokens.length === 1 ? '' : 's'} revoked` : ''}`);
    });
  withNewPassword(
    'passwd <name>',
    "change a user's password; asks twice on a terminal",
    (name, password) => call('PUT', `/v1/users/${encodeURIComponent(name)}/password`, { password }),
    (r) => `password of ${r.name} changed`,
  );
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
  readCommand(token, call, show, {
    name: 'list',
    description: 'list issued tokens (active, expired within the last day, revoked)',
    path: '/v1/tokens',
    human: (r) => tableOr('no tokens', ['ID', 'ROOM', 'USER', 'PRESENTER', 'EXPIRES', 'STATE'], r.tokens, (t: any) => [t.id, t.room, t.sub, t.presenter ? 'yes' : 'no', shortTime(t.expiresAt), t.state]),
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
  readCommand(ip, call, show, {
    name: 'list',
    description: 'list authorised IPs',
    path: '/v1/ips',
    human: (r) => tableOr('no authorised IPs', ['IP', 'USER', 'SINCE', 'LAST SEEN', 'EXPIRES'], r.ips, (e: any) => [e.ip, e.user, shortTime(e.since), shortTime(e.lastSeen), shortTime(e.expiresAt)]),
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
