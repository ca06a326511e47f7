/**
 * Where the login page may send the browser afterwards (`/login?next=...`). Pure, with no DOM, so the
 * rule is unit-tested under Node (safe-next.test.ts) exactly as the page runs it.
 *
 * Only a path on this origin is accepted: `next` is resolved against the origin and must stay on it,
 * and the text handed to `location.assign` must itself resolve to this origin. The second check is the
 * one that matters: `/.//evil.example/x` resolves to the path `//evil.example/x` on this origin, but
 * that path, assigned as it is, is a protocol-relative URL to evil.example. Anything else gives `/`.
 */
export function safeNext(raw: string | null, origin: string): string {
  if (!raw || raw.length > 2048) return '/';
  // Browsers read `\` as `/` in http(s) URLs and drop tabs and newlines: refuse them outright.
  // eslint-disable-next-line no-control-regex
  if (!raw.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(raw)) return '/';
  const result = sameOriginPath(raw, origin);
  if (result === null) return '/';
  // What is assigned must land here too, whatever the browser makes of it.
  if (sameOriginPath(result, origin) !== result) return '/';
  const { pathname } = new URL(result, origin);
  if (pathname === '/login' || pathname === '/logout') return '/';
  return result;
}

/** `text` resolved against `origin`: its path, query and fragment if it stays on `origin` and reads as a path; else null. */
function sameOriginPath(text: string, origin: string): string | null {
  let url: URL;
  try {
    url = new URL(text, origin);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  const path = url.pathname + url.search + url.hash;
  // A path that begins with two slashes (or a slash and a backslash) is a network-path reference.
  if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return null;
  return path;
}
