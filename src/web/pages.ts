/**
 * The guest page's HTML, as functions of their inputs. Everything interpolated is escaped; nothing
 * executable is inline (the CSP allows scripts from 'self' only): the page's script reads what it
 * needs from data- attributes and the address bar.
 */
import { ROOM_NAME_HELP } from '../protocol/room-name.ts';

export interface AssetVersions {
  js: string;
  css: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function layout(opts: { title: string; page: string; body: string; assets: AssetVersions; attrs?: Record<string, string>; script?: boolean }): string {
  const attrs = Object.entries(opts.attrs ?? {})
    .map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`)
    .join('');
  const script = opts.script === false ? '' : `\n<script src="/assets/app.js?v=${escapeHtml(opts.assets.js)}" defer></script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="dark">
<title>${escapeHtml(opts.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css?v=${escapeHtml(opts.assets.css)}">${script}
</head>
<body data-page="${escapeHtml(opts.page)}"${attrs}>
${opts.body}
</body>
</html>
`;
}

/** What the page script needs to know about host protection (config `host.protected`, `host.user_auth`). */
export interface HostOptions {
  hostProtected: boolean;
  userAuth: boolean;
}

const NO_HOST_PROTECTION: HostOptions = { hostProtected: false, userAuth: false };

function hostAttrs(h: HostOptions): Record<string, string> {
  return { 'host-protected': h.hostProtected ? '1' : '0', 'user-auth': h.userAuth ? '1' : '0' };
}

/** The "Log in as host" / "Logged in as NAME · Log out" line; the script fills it in. */
const HOST_STATUS = `<p id="host-status" class="host-status" aria-live="polite" hidden></p>`;

/** `/`: create or join a room. */
export function homePage(assets: AssetVersions, opts: { room?: string; name?: string; error?: string; host?: HostOptions } = {}): string {
  const error = opts.error ? `<p class="form-error" role="alert">${escapeHtml(opts.error)}</p>` : '';
  return layout({
    title: 'confd — video meetings',
    page: 'home',
    assets,
    attrs: hostAttrs(opts.host ?? NO_HOST_PROTECTION),
    body: `<main class="home">
  <section class="card home-card">
    <h1><span class="brand-mark" aria-hidden="true"></span>confd</h1>
    <p class="lead">Start a meeting or join one. Share the room link with the people you want to talk to.</p>
    ${error}
    <form id="home-form" class="form" action="/join/" method="get" autocomplete="on">
      <label for="home-room">Room name</label>
      <input id="home-room" name="room" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}" value="${escapeHtml(opts.room ?? '')}" placeholder="e.g. standup" title="${escapeHtml(ROOM_NAME_HELP)}" autocapitalize="off" spellcheck="false">
      <p class="hint">${escapeHtml(ROOM_NAME_HELP)}</p>
      <label for="home-name">Your name</label>
      <input id="home-name" name="name" maxlength="64" value="${escapeHtml(opts.name ?? '')}" placeholder="How others will see you" autocomplete="nickname">
      <button id="home-join" class="primary" type="submit">Join room</button>
    </form>
    ${HOST_STATUS}
  </section>
</main>`,
  });
}

/**
 * `/login`: the host login form. The script POSTs JSON to /login (never a URL with credentials; without
 * the script the form still POSTs, so nothing lands in the address bar) and keeps the session token in
 * sessionStorage.host_token; `?next=` (a same-site path) says where to go afterwards.
 */
export function loginPage(assets: AssetVersions, host: HostOptions = NO_HOST_PROTECTION): string {
  return layout({
    title: 'Log in — confd',
    page: 'login',
    assets,
    attrs: hostAttrs(host),
    body: `<main class="home">
  <section class="card home-card">
    <h1><span class="brand-mark" aria-hidden="true"></span>Log in</h1>
    <p class="lead">Hosts log in to open rooms and to let their guests in.</p>
    <p id="login-error" class="form-error" role="alert" hidden></p>
    <form id="login-form" class="form" action="/login" method="post" autocomplete="on">
      <label for="login-user">User name</label>
      <input id="login-user" name="username" required maxlength="64" autocomplete="username" autocapitalize="off" spellcheck="false">
      <label for="login-password">Password</label>
      <input id="login-password" name="password" type="password" required maxlength="1024" autocomplete="current-password">
      <button id="login-submit" class="primary" type="submit">Log in</button>
    </form>
    ${HOST_STATUS}
    <p class="hint back-link"><a id="login-back" href="/">Back to the start page</a></p>
  </section>
</main>`,
  });
}

/** `/join/ROOM`: the room view; the script fills it in. */
export function roomPage(assets: AssetVersions, room: string, host: HostOptions = NO_HOST_PROTECTION): string {
  return layout({
    title: `${room} — confd`,
    page: 'room',
    assets,
    attrs: { room, ...hostAttrs(host) },
    body: `<div class="app">
  <header class="bar">
    <a class="brand" href="/" aria-label="confd home"><span class="brand-mark" aria-hidden="true"></span>confd</a>
    <span class="room-name" title="Room">${escapeHtml(room)}</span>
    <span id="room-flags" class="room-flags"><span id="flag-host" class="pill host" hidden>You are a host</span><span id="flag-locked" class="pill locked" hidden>Locked</span><span id="flag-password" class="pill" hidden>Password</span><span id="flag-recording" class="pill recording" role="status" title="This call is being recorded" hidden>Recording</span></span>
    <span id="status" class="status" role="status" aria-live="polite" data-state="connecting">Connecting…</span>
  </header>
  <div id="notices" class="notices" aria-live="polite"></div>
  <section id="lobby" class="card lobby" hidden>
    <h2>Join “${escapeHtml(room)}”</h2>
    <form id="lobby-form" class="form">
      <label for="lobby-name">Your name</label>
      <input id="lobby-name" name="name" maxlength="64" required placeholder="How others will see you" autocomplete="nickname">
      <label class="check"><input id="lobby-audio" type="checkbox" checked> Microphone on</label>
      <label class="check"><input id="lobby-video" type="checkbox" checked> Camera on</label>
      <button class="primary" type="submit">Join</button>
    </form>
  </section>
  <section id="pw-prompt" class="card lobby" hidden>
    <h2>This room needs a password</h2>
    <p id="pw-prompt-text" class="hint">Ask the host for the room password.</p>
    <form id="pw-prompt-form" class="form">
      <label for="pw-prompt-input">Room password</label>
      <input id="pw-prompt-input" type="password" maxlength="128" required autocomplete="off">
      <button class="primary" type="submit">Join</button>
    </form>
  </section>
  <section id="message" class="card message" hidden role="alert">
    <h2 id="message-title"></h2>
    <p id="message-text"></p>
    <div id="message-actions" class="actions"></div>
  </section>
  <main id="grid" class="grid" aria-label="Participants" data-count="0"></main>
  <nav id="controls" class="controls" aria-label="Call controls" hidden>
    <button id="btn-mic" type="button" class="toggle" aria-pressed="false">Mute</button>
    <button id="btn-cam" type="button" class="toggle" aria-pressed="false">Stop video</button>
    <button id="btn-screen" type="button" class="toggle" aria-pressed="false">Share screen</button>
    <button id="btn-copy" type="button">Copy link</button>
    <span id="host-controls" class="host-controls" role="group" aria-label="Host controls" hidden>
      <button id="btn-lock" type="button" aria-pressed="false">Lock room</button>
      <button id="btn-room-password" type="button">Set password</button>
      <button id="btn-lobby" type="button" aria-pressed="false" title="With the lobby on, new guests wait until a host lets them in">Lobby: off</button>
      <button id="btn-end-meeting" type="button" class="danger" title="Disconnects everyone, guests waiting in the lobby too">End meeting</button>
    </span>
    <button id="btn-leave" type="button" class="danger">Leave</button>
  </nav>
  <form id="host-pw-form" class="card host-pw-form" hidden>
    <label for="host-pw-input">New room password</label>
    <div class="row">
      <input id="host-pw-input" type="password" maxlength="128" required autocomplete="new-password" placeholder="Guests will need it to join">
      <button class="primary" type="submit">Set</button>
      <button id="host-pw-cancel" type="button">Cancel</button>
    </div>
  </form>
</div>
<noscript><p class="card message">This page needs JavaScript to connect your camera and microphone.</p></noscript>`,
  });
}

/** A page that only says something (a refusal, a bad link); its script only tidies the address bar. */
export function messagePage(assets: AssetVersions, opts: { title: string; message: string; detail?: string }): string {
  const detail = opts.detail ? `\n    <p class="hint">${escapeHtml(opts.detail)}</p>` : '';
  return layout({
    title: `${opts.title} — confd`,
    page: 'message',
    assets,
    body: `<main class="home">
  <section class="card message" role="alert">
    <h1 id="message-title">${escapeHtml(opts.title)}</h1>
    <p id="message-text">${escapeHtml(opts.message)}</p>${detail}
    <div class="actions"><a class="button" href="/">Go to the start page</a></div>
  </section>
</main>`,
  });
}
