/**
 * The chat panel: a "Chat" button in the call controls opens a side panel with the room's messages,
 * a "To" choice (everyone or one participant, privately) and a box to write in. Every message is put
 * on the page with textContent only (never HTML): markup in a message is shown as the characters it
 * is, and the sender's name is the one the server relayed. The server decides (joined peers only,
 * CHAT_TEXT_MAX, rate, host's on/off); its refusals are shown under the box. A host also gets
 * "Turn chat off" / "Turn chat on".
 */
import { CHAT_TEXT_MAX, USER_MESSAGES, type ChatMessage, type ChatSnapshot, type ServerNotifications } from '../../protocol/index.ts';
import type { RemotePeers } from './remote-peers.ts';
import type { SessionContext } from './session-context.ts';
import { RequestFailed } from './signalling.ts';

/** Messages kept on the page; older ones are taken off the list. */
const KEEP = 500;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class ChatPanel {
  readonly #ctx: SessionContext;
  readonly #peers: RemotePeers;
  #enabled = true;
  #unread = 0;
  readonly #seen = new Set<string>();
  #dom: {
    button: HTMLButtonElement;
    panel: HTMLElement;
    toggle: HTMLButtonElement;
    state: HTMLElement;
    log: HTMLOListElement;
    form: HTMLFormElement;
    to: HTMLSelectElement;
    input: HTMLTextAreaElement;
    count: HTMLElement;
    error: HTMLElement;
    send: HTMLButtonElement;
  } | null = null;

  constructor(ctx: SessionContext, peers: RemotePeers) {
    this.#ctx = ctx;
    this.#peers = peers;
  }

  /** Builds the button and the panel (the room page's markup has neither). */
  mount(): void {
    if (this.#dom) return;
    const controls = document.getElementById('controls');
    const app = document.querySelector('.app');
    if (!controls || !app) return;
    const button = el('button', 'chat-button', 'Chat');
    button.type = 'button';
    button.id = 'btn-chat';
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-controls', 'chat');
    controls.insertBefore(button, document.getElementById('btn-leave'));

    const panel = el('aside', 'card chat-panel');
    panel.id = 'chat';
    panel.hidden = true;
    panel.setAttribute('aria-label', 'Chat');
    const head = el('div', 'chat-head');
    const close = el('button', 'chat-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close the chat');
    const toggle = el('button', 'chat-toggle', 'Turn chat off');
    toggle.type = 'button';
    toggle.id = 'chat-toggle';
    toggle.title = 'Host: turn the chat off or on for everyone in the room';
    head.append(el('h2', undefined, 'Chat'), toggle, close);
    const state = el('p', 'chat-state', USER_MESSAGES.chatOff);
    state.id = 'chat-state';
    state.hidden = true;
    const log = el('ol', 'chat-log');
    log.id = 'chat-log';
    log.setAttribute('aria-live', 'polite');
    log.setAttribute('aria-label', 'Messages');

    const form = el('form', 'chat-form');
    form.id = 'chat-form';
    const toLabel = el('label', 'chat-to-label', 'To');
    const to = el('select', 'chat-to');
    to.id = 'chat-to';
    toLabel.htmlFor = to.id;
    const input = el('textarea', 'chat-input');
    input.id = 'chat-input';
    input.rows = 2;
    input.placeholder = 'Write a message (Enter sends, Shift+Enter for a new line)';
    input.setAttribute('aria-label', 'Message');
    // No maxlength: a pasted text that is too long is told so, not silently cut.
    const count = el('span', 'chat-count');
    count.id = 'chat-count';
    const error = el('p', 'chat-error');
    error.id = 'chat-error';
    error.setAttribute('role', 'alert');
    error.hidden = true;
    const send = el('button', 'primary chat-send', 'Send');
    send.type = 'submit';
    send.id = 'chat-send';
    const row = el('div', 'chat-row');
    row.append(toLabel, to, count);
    form.append(row, input, error, send);
    panel.append(head, state, log, form);
    app.append(panel);

    this.#dom = { button, panel, toggle, state, log, form, to, input, count, error, send };
    this.#refreshTo();
    button.addEventListener('click', () => this.open(panel.hidden !== false));
    close.addEventListener('click', () => this.open(false));
    toggle.addEventListener('click', () => void this.#setEnabled(!this.#enabled));
    to.addEventListener('focus', () => this.#refreshTo());
    to.addEventListener('mousedown', () => this.#refreshTo());
    input.addEventListener('input', () => this.#showCount());
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#send();
    });
  }

  open(show: boolean): void {
    const d = this.#dom;
    if (!d) return;
    d.panel.hidden = !show;
    d.button.setAttribute('aria-expanded', String(show));
    document.body.classList.toggle('chat-open', show);
    if (show) {
      this.#unread = 0;
      this.#showUnread();
      this.#refreshTo();
      d.input.focus();
      d.log.scrollTop = d.log.scrollHeight;
    }
  }

  /** From the join response: on or off, and the recent public messages. */
  applySnapshot(s: ChatSnapshot | undefined): void {
    if (!s) return;
    this.#applyEnabled(s.enabled !== false);
    for (const m of Array.isArray(s.history) ? s.history : []) this.#add(m, false);
  }

  onMessage(m: ChatMessage): void {
    this.#add(m, true);
  }

  onState(d: ServerNotifications['chatState']): void {
    this.#applyEnabled(d.enabled === true);
    const who = d.by?.peerId === this.#ctx.peerId ? 'You' : (d.by?.displayName ?? 'A host');
    this.#system(`${who} turned the chat ${d.enabled ? 'on' : 'off'}.`);
  }

  /** Host: chat off or on for the room. The server checks the rights; a refusal is shown. */
  async #setEnabled(enabled: boolean): Promise<void> {
    const sig = this.#ctx.signal();
    if (!sig || this.#ctx.state() !== 'joined') return this.#error('Not connected to the room.');
    try {
      const r = (await sig.request('hostSetChat', { enabled })) as { enabled: boolean };
      this.#applyEnabled(r.enabled === true);
      this.#error(null);
    } catch (e) {
      this.#error(`Could not turn the chat ${enabled ? 'on' : 'off'}: ${(e as Error).message}`);
    }
  }

  #applyEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    const d = this.#dom;
    if (!d) return;
    d.state.hidden = enabled;
    d.toggle.textContent = enabled ? 'Turn chat off' : 'Turn chat on';
    d.toggle.setAttribute('aria-pressed', String(!enabled));
    d.input.disabled = !enabled;
    d.send.disabled = !enabled;
    d.panel.dataset.enabled = String(enabled);
  }

  #name(peerId: string, fallback: string): string {
    return peerId === this.#ctx.peerId ? 'you' : (this.#peers.displayName(peerId) ?? fallback);
  }

  #add(m: ChatMessage, fresh: boolean): void {
    const d = this.#dom;
    if (!d || typeof m?.id !== 'string' || this.#seen.has(m.id)) return;
    this.#seen.add(m.id);
    const mine = m.from?.peerId === this.#ctx.peerId;
    const li = el('li', 'chat-msg');
    li.dataset.id = m.id;
    li.dataset.from = String(m.from?.peerId ?? '');
    if (m.private) li.dataset.private = 'true';
    if (mine) li.classList.add('mine');
    const head = el('div', 'chat-meta');
    const from = el('span', 'chat-from', String(m.from?.displayName ?? '?'));
    from.dir = 'auto';
    head.append(from);
    if (mine) head.append(el('span', 'chat-you', '(you)'));
    if (m.from?.role === 'host') head.append(el('span', 'badge role-host chat-host', 'host'));
    if (m.private) head.append(el('span', 'chat-private', mine ? `privately to ${this.#name(m.to, m.to)}` : 'privately to you'));
    const at = new Date(Number(m.at));
    const time = el('time', 'chat-time', Number.isFinite(at.getTime()) ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
    if (Number.isFinite(at.getTime())) time.dateTime = at.toISOString();
    head.append(time);
    const text = el('div', 'chat-text', String(m.text ?? ''));
    text.dir = 'auto';
    li.append(head, text);
    this.#append(li);
    if (fresh && d.panel.hidden && !mine) {
      this.#unread++;
      this.#showUnread();
    }
  }

  #system(text: string): void {
    this.#append(el('li', 'chat-msg chat-system', text));
  }

  #append(li: HTMLElement): void {
    const log = this.#dom!.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(li);
    while (log.childElementCount > KEEP) log.firstElementChild?.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  #showUnread(): void {
    const b = this.#dom?.button;
    if (!b) return;
    b.textContent = this.#unread > 0 ? `Chat (${this.#unread})` : 'Chat';
    b.classList.toggle('active', this.#unread > 0);
  }

  #showCount(): void {
    const d = this.#dom!;
    const n = d.input.value.length;
    d.count.textContent = n > CHAT_TEXT_MAX - 200 ? `${n} / ${CHAT_TEXT_MAX}` : '';
    d.count.classList.toggle('over', n > CHAT_TEXT_MAX);
    if (n <= CHAT_TEXT_MAX && d.error.dataset.kind === 'length') this.#error(null);
  }

  #error(text: string | null, kind = 'server'): void {
    const e = this.#dom!.error;
    e.textContent = text ?? '';
    e.hidden = text === null;
    e.dataset.kind = kind;
  }

  /** Everyone, then the other participants by name (a private message goes to one of them). */
  #refreshTo(): void {
    const d = this.#dom;
    if (!d) return;
    const current = d.to.value;
    const options = [el('option', undefined, 'Everyone')];
    options[0]!.value = '';
    for (const id of this.#peers.ids()) {
      const o = el('option', undefined, `${this.#peers.displayName(id) ?? id} (private)`);
      o.value = id;
      options.push(o);
    }
    d.to.replaceChildren(...options);
    d.to.value = options.some((o) => o.value === current) ? current : '';
  }

  async #send(): Promise<void> {
    const d = this.#dom!;
    const text = d.input.value;
    if (text.trim() === '') return;
    if (text.length > CHAT_TEXT_MAX) {
      this.#error(`${USER_MESSAGES.chatTooLong(CHAT_TEXT_MAX)} This one has ${text.length}.`, 'length');
      return;
    }
    const sig = this.#ctx.signal();
    if (!sig || this.#ctx.state() !== 'joined') {
      this.#error('Not connected to the room: the message was not sent.');
      return;
    }
    const to = d.to.value;
    d.send.disabled = true;
    try {
      await sig.request('chat', { text, ...(to ? { to } : {}) });
      d.input.value = '';
      this.#showCount();
      this.#error(null);
    } catch (e) {
      const reason = (e as Error).message.replace(/^chat: (text: )?/, '');
      // The server's own words (RequestFailed), or why the request never got an answer.
      this.#error(`Not sent: ${e instanceof RequestFailed ? reason : (e as Error).message}`);
    } finally {
      d.send.disabled = !this.#enabled;
    }
  }

  /** The connection ended: the next join brings the state and history again. */
  disconnected(): void {
    this.#refreshTo();
  }
}
