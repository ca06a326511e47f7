/** The marker a secret is replaced with. */
const REDACTED = '[redacted]';

/** The URL with its password (and user) replaced, for logs and `confd check-config`. */
export function redactUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    // Built by hand: URL would percent-encode the brackets of the marker.
    const path = u.pathname === '/' ? '' : u.pathname;
    return `${u.protocol}//${u.username}:${REDACTED}@${u.host}${path}${u.search}`;
  } catch {
    return REDACTED;
  }
}
