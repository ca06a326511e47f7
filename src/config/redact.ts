import type { Config } from './load.ts';

const REDACTED = '[redacted]';

/** A copy of the config safe to print or log: secrets replaced, hashes and plaintext alike. */
export function redactConfig(cfg: Config): Config {
  const copy = structuredClone(cfg);
  if (copy.jwt.secret !== null) copy.jwt.secret = REDACTED;
  if (copy.api.keySecret !== null) copy.api.keySecret = REDACTED;
  if (copy.turn.secret !== null) copy.turn.secret = REDACTED;
  copy.host.users = copy.host.users.map((u) => ({ ...u, password: REDACTED }));
  return copy;
}
