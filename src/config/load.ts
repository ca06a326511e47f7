import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfdError } from '../errors.ts';
import { DEFAULT_CONFIG } from './defaults.ts';
import { fileConfigSchema, type FileConfig } from './schema.ts';
import { CONFIG_FILE_WORDS, describeIssues } from '../validation/issues.ts';

/** The validated config the daemon runs with: every key present, paths absolute. */
export type Config = FileConfig & {
  /** The file it came from, or null for the embedded default. */
  configFile: string | null;
  /** Absolute path of the admin socket (resolved from flags, env, file, systemd or the data dir). */
  socketPath: string;
};

/** Overrides given on the command line; each wins over env and file. */
export interface ConfigFlags {
  config?: string;
  dataDir?: string;
  socket?: string;
  listen?: string;
  port?: string | number;
  logLevel?: string;
}

type Env = Record<string, string | undefined>;

export const SOCKET_FILE_NAME = 'confd.sock';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars from the override replace the base. */
function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(e);
    throw new ConfdError('config_invalid', `cannot read config file ${file}: ${why}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isPlainObject(parsed)) throw new Error('the top level must be a JSON object');
    return parsed;
  } catch (e) {
    throw new ConfdError('config_invalid', `config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function firstDir(list: string | undefined): string | undefined {
  // systemd passes colon-separated lists when several directories are configured.
  const first = list?.split(':')[0];
  return first ? first : undefined;
}

/**
 * Builds the effective config: embedded defaults <- config file <- environment <- flags.
 * Throws ConfdError('config_invalid') listing every offending key path.
 */
export function loadConfig(flags: ConfigFlags = {}, env: Env = process.env, cwd = process.cwd()): Config {
  const configFile = flags.config ?? env.CONFD_CONFIG ?? null;
  const absConfigFile = configFile ? resolve(cwd, configFile) : null;
  const fileValues = absConfigFile ? readConfigFile(absConfigFile) : {};
  // Relative paths inside a config file are relative to the file, as a sysadmin reading it expects.
  const baseDir = absConfigFile ? dirname(absConfigFile) : cwd;

  const merged = deepMerge(structuredClone(DEFAULT_CONFIG), fileValues) as Record<string, any>;
  const fileHasDataDir = isPlainObject(fileValues) && 'dataDir' in fileValues;

  if (!fileHasDataDir && firstDir(env.STATE_DIRECTORY)) merged.dataDir = firstDir(env.STATE_DIRECTORY);
  if (env.CONFD_DATA_DIR) merged.dataDir = env.CONFD_DATA_DIR;
  if (env.CONFD_SOCKET) merged.admin = { ...merged.admin, socket: env.CONFD_SOCKET };

  const flagErrors: string[] = [];
  if (flags.dataDir !== undefined) merged.dataDir = flags.dataDir;
  if (flags.socket !== undefined) merged.admin = { ...merged.admin, socket: flags.socket };
  if (flags.listen !== undefined) merged.server = { ...merged.server, listen: flags.listen };
  if (flags.port !== undefined) {
    const p = String(flags.port);
    if (!/^[0-9]{1,5}$/.test(p)) flagErrors.push(`--port: must be a whole number from 0 to 65535 (got "${p}")`);
    else merged.server = { ...merged.server, port: Number(p) };
  }
  if (flags.logLevel !== undefined) merged.log = { ...merged.log, level: flags.logLevel };

  const result = fileConfigSchema.safeParse(merged);
  const problems = [...flagErrors, ...(result.success ? [] : describeIssues(result.error.issues, CONFIG_FILE_WORDS))];
  if (problems.length > 0 || !result.success) {
    const where = absConfigFile ? `in ${absConfigFile}` : 'in the embedded default with overrides';
    throw new ConfdError('config_invalid', `invalid configuration ${where}:\n  ${problems.join('\n  ')}`);
  }
  const cfg = result.data;

  const dataDirFromFile = fileHasDataDir && flags.dataDir === undefined && !env.CONFD_DATA_DIR;
  cfg.dataDir = isAbsolute(cfg.dataDir) ? cfg.dataDir : resolve(dataDirFromFile ? baseDir : cwd, cfg.dataDir);
  if (cfg.server.tls.cert) cfg.server.tls.cert = resolve(baseDir, cfg.server.tls.cert);
  if (cfg.server.tls.key) cfg.server.tls.key = resolve(baseDir, cfg.server.tls.key);

  const runtimeDir = firstDir(env.RUNTIME_DIRECTORY);
  const socketPath = cfg.admin.socket
    ? resolve(flags.socket || env.CONFD_SOCKET ? cwd : baseDir, cfg.admin.socket)
    : runtimeDir
      ? join(runtimeDir, SOCKET_FILE_NAME)
      : join(cfg.dataDir, SOCKET_FILE_NAME);
  // The kernel caps sun_path at 108 bytes; say so now rather than fail with EINVAL later.
  if (Buffer.byteLength(socketPath) > 107) {
    throw new ConfdError(
      'config_invalid',
      `admin socket path is too long for a Unix socket (${Buffer.byteLength(socketPath)} bytes, max 107): ${socketPath}; set a shorter admin.socket or --socket`,
    );
  }
  return { ...cfg, configFile: absConfigFile, socketPath };
}
