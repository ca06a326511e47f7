/**
 * The room view's DOM: tiles, status line, notices, messages, controls. Only textContent and
 * attributes are set from data, never HTML, so names from other participants cannot inject markup.
 */
import type { MediaKind, Role } from '../../protocol/index.ts';
import { SpeakerFocus } from './speaker-focus.ts';

export type Kind = MediaKind;
export type { Role };
export type HostAction = 'mute' | 'unmute' | 'kick';

export interface Action {
  label: string;
  href?: string;
  primary?: boolean;
  onClick?: () => void;
}

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function initials(label: string): string {
  // "Ann Lee (you)" -> "AL", "cy" -> "C"
  const parts = label.replace(/\s*\([^)]*\)\s*$/, '').trim().split(/\s+/).filter(Boolean);
  const s = parts.length >= 2 ? `${[...parts[0]!][0]}${[...parts[1]!][0]}` : ([...(parts[0] ?? '?')][0] ?? '?');
  return s.toUpperCase();
}

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement | null;
  label: HTMLElement;
  name: HTMLElement;
  avatar: HTMLElement;
  /** Host controls for this participant (remote camera tiles only); shown while we are a host. */
  actions: HTMLElement | null;
}

export class RoomUi {
  readonly #grid = $('grid');
  readonly #status = $('status');
  readonly #notices = $('notices');
  readonly #message = $('message');
  readonly #controls = $('controls');
  readonly #tiles = new Map<string, Tile>();
  readonly #roles = new Map<string, Role>();
  #soundBlocked = false;
  /** Who is audible now (the server's `speaking`): their tiles show the speaking indicator. */
  #speaking = new Set<string>();
  /** Who is shown large (speaker layout); never our own tile. */
  readonly #focus = new SpeakerFocus({
    self: () => [...this.#tiles.values()].find((t) => t.root.classList.contains('local'))?.root.dataset.peer ?? null,
    onChange: () => this.#layout(),
  });
  /** Called by a tile's host buttons (mute / remove that participant). */
  onHostAction: ((action: HostAction, peerId: string) => void) | null = null;

  readonly buttons = {
    mic: $('btn-mic') as HTMLButtonElement,
    cam: $('btn-cam') as HTMLButtonElement,
    screen: $('btn-screen') as HTMLButtonElement,
    copy: $('btn-copy') as HTMLButtonElement,
    leave: $('btn-leave') as HTMLButtonElement,
    lock: $('btn-lock') as HTMLButtonElement,
    password: $('btn-room-password') as HTMLButtonElement,
  };

  /** Our own role: host controls show only for a host, and go at once when the rights end. */
  setOwnRole(role: Role): void {
    document.body.dataset.role = role;
    $('host-controls').hidden = role !== 'host';
    $('flag-host').hidden = role !== 'host';
    for (const t of this.#tiles.values()) if (t.actions) t.actions.hidden = role !== 'host';
    if (role !== 'host') this.hideHostPasswordForm();
  }

  /** The room's lock and password, as the toolbar buttons and the header show them. */
  setRoomState(state: { locked: boolean; hasPassword: boolean }): void {
    const lock = this.buttons.lock;
    lock.textContent = state.locked ? 'Unlock room' : 'Lock room';
    lock.setAttribute('aria-pressed', String(state.locked));
    lock.classList.toggle('active', state.locked);
    this.buttons.password.textContent = state.hasPassword ? 'Clear password' : 'Set password';
    this.buttons.password.classList.toggle('active', state.hasPassword);
    $('flag-locked').hidden = !state.locked;
    $('flag-password').hidden = !state.hasPassword;
    if (state.hasPassword) this.hideHostPasswordForm();
  }

  /** A participant's role: a "host" badge on their tile. */
  setPeerRole(peerId: string, role: Role): void {
    this.#roles.set(peerId, role);
    for (const t of this.#tiles.values()) if (t.root.dataset.peer === peerId && !t.root.classList.contains('screen')) t.root.dataset.role = role;
  }

  /** The host's small form for a new room password; `onSubmit` gets the password. */
  showHostPasswordForm(onSubmit: (password: string) => void): void {
    const form = $('host-pw-form') as HTMLFormElement;
    const input = $('host-pw-input') as HTMLInputElement;
    const cancel = $('host-pw-cancel') as HTMLButtonElement;
    input.value = '';
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const pw = input.value;
      if (!pw) return;
      input.value = '';
      this.hideHostPasswordForm();
      onSubmit(pw);
    };
    cancel.onclick = () => this.hideHostPasswordForm();
    form.hidden = false;
    input.focus();
  }

  hideHostPasswordForm(): void {
    const form = $('host-pw-form') as HTMLFormElement;
    form.hidden = true;
    ($('host-pw-input') as HTMLInputElement).value = '';
  }

  /** The guest's room-password prompt (closed with CLOSE_CODES.passwordRequired); `onSubmit` gets the password. */
  showPasswordPrompt(text: string, onSubmit: (password: string) => void): void {
    this.showRoom(false);
    this.hideMessage();
    $('lobby').hidden = true;
    const box = $('pw-prompt');
    const form = $('pw-prompt-form') as HTMLFormElement;
    const input = $('pw-prompt-input') as HTMLInputElement;
    $('pw-prompt-text').textContent = text;
    input.value = '';
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const pw = input.value;
      if (!pw) return;
      input.value = '';
      box.hidden = true;
      onSubmit(pw);
    };
    box.hidden = false;
    input.focus();
  }

  hidePasswordPrompt(): void {
    $('pw-prompt').hidden = true;
  }

  setStatus(state: string, text: string): void {
    this.#status.dataset.state = state;
    this.#status.textContent = text;
    document.body.dataset.state = state;
  }

  showRoom(show: boolean): void {
    this.#grid.hidden = !show;
    this.#controls.hidden = !show;
    if (!show) this.hideHostPasswordForm();
  }

  /** A full-width message in place of the room (refusals, leaving, fatal errors). */
  showMessage(title: string, text: string, actions: Action[] = []): void {
    this.showRoom(false);
    this.hideHostPasswordForm();
    $('lobby').hidden = true;
    $('pw-prompt').hidden = true;
    $('message-title').textContent = title;
    $('message-text').textContent = text;
    const box = $('message-actions');
    box.replaceChildren(...actions.map((a) => this.#action(a)));
    this.#message.hidden = false;
  }

  hideMessage(): void {
    this.#message.hidden = true;
  }

  #action(a: Action): HTMLElement {
    if (a.href) {
      const link = el('a', a.primary ? 'button primary' : 'button', a.label);
      link.href = a.href;
      return link;
    }
    const b = el('button', a.primary ? 'primary' : undefined, a.label);
    b.type = 'button';
    if (a.onClick) b.addEventListener('click', a.onClick);
    return b;
  }

  /** A dismissible banner; `key` replaces an earlier banner with the same key. */
  notice(key: string, text: string, opts: { level?: 'info' | 'warn' | 'error'; actions?: Action[]; sticky?: boolean } = {}): void {
    this.clearNotice(key);
    const n = el('div', `notice ${opts.level ?? 'info'}`);
    n.dataset.key = key;
    n.append(el('span', 'notice-text', text));
    for (const a of opts.actions ?? []) n.append(this.#action(a));
    const close = el('button', 'notice-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss');
    close.addEventListener('click', () => n.remove());
    n.append(close);
    this.#notices.append(n);
    if (!opts.sticky && (opts.level ?? 'info') === 'info') window.setTimeout(() => n.remove(), 6000);
  }

  /** The room is being recorded (or no longer is): a red "Recording" pill in the header and a notice. */
  setRecording(active: boolean, startedBy?: string): void {
    const flag = $('flag-recording');
    const was = !flag.hidden;
    flag.hidden = !active;
    if (active) flag.title = `This call is being recorded${startedBy ? ` (started by ${startedBy})` : ''}`;
    document.body.dataset.recording = String(active);
    if (active && !was) this.notice('recording', 'This call is being recorded. Everyone in the room sees this.', { level: 'warn' });
    else if (!active && was) this.notice('recording', 'Recording stopped.', { level: 'info' });
  }

  clearNotice(key: string): void {
    for (const n of this.#notices.querySelectorAll<HTMLElement>('.notice')) if (n.dataset.key === key) n.remove();
  }

  #count(): void {
    const visible = [...this.#tiles.values()].filter((t) => !t.root.hidden).length;
    this.#grid.dataset.count = String(visible);
  }

  /** Tile keys are the peer id, or `peerId:screen` for a screen share. */
  ensureTile(key: string, name: string, opts: { local?: boolean; screen?: boolean } = {}): Tile {
    let t = this.#tiles.get(key);
    if (t) {
      this.setName(key, name);
      return t;
    }
    const root = el('figure', 'tile');
    const peer = key.split(':')[0]!;
    root.dataset.peer = peer;
    root.dataset.tile = key;
    root.dataset.video = 'off';
    root.dataset.audio = 'off';
    if (opts.local) root.classList.add('local');
    if (opts.screen) root.classList.add('screen');
    const avatar = el('div', 'avatar', initials(name));
    avatar.setAttribute('aria-hidden', 'true');
    const video = el('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound goes through the <audio> element (or nowhere, for our own tile)
    const label = el('figcaption', 'label');
    const nameEl = el('span', 'name', name);
    const speakingBadge = el('span', 'badge speaking-badge', 'speaking');
    speakingBadge.setAttribute('aria-hidden', 'true'); // the tile's label says it
    label.append(nameEl, el('span', 'badge role-host', 'host'), el('span', 'badge mic-off', 'muted'), speakingBadge);
    root.append(avatar, video, label);
    let audio: HTMLAudioElement | null = null;
    let actions: HTMLElement | null = null;
    if (!opts.local && !opts.screen) {
      audio = el('audio');
      audio.autoplay = true;
      root.append(audio);
      actions = this.#tileActions(peer);
      root.append(actions);
    }
    const role = this.#roles.get(peer);
    if (role && !opts.screen) root.dataset.role = role;
    t = { root, video, audio, label, name: nameEl, avatar, actions };
    this.#tiles.set(key, t);
    if (opts.local) this.#grid.prepend(root);
    else this.#grid.append(root);
    this.#count();
    this.#markSpeaking(t);
    this.#layout();
    return t;
  }

  #tileActions(peerId: string): HTMLElement {
    const box = el('div', 'tile-actions');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Host controls for this participant');
    box.hidden = document.body.dataset.role !== 'host';
    const mute = el('button', 'host-mute', 'Mute mic');
    const unmute = el('button', 'host-unmute', 'Allow unmute');
    const kick = el('button', 'host-kick danger', 'Remove');
    for (const [b, action] of [[mute, 'mute'], [unmute, 'unmute'], [kick, 'kick']] as const) {
      b.type = 'button';
      b.dataset.peer = peerId;
      b.addEventListener('click', () => this.onHostAction?.(action, peerId));
    }
    mute.title = 'Mute this participant\'s microphone: they cannot unmute until a host allows it';
    unmute.title = 'Let this participant unmute their microphone again';
    kick.title = 'Remove this participant from the room (they cannot rejoin for a minute)';
    box.append(mute, unmute, kick);
    return box;
  }

  setName(key: string, name: string): void {
    const t = this.#tiles.get(key);
    if (!t) return;
    t.name.textContent = name;
    t.avatar.textContent = initials(name);
    this.#markSpeaking(t);
  }

  hideTile(key: string, hidden: boolean): void {
    const t = this.#tiles.get(key);
    if (!t) return;
    t.root.hidden = hidden;
    this.#count();
  }

  /** Puts a track on a tile (null removes it); `live` false shows the avatar / muted badge. */
  setTrack(key: string, kind: Kind, track: MediaStreamTrack | null, live = true): void {
    const t = this.#tiles.get(key);
    if (!t) return;
    if (kind === 'video') {
      const current = (t.video.srcObject as MediaStream | null)?.getVideoTracks()[0] ?? null;
      if (current !== track) {
        t.video.srcObject = track ? new MediaStream([track]) : null;
        if (track) t.video.play().catch(() => {});
      }
      t.root.dataset.video = track && live ? 'on' : 'off';
      return;
    }
    t.root.dataset.audio = track && live ? 'on' : 'off';
    if (!t.audio) return;
    const current = (t.audio.srcObject as MediaStream | null)?.getAudioTracks()[0] ?? null;
    if (current !== track) {
      t.audio.srcObject = track ? new MediaStream([track]) : null;
      if (track) this.#play(t.audio);
    }
  }

  setLive(key: string, kind: Kind, live: boolean): void {
    const t = this.#tiles.get(key);
    if (!t) return;
    const has = kind === 'video' ? Boolean(t.video.srcObject) : t.audio ? Boolean(t.audio.srcObject) : true;
    t.root.dataset[kind] = has && live ? 'on' : 'off';
  }

  #play(a: HTMLAudioElement): void {
    a.play().catch(() => {
      // Autoplay with sound was refused until the user interacts with the page.
      if (this.#soundBlocked) return;
      this.#soundBlocked = true;
      this.notice('sound', 'Your browser blocked the sound of the call.', {
        level: 'warn',
        sticky: true,
        actions: [{ label: 'Enable sound', primary: true, onClick: () => this.unblockSound() }],
      });
    });
  }

  unblockSound(): void {
    this.#soundBlocked = false;
    this.clearNotice('sound');
    for (const t of this.#tiles.values()) if (t.audio?.srcObject) this.#play(t.audio);
  }

  removeTile(key: string): void {
    const t = this.#tiles.get(key);
    if (!t) return;
    t.video.srcObject = null;
    if (t.audio) t.audio.srcObject = null;
    t.root.remove();
    this.#tiles.delete(key);
    if (!key.includes(':')) {
      this.#roles.delete(key);
      this.#speaking.delete(key);
      this.#focus.removed(key);
    }
    this.#count();
    this.#layout();
  }

  /** Removes every tile except ours. */
  clearRemote(): void {
    for (const [key, t] of this.#tiles) if (!t.root.classList.contains('local')) this.removeTile(key);
  }

  /** The room's dominant speaker (null: none, back to the grid): shown large, after the hold (speaker-focus.ts). */
  setSpeaker(peerId: string | null): void {
    this.#focus.dominant(peerId);
    if (peerId === null) this.setSpeaking([]);
  }

  /** Who is audible now: a ring, a "speaking" badge and ", speaking" in the tile's accessible name. */
  setSpeaking(peerIds: readonly string[]): void {
    this.#speaking = new Set(peerIds);
    this.#focus.speaking(peerIds);
    for (const t of this.#tiles.values()) this.#markSpeaking(t);
  }

  #markSpeaking(t: Tile): void {
    const on = !t.root.classList.contains('screen') && this.#speaking.has(t.root.dataset.peer ?? '');
    t.root.classList.toggle('speaking', on);
    t.root.dataset.speaking = String(on);
    const name = t.name.textContent ?? '';
    t.root.setAttribute('aria-label', on ? `${name}, speaking` : name);
  }

  /**
   * Speaker layout when someone is featured (their camera tile large, everyone else in a strip below),
   * the grid otherwise; the grid's data-layout and the tile's `featured` class / data-featured say which.
   */
  #layout(): void {
    const f = this.#focus.featured;
    let found = false;
    for (const t of this.#tiles.values()) {
      const on = f !== null && t.root.dataset.peer === f && !t.root.classList.contains('screen') && !t.root.classList.contains('local') && !t.root.hidden;
      found ||= on;
      t.root.classList.toggle('featured', on);
      if (on) t.root.dataset.featured = 'true';
      else delete t.root.dataset.featured;
    }
    this.#grid.dataset.layout = found ? 'speaker' : 'grid';
  }

  /** `off` marks a muted mic / stopped camera (red), `active` an ongoing screen share (highlighted). */
  setButton(button: HTMLButtonElement, label: string, look: 'normal' | 'off' | 'active', pressed: boolean, busy = false): void {
    button.textContent = label;
    button.classList.toggle('off', look === 'off');
    button.classList.toggle('active', look === 'active');
    button.setAttribute('aria-pressed', String(pressed));
    button.disabled = busy;
  }
}
