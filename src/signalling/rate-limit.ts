/** A token bucket: `burst` messages at once, refilled at `perSecond`. */
export interface RateLimiter {
  take(): boolean;
  /** Refilled to its whole burst: forgetting it loses nothing (a new one starts full). */
  full(): boolean;
}

export function tokenBucket(perSecond: number, burst: number, now: () => number = () => performance.now()): RateLimiter {
  let tokens = burst;
  let last = now();
  const refill = () => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * perSecond);
    last = t;
  };
  return {
    take() {
      refill();
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
    full() {
      refill();
      return tokens >= burst;
    },
  };
}
