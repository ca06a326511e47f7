/** A token bucket: `burst` messages at once, refilled at `perSecond`. */
export interface RateLimiter {
  take(): boolean;
}

export function tokenBucket(perSecond: number, burst: number, now: () => number = () => performance.now()): RateLimiter {
  let tokens = burst;
  let last = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) / 1000) * perSecond);
      last = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
