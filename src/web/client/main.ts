/**
 * Entry point of the guest page bundle: the home form (`/`), the login page (`/login`) and the room
 * view (`/join/...`).
 * `window.confd` exposes the session's state for tests and debugging.
 */
import { adoptToken, identity, readJoinParams, rememberedName, rememberName, typedName } from './params.ts';
import { RoomSession, type AdaptiveDebug, type MediaStats, type SessionState, type RemoteSummary } from './room.ts';
import { RoomUi } from './ui.ts';
import { loginPage, renderHostStatus } from './auth.ts';
import { isRoomName, roomNameError, type Role, type RoomState } from '../../protocol/index.ts';
import { randomRoomName } from './random-name.ts';

export interface ConfdDebug {
  readonly state: SessionState;
  readonly peerId: string | null;
  peers(): string[];
  remote(): RemoteSummary[];
  local(): { mic: boolean; webcam: boolean; screen: boolean } | null;
  stats(): Promise<MediaStats>;
  peerStats(): Promise<Record<string, { audioBytesReceived: number; videoBytesReceived: number }>>;
  /** Our role and the room's lock/password state as the page knows them (null before a session). */
  host(): { role: Role; room: RoomState } | null;
  /** Adaptive stream and dynacast: tiles reported, layers received, encodings sent. */
  adaptive(): Promise<AdaptiveDebug>;
}

declare global {
  interface Window {
    confd: ConfdDebug;
  }
}

function idle(state: SessionState): ConfdDebug {
  return {
    state,
    peerId: null,
    peers: () => [],
    remote: () => [],
    local: () => null,
    stats: async () => ({ audioBytesReceived: 0, videoBytesReceived: 0, audioBytesSent: 0, videoBytesSent: 0 }),
    peerStats: async () => ({}),
    host: () => null,
    adaptive: async () => ({ receiving: [], sending: [] }),
  };
}

/** The server's host-protection settings, from the page's data- attributes. */
function hostSettings(): { hostProtected: boolean; userAuth: boolean } {
  return { hostProtected: document.body.dataset.hostProtected === '1', userAuth: document.body.dataset.userAuth === '1' };
}

function homePage(): void {
  const form = document.getElementById('home-form') as HTMLFormElement | null;
  const room = document.getElementById('home-room') as HTMLInputElement | null;
  const name = document.getElementById('home-name') as HTMLInputElement | null;
  if (!form || !room || !name) return;
  if (!name.value) name.value = rememberedName() ?? '';
  if (!room.value) room.value = randomRoomName('room');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const r = room.value.trim();
    if (!isRoomName(r)) {
      room.setCustomValidity(roomNameError(r));
      room.reportValidity();
      return;
    }
    const n = typedName(name.value);
    if (n) rememberName(n);
    const q = n ? `?${new URLSearchParams({ name: n })}` : '';
    location.assign(`/join/${encodeURIComponent(r)}${q}`);
  });
  room.addEventListener('input', () => room.setCustomValidity(''));
  const { hostProtected, userAuth } = hostSettings();
  void renderHostStatus({ offerLogin: hostProtected || userAuth, next: '/' });
}

function roomPage(): void {
  const room = document.body.dataset.room ?? '';
  const ui = new RoomUi();
  // Credentials never go in URLs; the server refuses such links too, this is the belt to its braces.
  const q = new URLSearchParams(location.search);
  if (q.has('username') || q.has('password')) {
    window.confd = idle('refused');
    scrubCredentials();
    ui.setStatus('refused', 'Not admitted');
    ui.showMessage('Credentials are not accepted in links', 'This link carries a user name or password. confd never takes credentials in a URL.', [{ label: 'Start page', href: '/' }]);
    return;
  }
  const token = adoptToken();
  const params = readJoinParams(room);
  const { peerId, session: secret } = identity();
  let session: RoomSession | null = null;
  window.confd = {
    get state() {
      return session?.state ?? 'idle';
    },
    get peerId() {
      return peerId;
    },
    peers: () => session?.peers() ?? [],
    remote: () => session?.remote() ?? [],
    local: () => session?.local() ?? null,
    stats: () => session?.stats() ?? idle('idle').stats(),
    peerStats: () => session?.peerStats() ?? Promise.resolve({}),
    host: () => session?.hostView() ?? null,
    adaptive: () => session?.adaptive() ?? Promise.resolve({ receiving: [], sending: [] }),
  };

  const begin = (name: string, p = params) => {
    rememberName(name);
    session = new RoomSession({ params: p, name, peerId, session: secret, token, ui, hostProtected: hostSettings().hostProtected });
    void session.start().then(() => {
      if (p.notify) session?.showShareNotice();
      if (p.screen) void session?.startScreenFromLink();
    });
  };

  if (params.name) return begin(params.name);

  // No name in the link: ask for one (and which devices to start with) first.
  ui.showRoom(false);
  ui.setStatus('idle', 'Not connected');
  const lobby = document.getElementById('lobby')!;
  const form = document.getElementById('lobby-form') as HTMLFormElement;
  const nameInput = document.getElementById('lobby-name') as HTMLInputElement;
  const audio = document.getElementById('lobby-audio') as HTMLInputElement;
  const video = document.getElementById('lobby-video') as HTMLInputElement;
  nameInput.value = rememberedName() ?? '';
  audio.checked = params.audio;
  video.checked = params.video;
  lobby.hidden = false;
  nameInput.focus();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = typedName(nameInput.value);
    if (!name) return;
    lobby.hidden = true;
    begin(name, { ...params, name, audio: audio.checked, video: video.checked });
  });
}

/** Takes credentials someone put in a link out of the address bar (and so out of history). */
function scrubCredentials(): void {
  const url = new URL(location.href);
  if (!url.searchParams.has('username') && !url.searchParams.has('password')) return;
  url.searchParams.delete('username');
  url.searchParams.delete('password');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}

function main(): void {
  const page = document.body.dataset.page;
  window.confd = idle('idle');
  if (page === 'home') homePage();
  else if (page === 'login') loginPage();
  else if (page === 'room') roomPage();
  else if (page === 'message') {
    window.confd = idle('refused');
    scrubCredentials();
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main, { once: true });
else main();
