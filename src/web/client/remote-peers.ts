/**
 * Everyone else in the room: who is there (and their names and roles), the consumers of their media on
 * the current receive transport, and their tiles.
 */
import type { types } from 'mediasoup-client';
import type { NewConsumerData, PeerInfo, Role } from '../../protocol/index.ts';
import type { Source } from './local-media.ts';
import type { SessionContext } from './session-context.ts';
import { TileViews, type ConsumerViewReport } from './tile-views.ts';
import type { Kind } from './ui.ts';

export interface RemoteSummary {
  id: string;
  displayName: string;
  audio: 'live' | 'paused' | 'none';
  video: 'live' | 'paused' | 'none';
  screen: boolean;
}

export type PeerBytes = Record<string, { audioBytesReceived: number; videoBytesReceived: number }>;

interface RemoteConsumer {
  consumer: types.Consumer;
  peerId: string;
  source: Source;
  /** Paused at the producer (the other side muted / stopped its camera). */
  producerPaused: boolean;
  /** The layers the server forwards now (consumerLayers), for video; null before any report. */
  layers: { spatialLayer: number | null; temporalLayer: number | null } | null;
}

/** Per video consumer: its tile as last reported to the server, and the layers it gets (window.confd.adaptive()). */
export interface AdaptiveView {
  consumerId: string;
  peerId: string;
  source: Source;
  reported: ConsumerViewReport | null;
  layers: { spatialLayer: number | null; temporalLayer: number | null } | null;
}

const ALONE = 'Connected — you are the only one here';

export class RemotePeers {
  readonly #ctx: SessionContext;
  readonly #peers = new Map<string, PeerInfo>();
  readonly #consumers = new Map<string, RemoteConsumer>();
  #recv: types.Transport | null = null;
  /** Adaptive stream: each video tile's size and visibility, reported to the server. */
  readonly #views: TileViews;

  constructor(ctx: SessionContext) {
    this.#ctx = ctx;
    this.#views = new TileViews((v) => ctx.signal()?.request('setConsumerView', v) ?? Promise.resolve());
  }

