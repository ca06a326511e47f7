/**
 * Our own media: the camera, microphone and screen tracks (acquired once, kept across reconnects),
 * what the person wants on, the producers on the current send transport, and the toolbar buttons for
 * them.
 */
import type { types } from 'mediasoup-client';
import type { MediaSource } from '../../protocol/index.ts';
import type { SessionContext } from './session-context.ts';

export type Source = MediaSource;

/** 720p when the camera has it: the top simulcast layer (browsers send fewer layers below 960×540). */
const VIDEO_CONSTRAINTS: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24, max: 30 } };
/** Screens: full resolution, few frames (text stays sharp; slides and code change rarely). */
const SCREEN_CONSTRAINTS: MediaTrackConstraints = { width: { max: 1920 }, height: { max: 1080 }, frameRate: { ideal: 10, max: 15 } };

/**
 * Webcam simulcast: three VP8 spatial layers, ≈180p/360p/720p from a 1280×720 camera, each with three
 * temporal layers (L1T3: mediasoup can also drop the frame rate to 1/2 or 1/4). Measured on
 * loopback (docs/rooms-and-media.md, "Web page"): Chromium 156's fake camera (1280×720, ~20 fps, an easy picture)
 * sends ~145, ~360 and ~750 kbit/s for them, r0 at its cap, r1 and r2 below theirs. A real camera's
 * noisier picture uses more, so the caps sit a little under libwebrtc's own for these sizes
 * (200k/700k/2.5M): 180p stays usable on a ~300 kbit/s link, and all three (2.15 Mbit/s) fit the
 * server's 3 Mbit/s intake per transport.
 * The server picks a layer per receiver (tile size, bandwidth) and tells us to stop encoding layers
 * nobody receives (dynacast, setMaxSpatialLayer).
 */
export const WEBCAM_SIMULCAST: types.RtpEncodingParameters[] = [
  { scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: 'L1T3' },
  { scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: 'L1T3' },
  { scaleResolutionDownBy: 1, maxBitrate: 1_500_000, scalabilityMode: 'L1T3' },
];
/** A sender that cannot simulcast: one encoding, as before (the server then has one layer to offer). */
const WEBCAM_SINGLE: types.RtpEncodingParameters[] = [{ maxBitrate: 900_000 }];
/**
 * Screen share: one full-resolution encoding with temporal layers (a weak receiver gets fewer frames,
 * never blurrier text) and the encoder told to keep the resolution (contentHint 'detail',
 * degradationPreference 'maintain-resolution').
 */
const SCREEN_ENCODINGS: types.RtpEncodingParameters[] = [{ maxBitrate: 1_500_000, maxFramerate: 15, scalabilityMode: 'L1T3' }];
const AUDIO_CONSTRAINTS: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function mediaError(what: string, e: unknown): string {
  const name = (e as Error)?.name ?? '';
  if (name === 'NotAllowedError') return `${what}: permission was refused. Allow it in the browser's site settings and try again.`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `${what}: no such device was found.`;
  if (name === 'NotReadableError') return `${what}: the device is in use by another program.`;
  return `${what}: ${(e as Error)?.message ?? String(e)}`;
}

/** Screens: ask the encoder to drop frames rather than resolution when short of bandwidth or CPU. */
async function keepResolution(producer: types.Producer): Promise<void> {
  const sender = producer.rtpSender;
  if (!sender) return;
  try {
    const params = sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
    params.degradationPreference = 'maintain-resolution';
    await sender.setParameters(params);
  } catch {
    // Not settable in this browser: contentHint 'detail' already leans the same way.
  }
}

/** One video producer as its sender sees it (tests and debugging). */
export interface SendingView {
  source: Source;
  producerId: string;
  encodings: {
    rid: string | null;
    active: boolean;
    bytesSent: number;
    frameWidth: number;
    frameHeight: number;
    framesPerSecond: number;
    framesEncoded: number;
    qualityLimitationReason: string;
  }[];
}

export class LocalMedia {
  readonly #ctx: SessionContext;
  readonly #producers = new Map<Source, types.Producer>();
  readonly #tracks: Record<Source, MediaStreamTrack | null> = { mic: null, webcam: null, screen: null };
  readonly #want: Record<Source, boolean>;
  #send: types.Transport | null = null;
  #busy = false;

  constructor(ctx: SessionContext, want: { mic: boolean; webcam: boolean }) {
    this.#ctx = ctx;
    this.#want = { mic: want.mic, webcam: want.webcam, screen: false };
  }

