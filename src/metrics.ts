/** Process-wide counters exported on /metrics. Plain numbers: one process, one event loop. */
export const counters = {
  loginsOk: 0,
  loginsFailed: 0,
  loginsBlocked: 0,
  tokensIssued: 0,
  apiRequests: 0,
  apiUnauthorized: 0,
};
