import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { adminRequest, DaemonUnreachable, type AdminResponse } from '../admin/client.ts';
import { VERSION } from '../version.ts';
import { PasswordMismatch } from './password-input.ts';
import { UsageError } from './usage-error.ts';
import { addRecordCommands } from './record-commands.ts';
import { addIpCommands, addTokenCommands, addUserCommands } from './credential-commands.ts';
import { addAuditCommand, addStatusCommands } from './status-commands.ts';
import { addLobbyCommands, addRoomCommands } from './room-commands.ts';
import type { Show } from './command-kit.ts';
import { printable, printableLines } from './format.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

interface GlobalOpts {
  socket?: string;
  config?: string;
  json?: boolean;
}

/** Refused by the daemon: exit 1 with its message. */
class Refused extends Error {
  readonly body: unknown;
  constructor(message: string, body: unknown) {
    super(message);
    this.body = body;
  }
}

const SYSTEMD_SOCKET = '/run/confd/confd.sock';

/** Same precedence as the daemon: --socket, CONFD_SOCKET, the config's, then the usual places. */
async function socketPath(g: GlobalOpts): Promise<string> {
  if (g.socket) return resolve(g.socket);
  if (process.env.CONFD_SOCKET) return resolve(process.env.CONFD_SOCKET);
  const configFile = g.config ?? process.env.CONFD_CONFIG;
  if (configFile) {
    const { loadConfig } = await import('../config/load.ts');
    try {
      return loadConfig({ config: configFile }).socketPath;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (process.env.CONFD_DATA_DIR) return resolve(process.env.CONFD_DATA_DIR, 'confd.sock');
  const local = resolve('data', 'confd.sock');
  if (!existsSync(local) && existsSync(SYSTEMD_SOCKET)) return SYSTEMD_SOCKET;
  return local;
}

/** Commander's error text without its "error: " prefix; help shown for a missing command says so. */
function commanderMessage(e: CommanderError): string {
  if (e.code === 'commander.help') return 'no command given; run "confctl --help" for the commands';
  return e.message.replace(/^error: /, '');
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('confctl')
    .description(
      'Administer a running confd over its admin socket.\n\nExit codes: 0 ok, 1 refused or failed, 2 usage error, 3 daemon not reachable.',
    )
    .version(VERSION, '-V, --version')
    .option('-s, --socket <path>', `admin socket (env CONFD_SOCKET; default ./data/confd.sock, else ${SYSTEMD_SOCKET})`)
    .option('-c, --config <file>', "take the socket path from confd's config file (env CONFD_CONFIG)")
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError('(run "confctl --help" for usage)')
    .exitOverride();

  const g = () => program.opts<GlobalOpts>();
  const out = (text: string) => process.stdout.write(`${text}\n`);

  async function call(method: string, path: string, body?: unknown): Promise<any> {
    const res: AdminResponse = await adminRequest(await socketPath(g()), method, path, body);
    if (res.status >= 400) {
      const msg = res.body?.error?.message ?? `daemon answered HTTP ${res.status}`;
      throw new Refused(msg, res.body);
    }
    return res.body;
  }

  /** Prints JSON with --json, else the human form (no control character reaches the terminal raw). */
  const show: Show = (body, human) => out(g().json ? JSON.stringify(body, null, 2) : printableLines(human()));

  addUserCommands(program, call, show);
  addTokenCommands(program, call, show);
  addIpCommands(program, call, show);
  addStatusCommands(program, call, show);
  addRoomCommands(program, call, show);
  addLobbyCommands(program, call, show);
  addAuditCommand(program, call, show);
  addRecordCommands(program, call, show);

  try {
    await program.parseAsync(argv);
  } catch (e) {
    const json = argv.includes('--json');
    const emit = (code: string, message: string, exit: number): never => {
      if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
      else process.stderr.write(`confctl: ${printable(message)}\n`);
      process.exit(exit);
    };
    if (e instanceof CommanderError) {
      // Commander has already printed its message (or the help) on stderr.
      if (e.exitCode === 0) process.exit(EXIT.ok);
      if (json) emit('usage', commanderMessage(e), EXIT.usage);
      process.exit(EXIT.usage);
    }
    if (e instanceof UsageError) emit('usage', e.message, EXIT.usage);
    if (e instanceof DaemonUnreachable) emit('unreachable', e.message, EXIT.unreachable);
    if (e instanceof Refused) {
      if (json) {
        process.stdout.write(`${JSON.stringify(e.body)}\n`);
        process.exit(EXIT.failed);
      }
      emit('refused', e.message, EXIT.failed);
    }
    if (e instanceof PasswordMismatch) emit('refused', e.message, EXIT.failed);
    throw e;
  }
}

