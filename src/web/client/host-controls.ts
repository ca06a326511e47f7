/**
 * Our role and the host's controls: lock, room password, lobby (on/off; "NAME wants to join" with admit,
 * deny, admit all), mute / allow to unmute / remove a participant, end the meeting for everyone.
 * The server decides; a refusal (rights ended meanwhile, peer gone) is shown, never thrown.
 */
import { ERROR_CODES, type LobbyEntry, type LobbyState, type Role, type RoomState, type ServerNotifications } from '../../protocol/index.ts';
import { loginHref } from './auth.ts';
import { clearHostToken } from './params.ts';
import type { RemotePeers } from './remote-peers.ts';
import type { SessionContext } from './session-context.ts';
import { RequestFailed, type Signal } from './signalling.ts';
import type { HostAction } from './ui.ts';

export class HostControls {
  readonly #ctx: SessionContext;
  readonly #peers: RemotePeers;
  /** Our role as the server last said (join response, `role` notifications). */
  #role: Role = 'guest';
  #room: RoomState = { locked: false, hasPassword: false };
  #lobby: LobbyState = { enabled: false, waiting: [] };

  constructor(ctx: SessionContext, peers: RemotePeers) {
    this.#ctx = ctx;
    this.#peers = peers;
  }

  /** Our role and the room's lock/password state, as this page shows them. */
  view(): { role: Role; room: RoomState } {
    return { role: this.#role, room: { ...this.#room } };
  }

  applyRole(role: Role): void {
    this.#role = role;
    this.#ctx.ui.setOwnRole(role);
    this.#ctx.ui.setPeerRole(this.#ctx.peerId, role);
  }

  applyRoomState(room: RoomState): void {
    this.#room = { locked: room.locked === true, hasPassword: room.hasPassword === true };
    this.#ctx.ui.setRoomState(this.#room);
  }

  /** The lobby as the server last told us (hosts only): the toggle, and a notice per waiting guest. */
  applyLobby(state: LobbyState): void {
    const ui = this.#ctx.ui;
    const waiting = new Set(state.waiting.map((w) => w.peerId));
    for (const w of this.#lobby.waiting) if (!waiting.has(w.peerId)) ui.clearNotice(`lobby-${w.peerId}`);
    this.#lobby = { enabled: state.enabled === true, waiting: state.waiting };
    const button = document.getElementById('btn-lobby');
    if (button) {
      button.textContent = `Lobby: ${this.#lobby.enabled ? 'on' : 'off'}${waiting.size > 0 ? ` (${waiting.size} waiting)` : ''}`;
      button.setAttribute('aria-pressed', String(this.#lobby.enabled));
      button.classList.toggle('active', this.#lobby.enabled);
    }
    // Guests who were waiting before this page joined get their notice too.
    for (const w of state.waiting) if (!document.querySelector(`.notice[data-key="lobby-${CSS.escape(w.peerId)}"]`)) this.onKnock(w);
  }

  /** "NAME wants to join": the name is shown as text (ui.notice), never as markup. */
  onKnock(w: LobbyEntry): void {
    if (this.#role !== 'host') return;
    const label = w.displayName || w.peerId;
    this.#ctx.ui.notice(`lobby-${w.peerId}`, `${label} wants to join`, {
      level: 'info',
      sticky: true,
      actions: [
        { label: 'Admit', primary: true, onClick: () => void this.#lobbyAction(`Admit ${label}`, (sig) => sig.request('hostAdmit', { peerId: w.peerId })) },
        { label: 'Deny', onClick: () => void this.#lobbyAction(`Deny ${label}`, (sig) => sig.request('hostDeny', { peerId: w.peerId })) },
        { label: 'Admit all', onClick: () => void this.#lobbyAction('Admit everyone waiting', (sig) => sig.request('hostAdmitAll', {})) },
      ],
    });
  }

  async #lobbyAction(what: string, run: (sig: Signal) => Promise<unknown>): Promise<void> {
    const st = (await this.#request(what, run)) as LobbyState | null;
    if (st) this.applyLobby(st);
  }

  async setLobby(enabled: boolean): Promise<void> {
    const st = await this.#request(enabled ? 'Turn the lobby on' : 'Turn the lobby off', (sig) => sig.request('hostSetLobby', { enabled }) as Promise<LobbyState>);
    if (!st) return;
    this.applyLobby(st);
    this.#ctx.ui.notice('host-action', st.enabled ? 'Lobby on: new guests wait until a host lets them in.' : 'Lobby off: guests join directly; everyone who was waiting was let in.');
  }

  /** The server's `role` notification: rights given or taken away. */
  onRole(d: ServerNotifications['role']): void {
    const was = this.#role;
    const role: Role = d.role === 'host' ? 'host' : 'guest';
    this.applyRole(role);
    if (role === 'guest' && was === 'host') {
      for (const w of this.#lobby.waiting) this.#ctx.ui.clearNotice(`lobby-${w.peerId}`);
      this.#lobby = { enabled: this.#lobby.enabled, waiting: [] };
      // The login behind those rights has ended (logout, revocation, expiry): it is of no use any more.
      clearHostToken();
      this.#ctx.ui.notice('role', d.message || 'Your host rights have ended.', { level: 'warn', sticky: true, actions: [{ label: 'Log in again', href: loginHref() }] });
    } else if (d.message) {
      this.#ctx.ui.notice('role', d.message, { level: 'info' });
    }
  }

  wireButtons(): void {
    const ui = this.#ctx.ui;
    ui.buttons.lock.addEventListener('click', () => void this.setLocked(!this.#room.locked));
    ui.buttons.password.addEventListener('click', () => {
      if (this.#room.hasPassword) void this.setRoomPassword(null);
      else ui.showHostPasswordForm((pw) => void this.setRoomPassword(pw));
    });
    document.getElementById('btn-lobby')?.addEventListener('click', () => void this.setLobby(!this.#lobby.enabled));
    document.getElementById('btn-end-meeting')?.addEventListener('click', () => this.askEndMeeting());
    ui.onHostAction = (action, peerId) => void this.hostAction(action, peerId);
  }

  async #request<T>(what: string, run: (sig: Signal) => Promise<T>): Promise<T | null> {
    const sig = this.#ctx.signal();
    if (!sig || this.#ctx.state() !== 'joined' || this.#role !== 'host') {
      this.#ctx.ui.notice('host-action', `${what}: only a host in the room can do that.`, { level: 'error' });
      return null;
    }
    try {
      return await run(sig);
    } catch (e) {
      const text = e instanceof RequestFailed && e.code === ERROR_CODES.forbidden ? `${what}: you no longer have host rights.` : `${what} failed: ${(e as Error).message}`;
      this.#ctx.ui.notice('host-action', text, { level: 'error' });
      return null;
    }
  }

  /** One click away from ending it for everyone is too close: the host confirms in a notice first. */
  askEndMeeting(): void {
    this.#ctx.ui.notice('end-meeting', 'End the meeting for everyone? Everyone is disconnected, guests waiting in the lobby too.', {
      level: 'warn',
      sticky: true,
      actions: [
        { label: 'End meeting for everyone', primary: true, onClick: () => { this.#ctx.ui.clearNotice('end-meeting'); void this.#request('End the meeting', (sig) => sig.request('hostEndMeeting', {})); } },
        { label: 'Cancel', onClick: () => this.#ctx.ui.clearNotice('end-meeting') },
      ],
    });
  }

  async setLocked(locked: boolean): Promise<void> {
    const st = await this.#request(locked ? 'Lock the room' : 'Unlock the room', (sig) => sig.request('hostLockRoom', { locked }) as Promise<RoomState>);
    if (!st) return;
    this.applyRoomState(st);
    this.#ctx.ui.notice('host-action', st.locked ? 'Room locked: nobody new can join.' : 'Room unlocked: guests can join again.');
  }

  async setRoomPassword(password: string | null): Promise<void> {
    const st = await this.#request(password ? 'Set the room password' : 'Clear the room password', (sig) => sig.request('hostSetRoomPassword', { password }) as Promise<RoomState>);
    if (!st) return;
    this.applyRoomState(st);
    this.#ctx.ui.notice('host-action', st.hasPassword ? 'Room password set: new guests must enter it to join.' : 'Room password removed.');
  }

  async hostAction(action: HostAction, peerId: string): Promise<void> {
    const ui = this.#ctx.ui;
    const name = this.#peers.displayName(peerId) ?? 'this participant';
    if (action === 'mute') {
      const r = await this.#request(`Mute ${name}`, (sig) => sig.request('hostMutePeer', { peerId, kind: 'audio' }) as Promise<{ muted: number }>);
      if (r) ui.notice('host-action', r.muted > 0 ? `You muted ${name}.` : `${name} was already muted.`);
      return;
    }
    if (action === 'unmute') {
      const r = await this.#request(`Allow ${name} to unmute`, (sig) => sig.request('hostUnmutePeer', { peerId, kind: 'audio' }));
      if (r) ui.notice('host-action', `${name} may unmute again.`);
      return;
    }
    const r = await this.#request(`Remove ${name}`, (sig) => sig.request('hostKickPeer', { peerId }));
    if (r) ui.notice('host-action', `You removed ${name} from the room.`);
  }
}
