/**
 * The room's side of recording (the recorder itself is src/recording/): what a recorder may see of the
 * room (its joined participants, their router and producers), what it hears (a new producer, the
 * room's media ending), and the room's one duty: everyone in it, joiners included, is told while it is
 * being recorded (`recording` notification).
 */
import type { types } from 'mediasoup';
import type { ServerNotifications } from '../protocol/messages.ts';
import type { Peer } from './peer.ts';

export interface RecordableParticipant {
  id: string;
  displayName: string;
  /** The router holding the participant's producers (null while it has none). */
  router: types.Router | null;
  producers: types.Producer[];
}

export interface RecordingListener {
  /** A participant made a new producer (first camera, a replaced one, a screen share). */
  producer(p: RecordableParticipant, producer: types.Producer): void;
  /** The room's media closed (last peer left, room closed, shutdown): stop at once. */
  ended(reason: 'room_empty' | 'room_closed'): void;
}

export type RecordingState = ServerNotifications['recording'];

/** What the recorder holds of a room. */
export interface RecordingTap {
  participants(): RecordableParticipant[];
  /** One recorder at a time; returns the detach function. */
  attach(l: RecordingListener): () => void;
  /** Tells everyone (and later joiners) whether the room is being recorded. */
  announce(state: RecordingState): void;
  readonly state: RecordingState;
}

/** The room-facing half: the room calls these. */
export interface RoomRecordingHooks {
  readonly tap: RecordingTap;
  producerAdded(peer: Peer, producer: types.Producer): void;
  /** A peer joined: it learns the recording state if the room is being recorded. */
  joined(peer: Peer): void;
  ended(reason: 'room_empty' | 'room_closed'): void;
}

export function createRecordingHooks(room: { joined: () => Peer[]; onState?: (s: RecordingState) => void }): RoomRecordingHooks {
  let listener: RecordingListener | null = null;
  let state: RecordingState = { active: false };
  const view = (p: Peer): RecordableParticipant => ({
    id: p.id,
    displayName: p.displayName,
    router: p.home && !p.home.router.closed ? p.home.router : null,
    producers: [...p.producers.values()].filter((x) => !x.closed),
  });
  const tap: RecordingTap = {
    participants: () => room.joined().map(view),
    attach(l) {
      if (listener) throw new Error('this room already has a recorder');
      listener = l;
      return () => {
        if (listener === l) listener = null;
      };
    },
    announce(s) {
      state = s;
      room.onState?.(s);
      for (const p of room.joined()) p.channel.notify('recording', s);
    },
    get state() {
      return state;
    },
  };
  return {
    tap,
    producerAdded(peer, producer) {
      if (peer.joined) listener?.producer(view(peer), producer);
    },
    joined(peer) {
      if (state.active) peer.channel.notify('recording', state);
    },
    ended(reason) {
      listener?.ended(reason);
    },
  };
}
