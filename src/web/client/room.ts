/**
 * One participant's session in a room: the signalling connection, the mediasoup-client device and
 * its two transports, our producers (mic, webcam, screen), the consumers of everyone else, and the
 * reconnect logic. Local tracks outlive connections, so a reconnect republishes what was on.
 */
import { Device, types } from 'mediasoup-client';
import {
  CLOSE_CODES,
  ERROR_CODES,
  isRefusal,
  USER_MESSAGES,
  type Hello,
  type JoinResponse,
  type NewConsumerData,
  type PeerInfo,
  type Role,
  type RoomState,
  type ServerNotifications,
} from '../../protocol/index.ts';
import { Signal, RequestFailed, type CloseInfo } from './signalling.ts';
import { clearHostToken, hostToken, type JoinParams } from './params.ts';
import { loginHref } from './auth.ts';
import { RoomUi, type HostAction, type Kind } from './ui.ts';

export type SessionState = 'idle' | 'connecting' | 'waiting' | 'password' | 'joined' | 'reconnecting' | 'refused' | 'closed' | 'left';
type Source = 'mic' | 'webcam' | 'screen';

export interface MediaStats {
  audioBytesReceived: number;
  videoBytesReceived: number;
  audioBytesSent: number;
  videoBytesSent: number;
}

export interface RemoteSummary {
  id: string;
  displayName: string;
  audio: 'live' | 'paused' | 'none';
  video: 'live' | 'paused' | 'none';
  screen: boolean;
}

interface RemoteConsumer {
  consumer: types.Consumer;
  peerId: string;
  source: Source;
  /** Paused at the producer (the other side muted / stopped its camera). */
  producerPaused: boolean;
}

const MAX_SILENT_RETRIES = 8;