  /** What is switched on, as the person chose it. */
  wanted(): { mic: boolean; webcam: boolean; screen: boolean } {
    return { ...this.#want };
  }

  /** The send transport of the current connection (null between connections). */
  get transport(): types.Transport | null {
    return this.#send;
  }

  set transport(t: types.Transport | null) {
    this.#send = t;
  }

  /** Camera and microphone (as wanted), then the local tile. */
  async acquireDevices(): Promise<void> {
    await Promise.all([this.#acquire('mic'), this.#acquire('webcam')]);
    this.render();
  }

  /** After joining: sends whatever is on. */
  async publishAll(): Promise<void> {
    for (const source of ['mic', 'webcam'] as const) if (this.#want[source]) await this.#publish(source);
    if (this.#want.screen && this.#tracks.screen) await this.#publish('screen');
  }

  /** The connection ended: its producers and send transport go; the tracks stay. */
  closeProducers(): void {
    for (const p of this.#producers.values()) p.close();
    this.#producers.clear();
    this.#send?.close();
    this.#send = null;
  }

  /** Stops every device (the session is over, or waits for a password). */
  stop(): void {
    for (const s of ['mic', 'webcam', 'screen'] as const) {
      this.#tracks[s]?.stop();
      this.#tracks[s] = null;
    }
    this.render();
  }

  async #acquire(source: Source): Promise<boolean> {
    const have = this.#tracks[source];
    if (have && have.readyState === 'live') return true;
    if (!this.#want[source]) return false;
    try {
      if (source === 'screen') {
        const stream = await navigator.mediaDevices.getDisplayMedia({ video: SCREEN_CONSTRAINTS, audio: false });
        this.#tracks.screen = stream.getVideoTracks()[0] ?? null;
        if (this.#tracks.screen) this.#tracks.screen.contentHint = 'detail';
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
      this.#ctx.ui.notice(`media-${source}`, mediaError(what, e), { level: 'warn', sticky: true });
      return false;
    }
  }

  /** Sends the source (now, or once joined); false when the server or the browser refused it (the page said why). */
  async #publish(source: Source): Promise<boolean> {
    const track = this.#tracks[source];
    const send = this.#send;
    const sig = this.#ctx.signal();
    if (!track || !send || send.closed || !sig || this.#ctx.state() !== 'joined') return true;
    const existing = this.#producers.get(source);
    try {
      if (existing && !existing.closed) {
        if (existing.track !== track) await existing.replaceTrack({ track });
        if (existing.paused) {
          existing.resume();
          await sig.request('resumeProducer', { producerId: existing.id });
        }
        return true;
      }
      const { width, height } = track.kind === 'video' ? track.getSettings() : {};
      const produce = (encodings?: types.RtpEncodingParameters[]) =>
        send.produce({
          track,
          stopTracks: false,
          // The captured size: the server sizes the simulcast layers from it (adaptive stream).
          appData: { source, ...(width && height ? { width, height } : {}) },
          ...(source === 'mic' ? { codecOptions: { opusStereo: false, opusFec: true } } : {}),
          ...(encodings ? { encodings: encodings.map((e) => ({ ...e })) } : {}),
        });
      let producer: types.Producer;
      if (source === 'webcam') {
        try {
          producer = await produce(WEBCAM_SIMULCAST);
        } catch (e) {
          // A browser (or codec) without simulcast: one encoding still works, with one layer to offer.
          if (sig.closed || this.#send !== send || send.closed) throw e;
          console.warn(`simulcast refused (${(e as Error).message}); sending one encoding`);
          producer = await produce(WEBCAM_SINGLE);
        }
      } else if (source === 'screen') {
        producer = await produce(SCREEN_ENCODINGS).catch(() => produce([{ maxBitrate: 1_500_000 }]));
        void keepResolution(producer);
      } else {
        producer = await produce();
      }
      // The connection may have gone while we waited.
      if (this.#send !== send) {
        producer.close();
        return true;
      }
      this.#producers.set(source, producer);
      producer.on('transportclose', () => this.#producers.delete(source));
      return true;
    } catch (e) {
      if (sig.closed) return true; // the next connection sends it
      this.#ctx.ui.notice(`media-${source}`, `Could not send your ${source === 'mic' ? 'microphone' : source === 'webcam' ? 'camera' : 'screen'}: ${(e as Error).message}`, { level: 'error', sticky: true });
      return false;
    }
  }

  async #unpublish(source: Source): Promise<void> {
    const producer = this.#producers.get(source);
    const sig = this.#ctx.signal();
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

  /**
   * Dynacast (the server's producerLayers): encode only the spatial layers up to `maxSpatialLayer`,
   * since nobody receives the ones above (mediasoup-client sets encodings[i].active on the sender).
   */
  async setMaxSpatialLayer(producerId: string, maxSpatialLayer: number): Promise<void> {
    const producer = [...this.#producers.values()].find((p) => p.id === producerId);
    if (!producer || producer.closed || producer.kind !== 'video') return;
    const layers = producer.rtpParameters.encodings?.length ?? 1;
    if (layers < 2) return;
    const layer = Math.max(0, Math.min(layers - 1, Math.floor(maxSpatialLayer)));
    await producer.setMaxSpatialLayer(layer).catch(() => {});
  }

  /** Each video producer's encodings: on or off (dynacast), and what the browser sends for them (window.confd.adaptive()). */
  async sending(): Promise<SendingView[]> {
    const out: SendingView[] = [];
    for (const [source, p] of this.#producers) {
      if (p.closed || p.kind !== 'video' || !p.rtpSender) continue;
      const stats = new Map<string, any>();
      try {
        (await p.getStats()).forEach((s: any) => {
          if (s.type === 'outbound-rtp') stats.set(s.rid ?? '', s);
        });
      } catch {
        /* closed meanwhile */
      }
      const encodings = p.rtpSender.getParameters().encodings.map((e) => {
        const s = stats.get(e.rid ?? '') ?? (stats.size === 1 ? [...stats.values()][0] : undefined);
        return {
          rid: e.rid ?? null,
          active: e.active !== false,
          bytesSent: Number(s?.bytesSent) || 0,
          frameWidth: Number(s?.frameWidth) || 0,
          frameHeight: Number(s?.frameHeight) || 0,
          framesPerSecond: Number(s?.framesPerSecond) || 0,
          framesEncoded: Number(s?.framesEncoded) || 0,
          qualityLimitationReason: String(s?.qualityLimitationReason ?? ''),
        };
      });
      out.push({ source, producerId: p.id, encodings });
    }
    return out;
  }

  /** Turns a source on or off; works while connected and while reconnecting. */
  async toggle(source: Source, on: boolean): Promise<void> {
    if (this.#busy || this.#want[source] === on) return;
    this.#busy = true;
    this.renderButtons();
    try {
      this.#want[source] = on;
      if (on) {
        if (await this.#acquire(source)) {
          const t = this.#tracks[source];
          if (t) t.enabled = true;
          // Refused (a host muted us, no free media port, ...): off again, so the button shows what is sent.
          if (!(await this.#publish(source))) {
            this.#want[source] = false;
            await this.#unpublish(source);
          }
        }
      } else {
        await this.#unpublish(source);
      }
    } finally {
      this.#busy = false;
      this.render();
    }
  }

  /** Turns a source off for the host (mutedByHost), after any toggle under way. */
  async forceOff(source: Source): Promise<void> {
    for (let i = 0; this.#busy && i < 100; i++) await new Promise((r) => window.setTimeout(r, 50));
    await this.toggle(source, false);
  }

  /** Seed's `screen=1`: browsers only allow screen capture after a click, so ask for one if needed. */
  async startScreenFromLink(): Promise<void> {
    const ui = this.#ctx.ui;
    await this.toggle('screen', true);
    if (!this.#want.screen) {
      ui.clearNotice('media-screen');
      ui.notice('screen', 'This link asks you to share your screen.', {
        level: 'info',
        sticky: true,
        actions: [{ label: 'Share screen', primary: true, onClick: () => { ui.clearNotice('screen'); void this.toggle('screen', true); } }],
      });
    }
  }

  /** The local tile and the toolbar buttons, as things are now. */
  render(): void {
    const { ui, peerId } = this.#ctx;
    ui.setTrack(peerId, 'video', this.#want.webcam ? this.#tracks.webcam : null);
    ui.setTrack(peerId, 'audio', this.#want.mic ? this.#tracks.mic : null);
    this.renderButtons();
  }

  renderButtons(): void {
    const ui = this.#ctx.ui;
    const b = ui.buttons;
    ui.setButton(b.mic, this.#want.mic ? 'Mute' : 'Unmute', this.#want.mic ? 'normal' : 'off', !this.#want.mic, this.#busy);
    ui.setButton(b.cam, this.#want.webcam ? 'Stop video' : 'Start video', this.#want.webcam ? 'normal' : 'off', !this.#want.webcam, this.#busy);
    ui.setButton(b.screen, this.#want.screen ? 'Stop sharing' : 'Share screen', this.#want.screen ? 'active' : 'normal', this.#want.screen, this.#busy);
    if (!navigator.mediaDevices?.getDisplayMedia) b.screen.hidden = true;
  }

  wireButtons(): void {
    const b = this.#ctx.ui.buttons;
    b.mic.addEventListener('click', () => void this.toggle('mic', !this.#want.mic));
    b.cam.addEventListener('click', () => void this.toggle('webcam', !this.#want.webcam));
    b.screen.addEventListener('click', () => void this.toggle('screen', !this.#want.screen));
  }
}
