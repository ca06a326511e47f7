/**
 * How fast one address may make the cluster place new rooms, counted in Redis so that the limit is
 * the cluster's, not each node's: an address spreading its joins over N nodes gets no more than
 * against one (issue 21: 212 rooms placed in 0.6 s on two nodes against a burst of 100).
 *
 * Only placements are counted here: a join to a room some node already holds costs a Redis read,
 * which each node's own hello bucket bounds; and a join that is sent on to the room's node is not
 * counted twice (there the room is already held). An office behind one NAT joining one meeting costs
 * one placement.
 *
 * A token bucket per address (`confd:placements:<address>`), refilled on Redis's clock (TIME), so
 * nodes with skewed clocks count alike; each key expires once its bucket would be full again.
 */
import type { RedisConnection } from '../redis/connection.ts';

export const PLACEMENT_KEY_PREFIX = 'confd:placements:';

const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(v[1]), tonumber(v[2])
if (not tokens) or (not at) or tokens ~= tokens or tokens > burst then tokens, at = burst, now end
if at > now then at = now end
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return ok
`;

export interface PlacementRate {
  /** Takes one placement from `address`'s bucket; false when it has none left. */
  take(address: string): Promise<boolean>;
}

export function createPlacementRate(redis: RedisConnection, rate: { perSecond: number; burst: number }): PlacementRate {
  return {
    take: async (address) =>
      (await redis.run('count a room placement', (c) => c.eval(TAKE, { keys: [PLACEMENT_KEY_PREFIX + address], arguments: [String(rate.perSecond), String(rate.burst)] }))) === 1,
  };
}
