/**
 * One participant's session in a room: the signalling connection and its lifecycle (hello, waiting
 * room, device and transports, join, reconnects, the end), putting together the parts that do the rest:
 * our media (local-media.ts), everyone else's (remote-peers.ts), the host's controls (host-controls.ts)
 * and the server's notifications (notifications.ts). Local tracks outlive connections, so a reconnect
 * republishes what was on.
 */
import { Device, types } from 'mediasoup-client';
import { ERROR_CODES, USER_MESSAGES, type Hello, type JoinResponse, type PeerInfo, type Role, type RoomState, type TransportInfo } from '../../protocol/index.ts';
import { Signal, RequestFailed, type CloseInfo } from './signalling.ts';
import { clearHostToken, hostToken, type JoinParams } from './params.ts';
import { loginHref } from './auth.ts';
import { closeOutcome } from './close-outcome.ts';
import { HostControls } from './host-controls.ts';
import { ChatPanel } from './chat.ts';
import { LocalMedia, type SendingView, type Source } from './local-media.ts';
import { onNotification, type NotificationTargets } from './notifications.ts';
import { RemotePeers, type AdaptiveView, type PeerBytes } from './remote-peers.ts';
import type { SessionContext, SessionState } from './session-context.ts';
import type { Kind, RoomUi } from './ui.ts';

/** Cluster: how many times one join may be sent on to another node before the page gives up. */
const MAX_MOVES = 3;

export type { SessionState } from './session-context.ts';
export type { RemoteSummary } from './remote-peers.ts';

export interface AdaptiveDebug {
  receiving: AdaptiveView[];
  sending: SendingView[];
}

export interface MediaStats {
  audioBytesReceived: number;
  videoBytesReceived: number;
  audioBytesSent: number;
  videoBytesSent: number;
}

