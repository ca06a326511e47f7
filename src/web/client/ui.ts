/**
 * The room view's DOM: tiles, status line, notices, messages, controls. Only textContent and
 * attributes are set from data, never HTML, so names from other participants cannot inject markup.
 */

export type Kind = 'audio' | 'video';

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
}

export class RoomUi {
  readonly #grid = $('grid');
  readonly #status = $('status');
  readonly #notices = $('notices');
  readonly #message = $('message');
  readonly #controls = $('controls');
  readonly #tiles = new Map<string, Tile>();
  #soundBlocked = false;

  readonly buttons = {
    mic: $('btn-mic') as HTMLButtonElement,
    cam: $('btn-cam') as HTMLButtonElement,
    screen: $('btn-screen') as HTMLButtonElement,
    copy: $('btn-copy') as HTMLButtonElement,
    leave: $('btn-leave') as HTMLButtonElement,
  };

  setStatus(state: string, text: string): void {
    this.#status.dataset.state = state;
    this.#status.textContent = text;
    document.body.dataset.state = state;
  }

  showRoom(show: boolean): void {
    this.#grid.hidden = !show;
    this.#controls.hidden = !show;
  }

  /** A full-width message in place of the room (refusals, leaving, fatal errors). */
  showMessage(title: string, text: string, actions: Action[] = []): void {
    this.showRoom(false);
    $('lobby').hidden = true;
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
    root.dataset.peer = key.split(':')[0]!;
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
    label.append(nameEl, el('span', 'badge mic-off', 'muted'));
    root.append(avatar, video, label);
    let audio: HTMLAudioElement | null = null;
    if (!opts.local && !opts.screen) {
      audio = el('audio');
      audio.autoplay = true;
      root.append(audio);
    }
    t = { root, video, audio, label, name: nameEl, avatar };
    this.#tiles.set(key, t);
    if (opts.local) this.#grid.prepend(root);
    else this.#grid.append(root);
    this.#count();
    return t;
  }

  setName(key: string, name: string): void {
    const t = this.#tiles.get(key);
    if (!t) return;
    t.name.textContent = name;
    t.avatar.textContent = initials(name);
    t.root.setAttribute('aria-label', name);
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
    this.#count();
  }

  /** Removes every tile except ours. */
  clearRemote(): void {
    for (const [key, t] of this.#tiles) if (!t.root.classList.contains('local')) this.removeTile(key);
  }

  setSpeaker(peerId: string | null): void {
    for (const t of this.#tiles.values()) t.root.classList.toggle('speaking', peerId !== null && t.root.dataset.peer === peerId && !t.root.classList.contains('screen'));
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
