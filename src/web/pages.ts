/**
 * The guest page's HTML, as functions of their inputs. Everything interpolated is escaped; nothing
 * executable is inline (the CSP allows scripts from 'self' only): the page's script reads what it
 * needs from data- attributes and the address bar.
 */
import { ROOM_NAME_HELP } from '../sfu/room-name.ts';

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

/** `/`: create or join a room. */
export function homePage(assets: AssetVersions, opts: { room?: string; name?: string; error?: string } = {}): string {
  const error = opts.error ? `<p class="form-error" role="alert">${escapeHtml(opts.error)}</p>` : '';
  return layout({
    title: 'confd — video meetings',
    page: 'home',
    assets,
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
  </section>
</main>`,
  });
}

/** `/join/ROOM`: the room view; the script fills it in. */
export function roomPage(assets: AssetVersions, room: string): string {
  return layout({
    title: `${room} — confd`,
    page: 'room',
    assets,
    attrs: { room },
    body: `<div class="app">
  <header class="bar">
    <a class="brand" href="/" aria-label="confd home"><span class="brand-mark" aria-hidden="true"></span>confd</a>
    <span class="room-name" title="Room">${escapeHtml(room)}</span>
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
    <button id="btn-leave" type="button" class="danger">Leave</button>
  </nav>
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