function browserName(): string {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) return 'Firefox';
  if (/Edg\//.test(ua)) return 'Edge';
  if (/Chrom(e|ium)\//.test(ua)) return 'Chromium';
  if (/Safari\//.test(ua)) return 'Safari';
  return 'browser';
}

export class RoomSession {
  state: SessionState = 'idle';
  readonly ui: RoomUi;
  readonly #params: JoinParams;
  readonly #peerId: string;
  readonly #session: string;
  readonly #token: string | null;
  readonly #name: string;
  readonly #media: LocalMedia;
  readonly #peers: RemotePeers;
  readonly #host: HostControls;
  readonly #chat: ChatPanel;
  readonly #notified: NotificationTargets;

  #signal: Signal | null = null;
  #leaving = false;
  /** Set when we close the connection ourselves to start over (media failed): the reason shown. */
  #restart: string | null = null;
  #retries = 0;
  /** Media connections that failed in a row (ICE/DTLS): kept across rejoins so the backoff grows. */
  #mediaFailures = 0;
  #retryTimer = 0;
  #joinedOnce = false;
  /** While the server holds us in its waiting room (host protection): resolved by `admitted`. */
  #admitted: { promise: Promise<void>; resolve: () => void } | null = null;
  /** The room password: from the link or typed into the prompt; kept in memory only. */
  #roomPassword: string | null;
  readonly #hostProtected: boolean;

  constructor(opts: { params: JoinParams; name: string; peerId: string; session: string; token: string | null; ui: RoomUi; hostProtected?: boolean }) {
    this.#params = opts.params;
    this.#roomPassword = opts.params.roomPassword;
    this.#hostProtected = opts.hostProtected === true;
    this.#name = opts.name;
    this.#peerId = opts.peerId;
    this.#session = opts.session;
    this.#token = opts.token;
    this.ui = opts.ui;
    const ctx: SessionContext = { ui: this.ui, peerId: this.#peerId, signal: () => this.#signal, state: () => this.state };
    this.#media = new LocalMedia(ctx, { mic: opts.params.audio, webcam: opts.params.video });
    this.#peers = new RemotePeers(ctx);
    this.#host = new HostControls(ctx, this.#peers);
    this.#chat = new ChatPanel(ctx, this.#peers);
    this.#notified = {
      ui: this.ui,
      peers: this.#peers,
      media: this.#media,
      host: this.#host,
      chat: this.#chat,
      waiting: (message) => this.#enterWaiting(message),
      admitted: () => {
        this.ui.clearNotice('waiting');
        this.#setState('connecting', 'Joining…');
        this.#admitted?.resolve();
      },
    };
  }

  get peerId(): string {
    return this.#peerId;
  }

  peers(): string[] {
    return this.#peers.ids();
  }

  remote() {
    return this.#peers.summary();
  }

  local(): { mic: boolean; webcam: boolean; screen: boolean } {
    return this.#media.wanted();
  }

  /** Our role and the room's lock/password state, as this page shows them. */
  hostView(): { role: Role; room: RoomState } {
    return this.#host.view();
  }

  /** Bytes through our transports, from the browser's own RTCPeerConnection statistics. */
  async stats(): Promise<MediaStats> {
    const out: MediaStats = { audioBytesReceived: 0, videoBytesReceived: 0, audioBytesSent: 0, videoBytesSent: 0 };
    for (const t of [this.#media.transport, this.#peers.transport]) {
      if (!t || t.closed) continue;
      let report: RTCStatsReport;
      try {
        report = await t.getStats();
      } catch {
        continue;
      }
      report.forEach((s: any) => {
        const kind = s.kind ?? s.mediaType;
        if (kind !== 'audio' && kind !== 'video') return;
        if (s.type === 'inbound-rtp') out[`${kind as Kind}BytesReceived`] += Number(s.bytesReceived) || 0;
        else if (s.type === 'outbound-rtp') out[`${kind as Kind}BytesSent`] += Number(s.bytesSent) || 0;
      });
    }
    return out;
  }

  /** Adaptive stream and dynacast as this page sees them: tiles reported, layers received, encodings sent. */
  async adaptive(): Promise<AdaptiveDebug> {
    return { receiving: this.#peers.adaptive(), sending: await this.#media.sending() };
  }

  /** Bytes received per remote peer (from each consumer's RTCRtpReceiver), keyed by peer id. */
  peerStats(): Promise<PeerBytes> {
    return this.#peers.bytes();
  }

  toggle(source: Source, on: boolean): Promise<void> {
    return this.#media.toggle(source, on);
  }

  setLocked(locked: boolean): Promise<void> {
    return this.#host.setLocked(locked);
  }

  setRoomPassword(password: string | null): Promise<void> {
    return this.#host.setRoomPassword(password);
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.ui.hideMessage();
    this.ui.showRoom(true);
    this.ui.ensureTile(this.#peerId, `${this.#name} (you)`, { local: true });
    this.ui.hideTile(this.#peerId, this.#params.hide);
    this.#media.renderButtons();
    this.#media.wireButtons();
    this.#host.wireButtons();
    this.#chat.mount();
    this.ui.buttons.leave.addEventListener('click', () => this.leave());
    this.ui.buttons.copy.addEventListener('click', () => void this.copyLink());
    this.#setState('connecting', 'Starting camera and microphone…');
    await this.#media.acquireDevices();
    void this.#connect();
  }

  /**
   * No secrets here: URLs end up in proxy logs. They go in the hello message (#hello). `base` is
   * another node of a cluster, where the server sent this join (the node holding the room).
   */
  #wsUrl(base?: string): string {
    const q = new URLSearchParams({ room: this.#params.room, peer: this.#peerId, name: this.#name });
    const at = base ? new URL(base) : location;
    return `${at.protocol === 'https:' ? 'wss' : 'ws'}://${at.host}/ws?${q}`;
  }

  #hello(): Hello {
    const host = hostToken();
    return {
      session: this.#session,
      ...(this.#token ? { token: this.#token } : {}),
      ...(host ? { host } : {}),
      ...(this.#roomPassword ? { roomPassword: this.#roomPassword } : {}),
    };
  }

  #setState(state: SessionState, text: string): void {
    this.state = state;
    this.ui.setStatus(state, text);
  }

  async #connect(moved?: { base: string; hops: number }): Promise<void> {
    window.clearTimeout(this.#retryTimer);
    this.#restart = null;
    this.#setState(this.#joinedOnce ? 'reconnecting' : 'connecting', this.#joinedOnce ? 'Reconnecting…' : 'Connecting…');
    const sig = new Signal(this.#wsUrl(moved?.base), {
      newConsumer: (d) => (sig === this.#signal ? this.#peers.consume(d) : Promise.reject(new Error('stale connection'))),
      notification: (m, d) => {
        if (sig === this.#signal) onNotification(this.#notified, m, d);
      },
      close: (info) => {
        if (sig === this.#signal) this.#onClose(info);
      },
    });
    this.#signal = sig;
    this.#admitted = null;
    try {
      await sig.opened;
      const hello = await sig.hello(this.#hello());
      if (hello.moved !== undefined) {
        // The room is on another node of the cluster: go there (a few hops at most, in case rooms move meanwhile).
        const hops = (moved?.hops ?? 0) + 1;
        if (hops > MAX_MOVES || !/^https?:\/\//.test(hello.moved)) throw new Error('the server kept sending this join elsewhere; try again in a moment');
        this.#signal = null;
        sig.close();
        return void this.#connect({ base: hello.moved, hops });
      }
      if (hello.loginNotValid) {
        // The login we sent did not count (ended, or made elsewhere): we are a guest; say so, offer a new login.
        clearHostToken();
        this.ui.notice('login', hello.loginNotValid, { level: 'warn', sticky: true, actions: [{ label: 'Log in again', primary: true, href: loginHref() }] });
      }
      if (hello.waiting) {
        this.#enterWaiting();
        await this.#admitted!.promise;
      }
      const routerRtpCapabilities = (await sig.request('getRouterRtpCapabilities', {})) as types.RtpCapabilities;
      const device = await Device.factory();
      await device.load({ routerRtpCapabilities });
      this.#media.transport = this.#makeTransport(sig, device, 'send', await sig.request('createWebRtcTransport', { producing: true, consuming: false }));
      this.#peers.transport = this.#makeTransport(sig, device, 'recv', await sig.request('createWebRtcTransport', { producing: false, consuming: true }));
      const joined = (await sig.request('join', {
        displayName: this.#name,
        device: { name: browserName() },
        rtpCapabilities: device.rtpCapabilities as never,
      })) as Partial<JoinResponse> & { peers: PeerInfo[] };
      for (const p of joined.peers) this.#peers.add(p);
      this.#host.applyRole(joined.role === 'host' ? 'host' : 'guest');
      if (joined.room) this.#host.applyRoomState(joined.room);
      this.#chat.applySnapshot(joined.chat);
      this.#retries = 0;
      this.#joinedOnce = true;
      this.#setState('joined', this.#peers.joinedStatus());
      this.ui.clearNotice('connection');
      await this.#media.publishAll();
    } catch (e) {
      if (sig.closed || sig !== this.#signal) return; // the close handler explains it
      const refused = e instanceof RequestFailed && (e.code === ERROR_CODES.forbidden || e.code === ERROR_CODES.conflict);
      this.#fail(refused ? 'refused' : 'closed', refused ? 'Could not join this room' : 'Something went wrong', (e as Error).message);
    }
  }

  #enterWaiting(message: string = USER_MESSAGES.waiting): void {
    if (!this.#admitted) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#admitted = { promise, resolve };
    }
    this.#setState('waiting', 'Waiting for the host…');
    // A host who opened the link before logging in can log in from here.
    const actions = this.#hostProtected && !hostToken() ? [{ label: 'I am the host: log in', href: loginHref() }] : [];
    this.ui.notice('waiting', message, { level: 'info', sticky: true, actions });
  }

  #makeTransport(sig: Signal, device: Device, dir: 'send' | 'recv', info: TransportInfo): types.Transport {
    // iceServers: the TURN relay (if the server has one) for guests whose network blocks the media ports.
    const options = {
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      sctpParameters: info.sctpParameters,
      iceServers: info.iceServers,
    } as types.TransportOptions;
    const t = dir === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
    t.on('connect', ({ dtlsParameters }, done, fail) => {
      sig.request('connectWebRtcTransport', { transportId: t.id, dtlsParameters: dtlsParameters as never }).then(() => done(), fail);
    });
    if (dir === 'send') {
      t.on('produce', ({ kind, rtpParameters, appData }, done, fail) => {
        sig
          .request('produce', {
            transportId: t.id,
            kind,
            rtpParameters: rtpParameters as never,
            appData: { source: appData.source as Source, ...(typeof appData.width === 'number' && typeof appData.height === 'number' ? { width: appData.width, height: appData.height } : {}) },
          })
          .then((r: { id: string }) => done({ id: r.id }), fail);
      });
    }
    t.on('connectionstatechange', (state) => {
      if (state === 'connected') {
        this.#mediaFailures = 0;
        this.ui.clearNotice('connection');
      }
      if (state === 'failed' && sig === this.#signal && !sig.closed) {
        this.#mediaFailures++;
        const hint = this.#mediaFailures >= 3 ? ' A firewall may be blocking the media ports (UDP/TCP) of this server.' : '';
        this.#restart = `The media connection failed.${hint}`;
        sig.close();
      }
    });
    return t;
  }

  /** Ends the session for good and says why. */
  #fail(state: 'refused' | 'closed', title: string, text: string): void {
    const sig = this.#signal;
    this.#signal = null;
    sig?.close();
    this.#teardown();
    this.#media.stop();
    this.#setState(state, state === 'refused' ? 'Not admitted' : 'Disconnected');
    this.ui.showMessage(title, text, [
      { label: 'Try again', primary: true, onClick: () => location.reload() },
      { label: 'Start page', href: '/' },
    ]);
  }

  /** The connection is over: stop it and the devices, for good or until the person acts. */
  #stop(state: SessionState, status: string): void {
    this.#signal = null;
    this.#media.stop();
    this.#setState(state, status);
  }

  #onClose(info: CloseInfo): void {
    this.#teardown();
    const again = { label: 'Try again', primary: true, onClick: () => location.reload() };
    const start = { label: 'Start page', href: '/' };
    const o = closeOutcome(info, { leaving: this.#leaving, restart: this.#restart, passwordGiven: this.#roomPassword !== null, joinedOnce: this.#joinedOnce, retries: this.#retries });
    switch (o.kind) {
      case 'left':
        return;
      case 'reconnect':
        return this.#scheduleReconnect(o.message, o.saysSo);
      case 'ended':
        this.#stop('closed', 'Disconnected');
        return this.ui.showMessage(o.title, o.message, [{ label: 'Join again', primary: true, onClick: () => location.reload() }, start]);
      case 'password':
        this.#stop('password', 'Room password needed');
        return this.ui.showPasswordPrompt(o.retry ? 'That password was not accepted. Try again, or ask the host for it.' : 'Ask the host for the room password.', (pw) => {
          this.#roomPassword = pw;
          void this.#rejoin();
        });
      case 'locked':
        this.#stop('refused', 'Room locked');
        return this.ui.showMessage('This room is locked by its host', 'Nobody new can join while the room is locked. Ask the host to unlock it, then try again.', [again, start]);
      case 'refused': {
        this.#stop('refused', 'Not admitted');
        // A login (or a join link) is what is missing: offer the login page, and come back here after it.
        const actions = o.login ? [{ label: 'Log in', primary: true, href: loginHref() }, { ...again, primary: false }, start] : [again, start];
        return this.ui.showMessage('Could not join this room', o.message, actions);
      }
      case 'unreachable':
        this.#stop('closed', 'Disconnected');
        return this.ui.showMessage('Could not reach the server', o.message, [again, start]);
    }
  }

  /** After the password prompt: devices on again, then a new connection (with the password). */
  async #rejoin(): Promise<void> {
    this.ui.hidePasswordPrompt();
    this.ui.hideMessage();
    this.ui.showRoom(true);
    this.#setState('connecting', 'Starting camera and microphone…');
    await this.#media.acquireDevices();
    void this.#connect();
  }

  /** `saysSo`: the message already tells that the page reconnects (a server's rejoin message). */
  #scheduleReconnect(message: string, saysSo = false): void {
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.#retries + this.#mediaFailures, 5)) + Math.floor(Math.random() * 500);
    this.#retries++;
    this.#setState('reconnecting', `Reconnecting in ${Math.round(delay / 1000)} s…`);
    this.ui.notice('connection', saysSo ? message : `${message} Reconnecting…`, { level: 'warn', sticky: true, actions: [{ label: 'Retry now', onClick: () => void this.#connect() }] });
    window.clearTimeout(this.#retryTimer);
    this.#retryTimer = window.setTimeout(() => void this.#connect(), delay);
  }

  /** Forgets everything tied to one connection; local tracks stay. */
  #teardown(): void {
    this.#media.closeProducers();
    this.#peers.clear();
    // Host rights are given anew by the next join; until then no host controls.
    this.#host.applyRole('guest');
    this.#chat.disconnected();
  }

  leave(): void {
    this.#leaving = true;
    window.clearTimeout(this.#retryTimer);
    const sig = this.#signal;
    this.#signal = null;
    sig?.close();
    this.#teardown();
    this.#media.stop();
    this.#setState('left', 'Left');
    this.ui.showMessage('You left the room', `You can join “${this.#params.room}” again at any time.`, [
      { label: 'Join again', primary: true, onClick: () => location.reload() },
      { label: 'Start page', href: '/' },
    ]);
  }

  shareUrl(): string {
    return `${location.origin}/join/${encodeURIComponent(this.#params.room)}`;
  }

  async copyLink(): Promise<void> {
    const url = this.shareUrl();
    try {
      await navigator.clipboard.writeText(url);
      this.ui.notice('copy', 'Room link copied to the clipboard.');
    } catch {
      this.ui.notice('copy', `Copy this link: ${url}`, { level: 'info', sticky: true });
    }
  }

  /** Seed's `screen=1`: browsers only allow screen capture after a click, so ask for one if needed. */
  startScreenFromLink(): Promise<void> {
    return this.#media.startScreenFromLink();
  }

  showShareNotice(): void {
    const url = this.shareUrl();
    this.ui.notice('share', `Invite others with this link: ${url}`, { level: 'info', sticky: true, actions: [{ label: 'Copy link', primary: true, onClick: () => void this.copyLink() }] });
  }
}