const VIDEO_CONSTRAINTS: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } };
const AUDIO_CONSTRAINTS: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function mediaError(what: string, e: unknown): string {
  const name = (e as Error)?.name ?? '';
  if (name === 'NotAllowedError') return `${what}: permission was refused. Allow it in the browser's site settings and try again.`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `${what}: no such device was found.`;
  if (name === 'NotReadableError') return `${what}: the device is in use by another program.`;
  return `${what}: ${(e as Error)?.message ?? String(e)}`;
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
  #name: string;

  #signal: Signal | null = null;
  #send: types.Transport | null = null;
  #recv: types.Transport | null = null;
  readonly #producers = new Map<Source, types.Producer>();
  readonly #consumers = new Map<string, RemoteConsumer>();
  readonly #peers = new Map<string, PeerInfo>();
  readonly #tracks: Record<Source, MediaStreamTrack | null> = { mic: null, webcam: null, screen: null };
  readonly #want: Record<Source, boolean>;
  #busy = false;
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
  /** Our role as the server last said (join response, `role` notifications). */
  #role: Role = 'guest';
  #room: RoomState = { locked: false, hasPassword: false };
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
    this.#want = { mic: opts.params.audio, webcam: opts.params.video, screen: false };
  }

  get peerId(): string {
    return this.#peerId;
  }

  peers(): string[] {
    return [...this.#peers.keys()];
  }

  remote(): RemoteSummary[] {
    return [...this.#peers.values()].map((p) => {
      const mine = [...this.#consumers.values()].filter((c) => c.peerId === p.id);
      const of = (source: Source): 'live' | 'paused' | 'none' => {
        const c = mine.find((x) => x.source === source);
        return !c ? 'none' : c.producerPaused || c.consumer.paused ? 'paused' : 'live';
      };
      return { id: p.id, displayName: p.displayName, audio: of('mic'), video: of('webcam'), screen: mine.some((c) => c.source === 'screen') };
    });
  }

  local(): { mic: boolean; webcam: boolean; screen: boolean } {
    return { ...this.#want };
  }

  /** Our role and the room's lock/password state, as this page shows them. */
  hostView(): { role: Role; room: RoomState } {
    return { role: this.#role, room: { ...this.#room } };
  }

  /** Bytes through our transports, from the browser's own RTCPeerConnection statistics. */
  async stats(): Promise<MediaStats> {
    const out: MediaStats = { audioBytesReceived: 0, videoBytesReceived: 0, audioBytesSent: 0, videoBytesSent: 0 };
    for (const t of [this.#send, this.#recv]) {
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

  /** Bytes received per remote peer (from each consumer's RTCRtpReceiver), keyed by peer id. */
  async peerStats(): Promise<Record<string, { audioBytesReceived: number; videoBytesReceived: number }>> {
    const out: Record<string, { audioBytesReceived: number; videoBytesReceived: number }> = {};
    for (const id of this.#peers.keys()) out[id] = { audioBytesReceived: 0, videoBytesReceived: 0 };
    for (const c of this.#consumers.values()) {
      if (c.consumer.closed) continue;
      const entry = (out[c.peerId] ??= { audioBytesReceived: 0, videoBytesReceived: 0 });
      try {
        (await c.consumer.getStats()).forEach((s: any) => {
          if (s.type === 'inbound-rtp') entry[`${c.consumer.kind as Kind}BytesReceived`] += Number(s.bytesReceived) || 0;
        });
      } catch {
        /* closed meanwhile */
      }
    }
    return out;
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.ui.hideMessage();
    this.ui.showRoom(true);
    this.ui.ensureTile(this.#peerId, `${this.#name} (you)`, { local: true });
    this.ui.hideTile(this.#peerId, this.#params.hide);
    this.#renderButtons();
    this.#wireButtons();
    this.#setState('connecting', 'Starting camera and microphone…');
    await Promise.all([this.#acquire('mic'), this.#acquire('webcam')]);
    this.#renderLocal();
    void this.#connect();
  }

  /** No secrets here: URLs end up in proxy logs. They go in the hello message (#hello). */
  #wsUrl(): string {
    const q = new URLSearchParams({ room: this.#params.room, peer: this.#peerId, name: this.#name });
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?${q}`;
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

  async #connect(): Promise<void> {
    window.clearTimeout(this.#retryTimer);
    this.#restart = null;
    this.#setState(this.#joinedOnce ? 'reconnecting' : 'connecting', this.#joinedOnce ? 'Reconnecting…' : 'Connecting…');
    const sig = new Signal(this.#wsUrl(), {
      newConsumer: (d) => (sig === this.#signal ? this.#onNewConsumer(d) : Promise.reject(new Error('stale connection'))),
      notification: (m, d) => {
        if (sig === this.#signal) this.#onNotification(m, d);
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
      if (hello.waiting) {
        this.#enterWaiting();
        await this.#admitted!.promise;
      }
      const routerRtpCapabilities = (await sig.request('getRouterRtpCapabilities', {})) as types.RtpCapabilities;
      const device = await Device.factory();
      await device.load({ routerRtpCapabilities });
      this.#send = this.#makeTransport(sig, device, 'send', await sig.request('createWebRtcTransport', { producing: true, consuming: false }));
      this.#recv = this.#makeTransport(sig, device, 'recv', await sig.request('createWebRtcTransport', { producing: false, consuming: true }));
      const joined = (await sig.request('join', {
        displayName: this.#name,
        device: { name: browserName() },
        rtpCapabilities: device.rtpCapabilities as never,
      })) as Partial<JoinResponse> & { peers: PeerInfo[] };
      for (const p of joined.peers) this.#addPeer(p);
      this.#applyRole(joined.role === 'host' ? 'host' : 'guest');
      if (joined.room) this.#applyRoomState(joined.room);
      this.#retries = 0;
      this.#joinedOnce = true;
      this.#setState('joined', this.#peers.size === 0 ? 'Connected — you are the only one here' : 'Connected');
      this.ui.clearNotice('connection');
      for (const source of ['mic', 'webcam'] as const) if (this.#want[source]) await this.#publish(source);
      if (this.#want.screen && this.#tracks.screen) await this.#publish('screen');
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

  #makeTransport(sig: Signal, device: Device, dir: 'send' | 'recv', info: any): types.Transport {
    const t = dir === 'send' ? device.createSendTransport(info) : device.createRecvTransport(info);
    t.on('connect', ({ dtlsParameters }, done, fail) => {
      sig.request('connectWebRtcTransport', { transportId: t.id, dtlsParameters: dtlsParameters as never }).then(() => done(), fail);
    });
    if (dir === 'send') {
      t.on('produce', ({ kind, rtpParameters, appData }, done, fail) => {
        sig
          .request('produce', { transportId: t.id, kind, rtpParameters: rtpParameters as never, appData: { source: appData.source as Source } })
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
    this.#stopLocal();
    this.#setState(state, state === 'refused' ? 'Not admitted' : 'Disconnected');
    this.ui.showMessage(title, text, [
      { label: 'Try again', primary: true, onClick: () => location.reload() },
      { label: 'Start page', href: '/' },
    ]);
  }

  #onClose(info: CloseInfo): void {
    this.#teardown();
    if (this.#leaving) return;
    if (this.#restart && !info.disconnected) return this.#scheduleReconnect(this.#restart);
    const d = info.disconnected;
    if (d) {
      // The server's message for a rejoin says that the page reconnects (src/protocol/user-messages.ts).
      if (d.rejoin) return this.#scheduleReconnect(d.message, true);
      this.#signal = null;
      this.#stopLocal();
      this.#setState('closed', 'Disconnected');
      const title = d.reason === 'kicked' ? 'You were removed from the room' : d.reason === 'replaced' ? 'Opened elsewhere' : 'The meeting ended for you';
      this.ui.showMessage(title, d.message, [
        { label: 'Join again', primary: true, onClick: () => location.reload() },
        { label: 'Start page', href: '/' },
      ]);
      return;
    }
    const why = info.lastError || info.reason;
    if (info.code === CLOSE_CODES.passwordRequired) {
      this.#signal = null;
      this.#stopLocal();
      const retry = this.#roomPassword !== null;
      this.#setState('password', 'Room password needed');
      this.ui.showPasswordPrompt(retry ? 'That password was not accepted. Try again, or ask the host for it.' : 'Ask the host for the room password.', (pw) => {
        this.#roomPassword = pw;
        void this.#rejoin();
      });
      return;
    }
    if (info.code === CLOSE_CODES.locked) {
      this.#signal = null;
      this.#stopLocal();
      this.#setState('refused', 'Room locked');
      this.ui.showMessage('This room is locked by its host', 'Nobody new can join while the room is locked. Ask the host to unlock it, then try again.', [
        { label: 'Try again', primary: true, onClick: () => location.reload() },
        { label: 'Start page', href: '/' },
      ]);
      return;
    }
    // Trying again as it is cannot help (a login, a new link or another id may).
    if (isRefusal(info.code)) {
      this.#signal = null;
      this.#stopLocal();
      this.#setState('refused', 'Not admitted');
      const actions: { label: string; primary?: boolean; href?: string; onClick?: () => void }[] = [];
      // A login (or a join link) is what is missing: offer the login page, and come back here after it.
      if (info.code === CLOSE_CODES.unauthorized) actions.push({ label: 'Log in', primary: true, href: loginHref() });
      actions.push({ label: 'Try again', primary: actions.length === 0, onClick: () => location.reload() }, { label: 'Start page', href: '/' });
      this.ui.showMessage('Could not join this room', why || `The server refused the connection (code ${info.code}).`, actions);
      return;
    }
    if (!this.#joinedOnce && this.#retries >= MAX_SILENT_RETRIES) {
      this.#signal = null;
      this.#stopLocal();
      this.#setState('closed', 'Disconnected');
      this.ui.showMessage('Could not reach the server', why || 'The connection to the server could not be opened. Check your network and try again.', [
        { label: 'Try again', primary: true, onClick: () => location.reload() },
        { label: 'Start page', href: '/' },
      ]);
      return;
    }
    this.#scheduleReconnect(why || 'The connection to the server was lost.');
  }

  /** After the password prompt: devices on again, then a new connection (with the password). */
  async #rejoin(): Promise<void> {
    this.ui.hidePasswordPrompt();
    this.ui.hideMessage();
    this.ui.showRoom(true);
    this.#setState('connecting', 'Starting camera and microphone…');
    await Promise.all([this.#acquire('mic'), this.#acquire('webcam')]);
    this.#renderLocal();
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
    for (const p of this.#producers.values()) p.close();
    this.#producers.clear();
    for (const c of this.#consumers.values()) c.consumer.close();
    this.#consumers.clear();
    this.#send?.close();
    this.#recv?.close();
    this.#send = this.#recv = null;
    this.#peers.clear();
    this.ui.clearRemote();
    this.ui.setSpeaker(null);
    // Host rights are given anew by the next join; until then no host controls.
    this.#applyRole('guest');
  }

  #stopLocal(): void {
    for (const s of ['mic', 'webcam', 'screen'] as const) {
      this.#tracks[s]?.stop();
      this.#tracks[s] = null;
    }
    this.#renderLocal();
  }

  leave(): void {
    this.#leaving = true;
    window.clearTimeout(this.#retryTimer);
    const sig = this.#signal;
    this.#signal = null;
    sig?.close();
    this.#teardown();
    this.#stopLocal();
    this.#setState('left', 'Left');
    this.ui.showMessage('You left the room', `You can join “${this.#params.room}” again at any time.`, [
      { label: 'Join again', primary: true, onClick: () => location.reload() },
      { label: 'Start page', href: '/' },
    ]);
  }

  // ---- local media -------------------------------------------------------------------------------

  async #acquire(source: Source): Promise<boolean> {
    const have = this.#tracks[source];
    if (have && have.readyState === 'live') return true;
    if (!this.#want[source]) return false;
    try {
      if (source === 'screen') {
        const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
        this.#tracks.screen = stream.getVideoTracks()[0] ?? null;
        this.#tracks.screen?.addEventListener('ended', () => void this.toggle('screen', false));
      } else {
        if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser (or an insecure http:// address) gives the page no access to devices');
        const stream = await navigator.mediaDevices.getUserMedia(source === 'mic' ? { audio: AUDIO_CONSTRAINTS } : { video: VIDEO_CONSTRAINTS });
        this.#tracks[source] = stream.getTracks()[0] ?? null;
      }
      return this.#tracks[source] !== null;
    } catch (e) {
      this.#want[source] = false;
      const what = source === 'mic' ? 'Microphone' : source === 'webcam' ? 'Camera' : 'Screen sharing';
      this.ui.notice(`media-${source}`, mediaError(what, e), { level: 'warn', sticky: true });
      return false;
    }
  }

  async #publish(source: Source): Promise<void> {
    const track = this.#tracks[source];
    const send = this.#send;
    const sig = this.#signal;
    if (!track || !send || send.closed || !sig || this.state !== 'joined') return;
    const existing = this.#producers.get(source);
    try {
      if (existing && !existing.closed) {
        if (existing.track !== track) await existing.replaceTrack({ track });
        if (existing.paused) {
          existing.resume();
          await sig.request('resumeProducer', { producerId: existing.id });
        }
        return;
      }
      const producer = await send.produce({
        track,
        stopTracks: false,
        appData: { source },
        ...(source === 'mic' ? { codecOptions: { opusStereo: false, opusFec: true } } : {}),
        ...(source === 'webcam' ? { encodings: [{ maxBitrate: 900_000 }] } : {}),
        ...(source === 'screen' ? { encodings: [{ maxBitrate: 1_500_000 }] } : {}),
      });
      // The connection may have gone while we waited.
      if (this.#send !== send) return void producer.close();
      this.#producers.set(source, producer);
      producer.on('transportclose', () => this.#producers.delete(source));
    } catch (e) {
      if (sig.closed) return;
      this.ui.notice(`media-${source}`, `Could not send your ${source === 'mic' ? 'microphone' : source === 'webcam' ? 'camera' : 'screen'}: ${(e as Error).message}`, { level: 'error', sticky: true });
    }
  }

  async #unpublish(source: Source): Promise<void> {
    const producer = this.#producers.get(source);
    const sig = this.#signal;
    if (source === 'screen') {
      this.#producers.delete(source);
      if (producer && !producer.closed) {
        producer.close();
        await sig?.request('closeProducer', { producerId: producer.id }).catch(() => {});
      }
      this.#tracks.screen?.stop();
      this.#tracks.screen = null;
      return;
    }
    if (producer && !producer.closed && !producer.paused) {
      producer.pause();
      await sig?.request('pauseProducer', { producerId: producer.id }).catch(() => {});
    }
    // A stopped camera turns its light off; a muted mic keeps its (disabled) track for a quick unmute.
    if (source === 'webcam') {
      this.#tracks.webcam?.stop();
      this.#tracks.webcam = null;
    } else if (this.#tracks.mic) {
      this.#tracks.mic.enabled = false;
    }
  }

  /** Turns a source on or off; works while connected and while reconnecting. */
  async toggle(source: Source, on: boolean): Promise<void> {
    if (this.#busy || this.#want[source] === on) return;
    this.#busy = true;
    this.#renderButtons();
    try {
      this.#want[source] = on;
      if (on) {
        if (await this.#acquire(source)) {
          const t = this.#tracks[source];
          if (t) t.enabled = true;
          await this.#publish(source);
        }
      } else {
        await this.#unpublish(source);
      }
    } finally {
      this.#busy = false;
      this.#renderLocal();
    }
  }

  #renderLocal(): void {
    this.ui.setTrack(this.#peerId, 'video', this.#want.webcam ? this.#tracks.webcam : null);
    this.ui.setTrack(this.#peerId, 'audio', this.#want.mic ? this.#tracks.mic : null);
    this.#renderButtons();
  }

  #renderButtons(): void {
    const b = this.ui.buttons;
    this.ui.setButton(b.mic, this.#want.mic ? 'Mute' : 'Unmute', this.#want.mic ? 'normal' : 'off', !this.#want.mic, this.#busy);
    this.ui.setButton(b.cam, this.#want.webcam ? 'Stop video' : 'Start video', this.#want.webcam ? 'normal' : 'off', !this.#want.webcam, this.#busy);
    this.ui.setButton(b.screen, this.#want.screen ? 'Stop sharing' : 'Share screen', this.#want.screen ? 'active' : 'normal', this.#want.screen, this.#busy);
    if (!navigator.mediaDevices?.getDisplayMedia) b.screen.hidden = true;
  }

  #wireButtons(): void {
    const b = this.ui.buttons;
    b.mic.addEventListener('click', () => void this.toggle('mic', !this.#want.mic));
    b.cam.addEventListener('click', () => void this.toggle('webcam', !this.#want.webcam));
    b.screen.addEventListener('click', () => void this.toggle('screen', !this.#want.screen));
    b.leave.addEventListener('click', () => this.leave());
    b.copy.addEventListener('click', () => void this.copyLink());
    b.lock.addEventListener('click', () => void this.setLocked(!this.#room.locked));
    b.password.addEventListener('click', () => {
      if (this.#room.hasPassword) void this.setRoomPassword(null);
      else this.ui.showHostPasswordForm((pw) => void this.setRoomPassword(pw));
    });
    this.ui.onHostAction = (action, peerId) => void this.hostAction(action, peerId);
  }

  // ---- host controls -----------------------------------------------------------------------------

  #applyRole(role: Role): void {
    this.#role = role;
    this.ui.setOwnRole(role);
    this.ui.setPeerRole(this.#peerId, role);
  }

  #applyRoomState(room: RoomState): void {
    this.#room = { locked: room.locked === true, hasPassword: room.hasPassword === true };
    this.ui.setRoomState(this.#room);
  }

  /** A host request; a refusal (rights ended meanwhile, peer gone) is shown, never thrown. */
  async #hostRequest<T>(what: string, run: (sig: Signal) => Promise<T>): Promise<T | null> {
    const sig = this.#signal;
    if (!sig || this.state !== 'joined' || this.#role !== 'host') {
      this.ui.notice('host-action', `${what}: only a host in the room can do that.`, { level: 'error' });
      return null;
    }
    try {
      return await run(sig);
    } catch (e) {
      const text = e instanceof RequestFailed && e.code === ERROR_CODES.forbidden ? `${what}: you no longer have host rights.` : `${what} failed: ${(e as Error).message}`;
      this.ui.notice('host-action', text, { level: 'error' });
      return null;
    }
  }

  async setLocked(locked: boolean): Promise<void> {
    const st = await this.#hostRequest(locked ? 'Lock the room' : 'Unlock the room', (sig) => sig.request('hostLockRoom', { locked }) as Promise<RoomState>);
    if (!st) return;
    this.#applyRoomState(st);
    this.ui.notice('host-action', st.locked ? 'Room locked: nobody new can join.' : 'Room unlocked: guests can join again.');
  }

  async setRoomPassword(password: string | null): Promise<void> {
    const st = await this.#hostRequest(password ? 'Set the room password' : 'Clear the room password', (sig) => sig.request('hostSetRoomPassword', { password }) as Promise<RoomState>);
    if (!st) return;
    this.#applyRoomState(st);
    this.ui.notice('host-action', st.hasPassword ? 'Room password set: new guests must enter it to join.' : 'Room password removed.');
  }

  async hostAction(action: HostAction, peerId: string): Promise<void> {
    const name = this.#peers.get(peerId)?.displayName ?? 'this participant';
    if (action === 'mute') {
      const r = await this.#hostRequest(`Mute ${name}`, (sig) => sig.request('hostMutePeer', { peerId, kind: 'audio' }) as Promise<{ muted: number }>);
      if (r) this.ui.notice('host-action', r.muted > 0 ? `You muted ${name}.` : `${name} was already muted.`);
      return;
    }
    if (action === 'unmute') {
      const r = await this.#hostRequest(`Allow ${name} to unmute`, (sig) => sig.request('hostUnmutePeer', { peerId, kind: 'audio' }));
      if (r) this.ui.notice('host-action', `${name} may unmute again.`);
      return;
    }
    const r = await this.#hostRequest(`Remove ${name}`, (sig) => sig.request('hostKickPeer', { peerId }));
    if (r) this.ui.notice('host-action', `You removed ${name} from the room.`);
  }

  /** Turns a source off for the host (mutedByHost), after any toggle under way. */
  async #forceOff(source: Source): Promise<void> {
    for (let i = 0; this.#busy && i < 100; i++) await new Promise((r) => window.setTimeout(r, 50));
    await this.toggle(source, false);
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

  // ---- remote peers ------------------------------------------------------------------------------

  #addPeer(p: PeerInfo): void {
    this.#peers.set(p.id, p);
    this.ui.setPeerRole(p.id, p.role === 'host' ? 'host' : 'guest');
    this.ui.ensureTile(p.id, p.displayName);
    if (this.state === 'joined') this.ui.setStatus('joined', 'Connected');
  }

  #removePeer(peerId: string): void {
    this.#peers.delete(peerId);
    for (const [id, c] of this.#consumers) {
      if (c.peerId !== peerId) continue;
      c.consumer.close();
      this.#consumers.delete(id);
    }
    this.ui.removeTile(peerId);
    this.ui.removeTile(`${peerId}:screen`);
    if (this.state === 'joined' && this.#peers.size === 0) this.ui.setStatus('joined', 'Connected — you are the only one here');
  }

  #tileKey(c: RemoteConsumer): string {
    return c.source === 'screen' ? `${c.peerId}:screen` : c.peerId;
  }

  #renderConsumer(c: RemoteConsumer): void {
    const key = this.#tileKey(c);
    const name = this.#peers.get(c.peerId)?.displayName ?? 'Guest';
    this.ui.ensureTile(key, c.source === 'screen' ? `${name} (screen)` : name, { screen: c.source === 'screen' });
    this.ui.setTrack(key, c.consumer.kind as Kind, c.consumer.track, !c.producerPaused);
  }

  async #onNewConsumer(d: NewConsumerData): Promise<unknown> {
    const recv = this.#recv;
    if (!recv || recv.closed) throw new Error('not ready to receive media');
    const raw = (d.appData as { source?: unknown }).source;
    const source: Source = raw === 'screen' ? 'screen' : raw === 'mic' || d.kind === 'audio' ? 'mic' : 'webcam';
    const consumer = await recv.consume({ id: d.id, producerId: d.producerId, kind: d.kind, rtpParameters: d.rtpParameters as types.RtpParameters, appData: { peerId: d.peerId, source } });
    const c: RemoteConsumer = { consumer, peerId: d.peerId, source, producerPaused: d.producerPaused };
    this.#consumers.set(consumer.id, c);
    consumer.on('transportclose', () => this.#consumers.delete(consumer.id));
    if (!this.#peers.has(d.peerId)) this.#peers.set(d.peerId, { id: d.peerId, displayName: 'Guest', device: {}, role: 'guest' });
    this.#renderConsumer(c);
    return {};
  }

  #onNotification<M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]): void {
    switch (method) {
      case 'newPeer':
        return this.#addPeer(data as PeerInfo);
      case 'peerClosed':
        return this.#removePeer((data as ServerNotifications['peerClosed']).peerId);
      case 'peerDisplayNameChanged': {
        const d = data as ServerNotifications['peerDisplayNameChanged'];
        const p = this.#peers.get(d.peerId);
        if (p) p.displayName = d.displayName;
        this.ui.setName(d.peerId, d.displayName);
        this.ui.setName(`${d.peerId}:screen`, `${d.displayName} (screen)`);
        return;
      }
      case 'consumerClosed': {
        const c = this.#consumers.get((data as ServerNotifications['consumerClosed']).consumerId);
        if (!c) return;
        c.consumer.close();
        this.#consumers.delete(c.consumer.id);
        if (c.source === 'screen') this.ui.removeTile(this.#tileKey(c));
        else this.ui.setTrack(this.#tileKey(c), c.consumer.kind as Kind, null);
        return;
      }
      case 'consumerPaused':
      case 'consumerResumed': {
        const c = this.#consumers.get((data as ServerNotifications['consumerPaused']).consumerId);
        if (!c) return;
        c.producerPaused = method === 'consumerPaused';
        this.ui.setLive(this.#tileKey(c), c.consumer.kind as Kind, !c.producerPaused);
        return;
      }
      case 'waiting':
        return this.#enterWaiting((data as ServerNotifications['waiting']).message);
      case 'admitted':
        this.ui.clearNotice('waiting');
        this.#setState('connecting', 'Joining…');
        this.#admitted?.resolve();
        return;
      case 'mutedByHost': {
        const kind = (data as ServerNotifications['mutedByHost']).kind;
        this.ui.notice('muted-by-host', kind === 'audio' ? 'The host muted you. You can unmute once a host allows it.' : 'The host turned off your camera. You can turn it on once a host allows it.', { level: 'warn' });
        if (kind === 'audio') void this.#forceOff('mic');
        else void this.#forceOff('webcam').then(() => this.#forceOff('screen'));
        return;
      }
      case 'unmutedByHost': {
        const kind = (data as ServerNotifications['unmutedByHost']).kind;
        this.ui.notice('muted-by-host', kind === 'audio' ? 'A host allowed you to unmute.' : 'A host allowed you to turn your camera on.', { level: 'info' });
        return;
      }
      case 'role': {
        const d = data as ServerNotifications['role'];
        const was = this.#role;
        const role: Role = d.role === 'host' ? 'host' : 'guest';
        this.#applyRole(role);
        if (role === 'guest' && was === 'host') {
          // The login behind those rights has ended (logout, revocation, expiry): it is of no use any more.
          clearHostToken();
          this.ui.notice('role', d.message || 'Your host rights have ended.', { level: 'warn', sticky: true, actions: [{ label: 'Log in again', href: loginHref() }] });
        } else if (d.message) {
          this.ui.notice('role', d.message, { level: 'info' });
        }
        return;
      }
      case 'peerRoleChanged': {
        const d = data as ServerNotifications['peerRoleChanged'];
        const role: Role = d.role === 'host' ? 'host' : 'guest';
        const p = this.#peers.get(d.peerId);
        if (p) p.role = role;
        this.ui.setPeerRole(d.peerId, role);
        return;
      }
      case 'roomState':
        return this.#applyRoomState(data as ServerNotifications['roomState']);
      case 'activeSpeaker':
        return this.ui.setSpeaker((data as ServerNotifications['activeSpeaker']).peerId);
      case 'error':
        // Kept by the signalling client; shown if the server closes right after (a refusal).
        return;
      default:
        return;
    }
  }

  /** Seed's `screen=1`: browsers only allow screen capture after a click, so ask for one if needed. */
  async startScreenFromLink(): Promise<void> {
    await this.toggle('screen', true);
    if (!this.#want.screen) {
      this.ui.clearNotice('media-screen');
      this.ui.notice('screen', 'This link asks you to share your screen.', {
        level: 'info',
        sticky: true,
        actions: [{ label: 'Share screen', primary: true, onClick: () => { this.ui.clearNotice('screen'); void this.toggle('screen', true); } }],
      });
    }
  }

  showShareNotice(): void {
    const url = this.shareUrl();
    this.ui.notice('share', `Invite others with this link: ${url}`, { level: 'info', sticky: true, actions: [{ label: 'Copy link', primary: true, onClick: () => void this.copyLink() }] });
  }
}
