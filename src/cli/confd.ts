import { Command, CommanderError, Option } from 'commander';
import { loadConfig, type ConfigFlags } from '../config/load.ts';
import { reachabilityWarnings, readLocalPortRange } from '../config/reachability.ts';
import { redactConfig } from '../config/redact.ts';
import { isConfdError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { Daemon } from '../daemon.ts';
import { VERSION } from '../version.ts';
import { UsageError } from './usage-error.ts';
import { readNewPassword, PasswordMismatch } from './password-input.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function fail(message: string, code: number): never {
  process.stderr.write(`confd: ${message}\n`);
  process.exit(code);
}

async function start(flags: ConfigFlags): Promise<void> {
  let config;
  try {
    config = loadConfig(flags);
  } catch (e) {
    if (isConfdError(e)) fail(e.message, 2);
    throw e;
  }
  const log = createLogger(config.log.level);
  // The handlers come first: mediasoup adds and the worker pool removes a SIGTERM listener while the
  // daemon starts, and a signal that finds none kills the process outright (no shutdown, exit by signal).
  // A signal during start-up stops the daemon as soon as it is up.
  let daemon: Daemon | undefined;
  let stopping = false;
  const stop = (d: Daemon) =>
    d
      .stop()
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((e: unknown) => {
        log.fatal({ err: e }, 'error while stopping');
        process.exit(1);
      });
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, daemon ? 'shutting down' : 'shutting down once started');
    if (daemon) void stop(daemon);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Warnings, not errors: a public-looking config on a test box is legitimate, and the log is where a
  // sysadmin looks when guests see the page but get no media.
  for (const w of reachabilityWarnings(config, { ephemeralPorts: readLocalPortRange() })) log.warn({ key: w.key, fix: w.fix }, w.problem);
  const { startDaemon } = await import('../daemon.ts');
  try {
    daemon = await startDaemon(config, log);
  } catch (e) {
    if (isConfdError(e)) {
      log.fatal({ code: e.code }, e.message);
      fail(e.message, 1);
    }
    log.fatal({ err: e }, 'confd failed to start');
    fail(`failed to start: ${(e as Error).message}`, 1);
  }
  if (stopping) void stop(daemon);
  process.on('uncaughtException', (e) => {
    // Unknown state: log it and exit non-zero so systemd restarts a clean process.
    log.fatal({ err: e }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (e) => {
    log.error({ err: e }, 'unhandled promise rejection');
  });
}

function checkConfig(flags: ConfigFlags & { strict?: boolean }): void {
  let config;
  try {
    config = loadConfig(flags);
  } catch (e) {
    if (isConfdError(e)) fail(e.message, 1);
    throw e;
  }
  process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
  const warnings = reachabilityWarnings(config, { ephemeralPorts: readLocalPortRange() });
  for (const w of warnings) process.stderr.write(`confd: warning: ${w.key}: ${w.problem}; fix: ${w.fix}\n`);
  process.stderr.write(`confd: configuration is valid (${config.configFile ?? 'embedded default'})\n`);
  if (flags.strict && warnings.length > 0) {
    fail(`--strict: ${warnings.length} warning${warnings.length === 1 ? '' : 's'} above; fix ${warnings.length === 1 ? 'it' : 'them'} or drop --strict`, 1);
  }
}

async function hashPasswordCommand(opts: { passwordStdin?: boolean }): Promise<void> {
  const { hashPassword, passwordProblem } = await import('../auth/passwords.ts');
  const pw = await readNewPassword(Boolean(opts.passwordStdin));
  const problem = passwordProblem(pw);
  if (problem) fail(problem, 1);
  process.stdout.write(`${await hashPassword(pw)}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('confd')
    .description('Self-hosted video-conferencing daemon (mediasoup SFU), administered with confctl')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run "confd --help" for usage)')
    .exitOverride();

  const configOption = () => new Option('-c, --config <file>', 'JSON config file (env CONFD_CONFIG); without one the embedded default is used');

  program
    .command('start')
    .description('run the daemon in the foreground; logs JSON lines to stdout (check-config\'s warnings at warn level); SIGTERM/SIGINT stop it gracefully')
    .addOption(configOption())
    .option('-d, --data-dir <dir>', 'data directory (env CONFD_DATA_DIR, systemd STATE_DIRECTORY; default ./data)')
    .option('-s, --socket <path>', 'admin socket path (env CONFD_SOCKET; default RUNTIME_DIRECTORY/confd.sock or DATA_DIR/confd.sock)')
    .option('-l, --listen <host>', 'HTTP listen address (default 127.0.0.1)')
    .option('-p, --port <n>', 'HTTP port, 0 for any free port (default 3010)')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .action((opts: ConfigFlags) => start(opts));

  program
    .command('check-config')
    .description(
      'validate the configuration and print it with secrets redacted; exits 1 naming the offending key. ' +
        'Setups remote guests cannot use (media on loopback, http:// public URL, port collisions, ...) are warnings on stderr, exit 0',
    )
    .addOption(configOption())
    .option('-d, --data-dir <dir>', 'data directory override')
    .option('-s, --socket <path>', 'admin socket override')
    .option('--strict', 'exit 1 when there are warnings too (for CI and deploy scripts)')
    .action((opts: ConfigFlags & { strict?: boolean }) => checkConfig(opts));

  program
    .command('hash-password')
    .description('print an argon2id hash for host.users[].password (asks twice on a terminal)')
    .option('--password-stdin', 'read the password from standard input')
    .action((opts: { passwordStdin?: boolean }) => hashPasswordCommand(opts));

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      process.exit(2);
    }
    if (e instanceof UsageError) fail(e.message, 2);
    if (e instanceof PasswordMismatch) fail(e.message, 1);
    throw e;
  }
}
