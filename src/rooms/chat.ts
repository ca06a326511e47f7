/**
 * A room's chat: relays `chat` requests to everyone or to one peer, keeps the last CHAT_HISTORY
 * public messages for late joiners, and the host's on/off switch (`hostSetChat`). The rules (text,
 * rate, ring) are in chat-rules.ts. Everything lives in this object, in memory: it goes when the room
 * is forgotten or the daemon stops.
 *
 * The sender is the server's view of the connection (peer id, display name, role), never what the
 * client wrote; only joined peers chat, and private messages reach only their recipient and sender.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { ChatMessage, ChatSnapshot, ClientRequestData } from '../protocol/messages.ts';
import { CHAT_BURST, CHAT_HISTORY, CHAT_REFILL_SECONDS } from '../protocol/limits.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import { ChatAllowances, checkChatText, Ring } from './chat-rules.ts';
import { ConfdError } from '../errors.ts';
import type { Peer } from './peer.ts';
import type { StateEntries } from './view.ts';

export interface RoomChat {
  chat(peer: Peer, d: ClientRequestData<'chat'>): { id: string; at: number };
  hostSetChat(peer: Peer, d: ClientRequestData<'hostSetChat'>): { enabled: boolean };
  /** What a peer gets in its join response. */
  snapshot(): ChatSnapshot;
  readonly enabled: boolean;
  /** Forgets the allowances of those who have not chatted lately (refilled buckets). */
  sweep(): void;
  entries(): StateEntries;
}

export function createRoomChat(opts: {
  /** The room's logger (its name bound). */
  log: Logger;
  /** Peers that have joined, the sender included. */
  joined: () => Peer[];
  /** Throws (403) unless the peer has host rights now. */
  requireHost: (peer: Peer) => void;
  now?: () => number;
}): RoomChat {
  const { log } = opts;
  const now = opts.now ?? Date.now;
  const history = new Ring<ChatMessage>(CHAT_HISTORY);
  /** Per peer id and per address, kept by the room: reconnecting does not refill them. */
  const allowances = new ChatAllowances();
  let enabled = true;

  return {
    get enabled() {
      return enabled;
    },

    chat(peer, d) {
      if (!peer.joined) throw new ConfdError('forbidden', USER_MESSAGES.chatNotJoined);
      if (!enabled) throw new ConfdError('forbidden', USER_MESSAGES.chatOff);
      const checked = checkChatText(d.text);
      if (!checked.ok) throw new ConfdError(checked.code, checked.message);
      let target: Peer | null = null;
      if (d.to !== undefined) {
        if (d.to === peer.id) throw new ConfdError('bad_request', 'a private message goes to someone else');
        target = opts.joined().find((p) => p.id === d.to) ?? null;
        if (!target) throw new ConfdError('not_found', `no participant ${d.to} in this room`);
      }
      // Counted only once the message would go out: a refused one costs nothing of the allowance.
      const took = allowances.take(peer.id, peer.ipKey);
      if (!took.ok) {
        if (!peer.warned.has('chat rate')) {
          peer.warned.add('chat rate');
          log.info({ peer: peer.id }, 'chat rate limit reached (further ones from this peer are not logged)');
        }
        throw new ConfdError('rate_limited', USER_MESSAGES.chatRateLimited(CHAT_BURST, CHAT_REFILL_SECONDS, took.retryInSeconds));
      }
      const msg: ChatMessage = {
        id: randomUUID(),
        from: { peerId: peer.id, displayName: peer.displayName, role: peer.role },
        to: target ? target.id : 'all',
        private: target !== null,
        text: checked.text,
        at: now(),
      };
      if (target) {
        target.channel.notify('chatMessage', msg);
        peer.channel.notify('chatMessage', msg);
      } else {
        history.push(msg);
        for (const p of opts.joined()) p.channel.notify('chatMessage', msg);
      }
      return { id: msg.id, at: msg.at };
    },

    hostSetChat(peer, d) {
      opts.requireHost(peer);
      if (enabled !== d.enabled) {
        enabled = d.enabled;
        log.info({ host: peer.id, enabled }, enabled ? 'chat turned on by a host' : 'chat turned off by a host');
        const by = { peerId: peer.id, displayName: peer.displayName };
        for (const p of opts.joined()) p.channel.notify('chatState', { enabled, by });
      }
      return { enabled };
    },

    snapshot() {
      return { enabled, history: history.list() };
    },

    sweep: () => allowances.sweep(),
    entries: () => ({ chat_buckets: allowances.size }),
  };
}
