/** Process-wide counters exported on /metrics. Plain numbers: one process, one event loop. */
export const counters = {
  loginsOk: 0,
  loginsFailed: 0,
  loginsBlocked: 0,
  tokensIssued: 0,
  apiRequests: 0,
  apiUnauthorized: 0,
  /** Logins refused at once because one for the same user or address was still being checked. */
  loginsBusy: 0,
  /** Logins answered 503 because the password-check queue was full. */
  loginsOverloaded: 0,
  /** /metrics requests refused for a wrong API key (401) or while that address is blocked (429). */
  metricsUnauthorized: 0,
  /** Database file rewrites. */
  dbWrites: 0,
};
