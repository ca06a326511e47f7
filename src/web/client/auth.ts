/**
 * Host login on the page: the login form (`/login`), the "Log in as host" / "Logged in as NAME · Log out"
 * line, and logout. The session token from POST /login lives in sessionStorage.host_token (this tab
 * only); the room page sends it as `&host=` on the signalling URL. Credentials only ever travel in a
 * JSON POST body, never in a URL.
 */
import { httpStatus, type ErrorCode } from '../../protocol/index.ts';
import { clearHostToken, forgetPeerToken, hostToken, setHostToken } from './params.ts';
import { safeNext as sameOriginNext } from './safe-next.ts';

export interface SessionInfo {
  user: string;
  host: boolean;
}

/**
 * Where to go after logging in: a same-origin path (`/join/standup?name=Ann`), never another origin
 * (`//evil.example`, `/.//evil.example`, `https://…`, `/\evil`), nor the login page itself. Anything
 * else gives `/`. The rule itself is in safe-next.ts.
 */
export function safeNext(raw: string | null, origin: string = location.origin): string {
  return sameOriginNext(raw, origin);
}

/** `/login?next=` for coming back to where we are now. */
export function loginHref(back: string = location.pathname + location.search): string {
  const next = safeNext(back);
  return next === '/' ? '/login' : `/login?${new URLSearchParams({ next })}`;
}

/** GET /session with the kept token: the user when the login is still good, else null (and the token is dropped). */
export async function currentSession(): Promise<SessionInfo | null> {
  const token = hostToken();
  if (!token) return null;
  try {
    const r = await fetch('/session', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    if (r.status === httpStatus('no_session')) {
      clearHostToken();
      return null;
    }
    if (!r.ok) return null;
    const body = (await r.json()) as Partial<SessionInfo>;
    return typeof body.user === 'string' ? { user: body.user, host: body.host === true } : null;
  } catch {
    return null;
  }
}

/** POST /logout with the kept token; the token is forgotten whatever the answer. */
export async function logout(): Promise<void> {
  const token = hostToken();
  clearHostToken();
  if (!token) return;
  try {
    await fetch('/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } catch {
    /* the session ends on the server anyway when it expires */
  }
}

function link(text: string, href: string, id: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.textContent = text;
  a.href = href;
  a.id = id;
  return a;
}

/**
 * Fills in `#host-status`: "Logged in as NAME · Log out" when GET /session says so; otherwise
 * "Log in as host" when the server has host protection (or participant logins) on.
 */
export async function renderHostStatus(opts: { offerLogin: boolean; next?: string }): Promise<void> {
  const box = document.getElementById('host-status');
  if (!box) return;
  const session = await currentSession();
  if (session) {
    const name = document.createElement('strong');
    name.id = 'host-user';
    name.textContent = session.user;
    const out = document.createElement('button');
    out.type = 'button';
    out.id = 'host-logout';
    out.className = 'link-button';
    out.textContent = 'Log out';
    out.addEventListener('click', () => {
      out.disabled = true;
      void logout().then(() => renderHostStatus(opts));
    });
    box.replaceChildren('Logged in as ', name, ' · ', out);
    box.dataset.state = 'in';
    box.hidden = false;
    return;
  }
  box.dataset.state = 'out';
  if (!opts.offerLogin) {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  box.replaceChildren(link('Log in as host', loginHref(opts.next ?? location.pathname + location.search), 'host-login'));
  box.hidden = false;
}

/** The `/login` page. */
export function loginPage(): void {
  const form = document.getElementById('login-form') as HTMLFormElement | null;
  const user = document.getElementById('login-user') as HTMLInputElement | null;
  const password = document.getElementById('login-password') as HTMLInputElement | null;
  const submit = document.getElementById('login-submit') as HTMLButtonElement | null;
  const error = document.getElementById('login-error');
  if (!form || !user || !password || !submit || !error) return;
  const next = safeNext(new URLSearchParams(location.search).get('next'));
  const back = document.getElementById('login-back') as HTMLAnchorElement | null;
  if (back && next !== '/') {
    back.href = next;
    back.textContent = 'Back without logging in';
  }
  // The status line offers no login link here: this page is one.
  void renderHostStatus({ offerLogin: false });
  user.focus();

  let blockedUntil = 0;
  let countdown = 0;
  const showError = (text: string) => {
    error.textContent = text;
    error.hidden = false;
  };
  const tick = () => {
    const left = Math.ceil((blockedUntil - Date.now()) / 1000);
    if (left <= 0) {
      window.clearInterval(countdown);
      error.hidden = true;
      submit.disabled = false;
      return;
    }
    showError(`Too many attempts, try again in ${left} s.`);
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    const username = user.value.trim();
    if (!username || !password.value) return;
    submit.disabled = true;
    error.hidden = true;
    void (async () => {
      let r: Response;
      try {
        r = await fetch('/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, password: password.value }),
          cache: 'no-store',
          credentials: 'same-origin',
        });
      } catch {
        submit.disabled = false;
        return showError('Could not reach the server. Check your network and try again.');
      }
      const body = (await r.json().catch(() => null)) as { token?: string; user?: string; error?: { code?: ErrorCode; message?: string } } | null;
      if (r.ok && body?.token) {
        setHostToken(body.token);
        // The login speaks for this tab from now on; an old guest join link is not needed any more.
        forgetPeerToken();
        password.value = '';
        location.assign(next);
        return;
      }
      password.value = '';
      password.focus();
      const busy = r.status === httpStatus('busy');
      if (busy || body?.error?.code === 'login_in_progress') {
        // Not a block: the server is busy, or this login was already being checked. Say so; let them retry.
        submit.disabled = false;
        const seconds = Math.max(1, Number(r.headers.get('retry-after')) || 2);
        return showError(busy ? `The server is busy checking logins; try again in ${seconds} s.` : `A login is already being checked; try again in ${seconds} s.`);
      }
      if (r.status === httpStatus('too_many_attempts')) {
        const seconds = Math.max(1, Number(r.headers.get('retry-after')) || 60);
        blockedUntil = Date.now() + seconds * 1000;
        window.clearInterval(countdown);
        countdown = window.setInterval(tick, 1000);
        // The button stays off until the block ends.
        return showError(`Too many attempts, try again in ${seconds} s.`);
      }
      submit.disabled = false;
      if (r.status === httpStatus('invalid_credentials')) return showError('Wrong user name or password.');
      showError(body?.error?.message ? `Could not log in: ${body.error.message}` : `Could not log in (HTTP ${r.status}).`);
    })();
  });
}
