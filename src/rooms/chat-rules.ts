/**
 * Chat's pure rules, no sockets and no room: what a message's text may be, the rate buckets (per peer
 * id and per address) and the ring of recent public messages late joiners get. The room side is
 * src/rooms/chat.ts.
 */
import { CHAT_BURST, CHAT_HISTORY, CHAT_REFILL_SECONDS, CHAT_TEXT_MAX } from '../protocol/limits.ts';
import { USER_MESSAGES } from '../protocol/user-messages.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import { setBounded } from '../bounded-map.ts';

export type TextCheck = { ok: true; text: string } | { ok: false; code: ErrorCode; message: string };

/**
 * Control characters other than tab and newline (C0, DEL, C1), and the bidirectional embedding,
 * override and isolate controls: they would let a message reorder what the page shows around it
 * (its sender's name, "private"), or carry invisible junk. Zero-width joiners (emoji) stay.
 */
// eslint-disable-next-line no-control-regex
const STRIPPED = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * The text as it is relayed: CR LF and CR become LF, stripped characters (above) go, surrounding
 * whitespace is trimmed. Refused when nothing is left or when longer than CHAT_TEXT_MAX.
 */
export function checkChatText(raw: string): TextCheck {
  if (raw.length > CHAT_TEXT_MAX) return { ok: false, code: 'payload_too_large', message: USER_MESSAGES.chatTooLong(CHAT_TEXT_MAX) };
  const text = raw.replace(/\r\n?/g, '\n').replace(STRIPPED, '').trim();
  if (text.length === 0) return { ok: false, code: 'bad_request', message: 'a chat message cannot be empty' };
  return { ok: true, text };
}

/**
 * One peer's chat allowance: CHAT_BURST messages at once, refilled evenly over CHAT_REFILL_SECONDS
 * (so a steady 1 message/s goes on for ever, a burst of 6 loses the 6th). `take` says how long to
 * wait when refused.
 */
export class ChatBucket {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(opts: { burst?: number; refillSeconds?: number; now?: () => number } = {}) {
    this.#burst = opts.burst ?? CHAT_BURST;
    this.#perMs = this.#burst / ((opts.refillSeconds ?? CHAT_REFILL_SECONDS) * 1000);
    this.#now = opts.now ?? (() => performance.now());
    this.#tokens = this.#burst;
    this.#last = this.#now();
  }

  /** Takes one message's token: `{ok: true}`, or how many whole seconds until one is back. */
  take(): { ok: true } | { ok: false; retryInSeconds: number } {
    const wait = this.waitSeconds();
    if (wait > 0) return { ok: false, retryInSeconds: wait };
    this.#tokens -= 1;
    return { ok: true };
  }

  /** 0 when a message may go now, else how many whole seconds until one may (nothing is taken). */
  waitSeconds(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs / 1000));
  }

  /** Refilled to its whole burst: forgetting it loses nothing. */
  full(): boolean {
    this.#refill();
    return this.#tokens >= this.#burst;
  }

  #refill(): void {
    const t = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (t - this.#last) * this.#perMs);
    this.#last = t;
  }
}

/**
 * A whole address's chat allowance in one room: CHAT_ADDRESS_BURST messages, refilled over
 * CHAT_REFILL_SECONDS. Several people behind one NAT share it, so it is a few peers' worth; a client
 * making up new peer ids gets no more than that.
 */
export const CHAT_ADDRESS_BURST = CHAT_BURST * 4;
/** Buckets kept per kind at most; refilled ones are forgotten first (they hold nothing). */
const MAX_BUCKETS = 5_000;

/**
 * A room's chat allowances, by peer id and by address (never by connection: issue 21 had one tab
 * reconnecting for a fresh bucket each time and sending thousands of messages). A message goes only
 * when both its peer id and its address have a token, and then takes one from each.
 */
export class ChatAllowances {
  readonly #byPeer = new Map<string, ChatBucket>();
  readonly #byAddress = new Map<string, ChatBucket>();
  readonly #now: (() => number) | undefined;

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now;
  }

  /** Buckets held, by peer id and by address. */
  get size(): number {
    return this.#byPeer.size + this.#byAddress.size;
  }

  /** Forgets full buckets (what a new one would be): without this a room that never empties kept one per peer id and address that ever chatted. */
  sweep(): void {
    for (const map of [this.#byPeer, this.#byAddress]) for (const [k, b] of map) if (b.full()) map.delete(k);
  }

  take(peerId: string, ipKey: string): { ok: true } | { ok: false; retryInSeconds: number } {
    const peer = this.#bucket(this.#byPeer, peerId, CHAT_BURST);
    const address = this.#bucket(this.#byAddress, ipKey, CHAT_ADDRESS_BURST);
    const wait = Math.max(peer.waitSeconds(), address.waitSeconds());
    if (wait > 0) return { ok: false, retryInSeconds: wait };
    peer.take();
    address.take();
    return { ok: true };
  }

  #bucket(map: Map<string, ChatBucket>, key: string, burst: number): ChatBucket {
    let b = map.get(key);
    if (b) return b;
    // Full buckets hold nothing worth keeping: they go before any that still counts.
    if (map.size >= MAX_BUCKETS) for (const [k, old] of map) if (old.full()) map.delete(k);
    setBounded(map, key, (b = new ChatBucket({ burst, ...(this.#now ? { now: this.#now } : {}) })), MAX_BUCKETS);
    return b;
  }
}

/** The last `capacity` items, oldest first; older ones are dropped. */
export class Ring<T> {
  readonly #items: T[] = [];
  readonly capacity: number;

  constructor(capacity: number = CHAT_HISTORY) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`ring capacity must be a whole number >= 0, not ${capacity}`);
    this.capacity = capacity;
  }

  push(item: T): void {
    if (this.capacity === 0) return;
    this.#items.push(item);
    if (this.#items.length > this.capacity) this.#items.splice(0, this.#items.length - this.capacity);
  }

  list(): T[] {
    return [...this.#items];
  }

  get size(): number {
    return this.#items.length;
  }
}
