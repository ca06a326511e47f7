import type { Config } from './load.ts';
import { redactUrlPassword } from '../redis/url.ts';

const REDACTED = '[redacted]';

/** A copy of the config safe to print or log: secrets replaced, hashes and plaintext alike. */
export function redactConfig(cfg: Config): Config {
  const copy = structuredClone(cfg);
  if (copy.jwt.secret !== null) copy.jwt.secret = REDACTED;
  if (copy.api.keySecret !== null) copy.api.keySecret = REDACTED;
  if (copy.turn.secret !== null) copy.turn.secret = REDACTED;
  if (copy.cluster.redis !== null) copy.cluster.redis = redactUrlPassword(copy.cluster.redis);
  copy.host.users = copy.host.users.map((u) => ({ ...u, password: REDACTED }));
  return copy;
}