  /** Video consumers: what their tiles reported and the layers they get. */
  adaptive(): AdaptiveView[] {
    const reported = this.#views.reported();
    return [...this.#consumers.values()]
      .filter((c) => c.consumer.kind === 'video')
      .map((c) => ({ consumerId: c.consumer.id, peerId: c.peerId, source: c.source, reported: reported[c.consumer.id] ?? null, layers: c.layers }));
  }

  /** The server's consumerLayers: what a video consumer gets now. */
  consumerLayers(consumerId: string, spatialLayer: number | null, temporalLayer: number | null): void {
    const c = this.#consumers.get(consumerId);
    if (c) c.layers = { spatialLayer, temporalLayer };
  }

  /** Tiles were laid out anew (minimised, enlarged): report their sizes again. */
  refreshViews(): void {
    this.#views.refresh();
  }

  /** The receive transport of the current connection (null between connections). */
  get transport(): types.Transport | null {
    return this.#recv;
  }

  set transport(t: types.Transport | null) {
    this.#recv = t;
  }

  get size(): number {
    return this.#peers.size;
  }

  ids(): string[] {
    return [...this.#peers.keys()];
  }

  displayName(peerId: string): string | undefined {
    return this.#peers.get(peerId)?.displayName;
  }

  /** The status line's words for a joined session, by who else is here. */
  joinedStatus(): string {
    return this.#peers.size === 0 ? ALONE : 'Connected';
  }

  summary(): RemoteSummary[] {
    return [...this.#peers.values()].map((p) => {
      const mine = [...this.#consumers.values()].filter((c) => c.peerId === p.id);
      const of = (source: Source): 'live' | 'paused' | 'none' => {
        const c = mine.find((x) => x.source === source);
        return !c ? 'none' : c.producerPaused || c.consumer.paused ? 'paused' : 'live';
      };
      return { id: p.id, displayName: p.displayName, audio: of('mic'), video: of('webcam'), screen: mine.some((c) => c.source === 'screen') };
    });
  }

  /** Bytes received per remote peer (from each consumer's RTCRtpReceiver), keyed by peer id. */
  async bytes(): Promise<PeerBytes> {
    const out: PeerBytes = {};
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

  add(p: PeerInfo): void {
    const ui = this.#ctx.ui;
    this.#peers.set(p.id, p);
    ui.setPeerRole(p.id, p.role === 'host' ? 'host' : 'guest');
    ui.ensureTile(p.id, p.displayName);
    if (this.#ctx.state() === 'joined') ui.setStatus('joined', 'Connected');
  }

  remove(peerId: string): void {
    const ui = this.#ctx.ui;
    this.#peers.delete(peerId);
    for (const [id, c] of this.#consumers) {
      if (c.peerId !== peerId) continue;
      c.consumer.close();
      this.#consumers.delete(id);
      this.#views.unwatch(id);
    }
    ui.removeTile(peerId);
    ui.removeTile(`${peerId}:screen`);
    if (this.#ctx.state() === 'joined' && this.#peers.size === 0) ui.setStatus('joined', ALONE);
  }

  rename(peerId: string, displayName: string): void {
    const p = this.#peers.get(peerId);
    if (p) p.displayName = displayName;
    this.#ctx.ui.setName(peerId, displayName);
    this.#ctx.ui.setName(`${peerId}:screen`, `${displayName} (screen)`);
  }

  setRole(peerId: string, role: Role): void {
    const p = this.#peers.get(peerId);
    if (p) p.role = role;
    this.#ctx.ui.setPeerRole(peerId, role);
  }

  /** The server's `newConsumer` request: receive that track and show it. */
  async consume(d: NewConsumerData): Promise<unknown> {
    const recv = this.#recv;
    if (!recv || recv.closed) throw new Error('not ready to receive media');
    const raw = (d.appData as { source?: unknown }).source;
    const source: Source = raw === 'screen' ? 'screen' : raw === 'mic' || d.kind === 'audio' ? 'mic' : 'webcam';
    const consumer = await recv.consume({ id: d.id, producerId: d.producerId, kind: d.kind, rtpParameters: d.rtpParameters as types.RtpParameters, appData: { peerId: d.peerId, source } });
    const c: RemoteConsumer = { consumer, peerId: d.peerId, source, producerPaused: d.producerPaused, layers: null };
    this.#consumers.set(consumer.id, c);
    consumer.on('transportclose', () => {
      this.#consumers.delete(consumer.id);
      this.#views.unwatch(consumer.id);
    });
    if (!this.#peers.has(d.peerId)) this.#peers.set(d.peerId, { id: d.peerId, displayName: 'Guest', device: {}, role: 'guest' });
    this.#render(c);
    if (consumer.kind === 'video') this.#views.watch(consumer.id, this.#tileKey(c));
    return {};
  }

  consumerClosed(consumerId: string): void {
    const c = this.#consumers.get(consumerId);
    if (!c) return;
    c.consumer.close();
    this.#consumers.delete(c.consumer.id);
    this.#views.unwatch(c.consumer.id);
    if (c.source === 'screen') this.#ctx.ui.removeTile(this.#tileKey(c));
    else this.#ctx.ui.setTrack(this.#tileKey(c), c.consumer.kind as Kind, null);
  }

  /** Paused or resumed at the producer (the other side muted / stopped its camera). */
  producerPaused(consumerId: string, paused: boolean): void {
    const c = this.#consumers.get(consumerId);
    if (!c) return;
    c.producerPaused = paused;
    this.#ctx.ui.setLive(this.#tileKey(c), c.consumer.kind as Kind, !c.producerPaused);
  }

  /** The connection ended: consumers, the receive transport and everyone's tiles go. */
  clear(): void {
    for (const c of this.#consumers.values()) c.consumer.close();
    this.#consumers.clear();
    this.#views.clear();
    this.#recv?.close();
    this.#recv = null;
    this.#peers.clear();
    this.#ctx.ui.clearRemote();
    this.#ctx.ui.setSpeaker(null);
  }

  #tileKey(c: RemoteConsumer): string {
    return c.source === 'screen' ? `${c.peerId}:screen` : c.peerId;
  }

  #render(c: RemoteConsumer): void {
    const key = this.#tileKey(c);
    const name = this.#peers.get(c.peerId)?.displayName ?? 'Guest';
    this.#ctx.ui.ensureTile(key, c.source === 'screen' ? `${name} (screen)` : name, { screen: c.source === 'screen' });
    this.#ctx.ui.setTrack(key, c.consumer.kind as Kind, c.consumer.track, !c.producerPaused);
  }
}
