/**
 * A room's speakers: the two mediasoup observers (on the room's first router; audio from its other
 * routers is piped there), what everyone is told when the speaker changes (speaker.ts decides), and
 * the consumer priorities that follow the speaker (priorities.ts decides).
 */
import type { types } from 'mediasoup';
import type { Logger } from '../log.ts';
import type { ServerNotifications } from '../protocol/messages.ts';
import type { RoomRouter, RouterSet } from '../sfu/router-set.ts';
import type { Peer } from './peer.ts';
import { DEFAULT_PRIORITY, priorityChanges, priorityFor } from './priorities.ts';
import { DOMINANT_INTERVAL_MS, SPEAKING_INTERVAL_MS, SPEAKING_THRESHOLD_DBOV, SpeakerTracker, type SpeakerChange } from './speaker.ts';
import type { RoomSummary } from './view.ts';

interface Observers {
  active: types.ActiveSpeakerObserver;
  levels: types.AudioLevelObserver;
  router: types.Router;
}

export interface RoomSpeakers {
  /** A producer was made: audio is observed. */
  producerAdded(peer: Peer, producer: types.Producer): void;
  /** A peer was placed on `router`: consumers made there start with the priority the rule gives them. */
  routerUsed(router: types.Router): void;
  /** A router died: if the observers were on it, the audio of those who stay is observed on the next. */
  routerLost(lost: RoomRouter): void;
  /** A joined peer left: it no longer speaks. */
  peerLeft(peerId: string): void;
  /** A peer joined: it learns who speaks now. */
  greet(peer: Peer): void;
  /** The room's media closed: the observers went with it. */
  mediaClosed(): void;
  /** The peer whose producer this is (a pipe producer has the same id), or null. */
  ownerOf(producerId: string): string | null;
  summary(): Pick<RoomSummary, 'activeSpeaker' | 'speaking' | 'priorities'>;
}

export function createRoomSpeakers(ctx: {
  log: Logger;
  peers: ReadonlyMap<string, Peer>;
  routers: () => RouterSet | null;
  broadcast<M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]): void;
}): RoomSpeakers {
  const { peers, log } = ctx;
  let observers: Observers | null = null;
  let observing: Promise<Observers> | null = null;
  const tracker = new SpeakerTracker();
  /** Routers whose new consumers get their priority set. */
  const prioritised = new WeakSet<types.Router>();

  function ownerOf(producerId: string): string | null {
    for (const p of peers.values()) if (p.producers.has(producerId)) return p.id;
    return null;
  }

  /** Tells everyone what changed, and gives the new speaker's video the bandwidth first. */
  function spoke(change: SpeakerChange): void {
    if (change.speaking) ctx.broadcast('speaking', { peerIds: change.speaking });
    if (change.speaker === undefined) return;
    ctx.broadcast('activeSpeaker', { peerId: change.speaker });
    log.debug({ speaker: change.speaker }, 'dominant speaker');
    // Every consumer of the room: the new speaker's video goes up, the previous one's back to the default.
    const all = [...peers.values()].flatMap((p) => [...p.consumers.values()]).map((c) => ({ c, kind: c.kind, producerPeerId: ownerOf(c.producerId), priority: c.priority }));
    for (const { consumer, priority } of priorityChanges(all, tracker.announced)) void consumer.c.setPriority(priority).catch(() => {});
  }

  /** The observers, made once on `target` (concurrent first producers wait for the same ones). */
  function observersOn(target: RoomRouter): Promise<Observers> {
    if (observers && !observers.router.closed && observers.router === target.router) return Promise.resolve(observers);
    observing ??= (async () => {
      const active = await target.router.createActiveSpeakerObserver({ interval: DOMINANT_INTERVAL_MS });
      const levels = await target.router.createAudioLevelObserver({ interval: SPEAKING_INTERVAL_MS, threshold: SPEAKING_THRESHOLD_DBOV, maxEntries: 64 });
      active.on('dominantspeaker', ({ producer: p }) => spoke(tracker.dominant(ownerOf(p.id))));
      levels.on('volumes', (volumes) => spoke(tracker.levels(volumes.map((v) => ownerOf(v.producer.id)).filter((id): id is string => id !== null))));
      levels.on('silence', () => spoke(tracker.levels([])));
      observers = { active, levels, router: target.router };
      return observers;
    })().finally(() => (observing = null));
    return observing;
  }

  async function observe(peer: Peer, producer: types.Producer): Promise<void> {
    const set = ctx.routers();
    if (!set || !peer.home) return;
    const target = set.routers[0];
    if (!target) return;
    try {
      const o = await observersOn(target);
      await set.pipe(producer.id, peer.home, target);
      await o.active.addProducer({ producerId: producer.id });
      await o.levels.addProducer({ producerId: producer.id });
    } catch {
      // A producer that closed meanwhile, or a router that died: nothing to observe.
    }
  }

  return {
    producerAdded(peer, producer) {
      if (producer.kind === 'audio') void observe(peer, producer);
    },

    routerUsed(router) {
      if (prioritised.has(router)) return;
      prioritised.add(router);
      router.observer.on('newtransport', (t) =>
        t.observer.on('newconsumer', (c) => {
          if (c.type === 'pipe') return;
          const priority = priorityFor({ kind: c.kind, producerPeerId: ownerOf(c.producerId) }, tracker.announced);
          if (priority !== c.priority) void c.setPriority(priority).catch(() => {});
        }),
      );
    },

    routerLost(lost) {
      if (observers?.router !== lost.router) return;
      observers = null;
      for (const peer of peers.values()) for (const p of peer.producers.values()) if (p.kind === 'audio' && !p.closed) void observe(peer, p);
    },

    peerLeft: (peerId) => spoke(tracker.left(peerId)),

    greet(peer) {
      if (tracker.announced !== null) peer.channel.notify('activeSpeaker', { peerId: tracker.announced });
      if (tracker.speaking.length > 0) peer.channel.notify('speaking', { peerIds: [...tracker.speaking] });
    },

    mediaClosed() {
      observers = null;
    },

    ownerOf,

    summary: () => ({
      activeSpeaker: tracker.announced,
      speaking: [...tracker.speaking],
      priorities: [...peers.values()].flatMap((p) =>
        [...p.consumers.values()].filter((c) => c.priority > DEFAULT_PRIORITY).map((c) => ({ consumerId: c.id, peer: p.id, fromPeer: ownerOf(c.producerId), kind: c.kind, priority: c.priority })),
      ),
    }),
  };
}
