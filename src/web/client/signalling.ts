/**
 * The page's side of the signalling protocol (src/protocol): requests with ids and
 * responses, notifications both ways, and the server's `newConsumer` requests, which we must answer.
 */
import { ERROR_CODES, type ClientMethod, type ClientRequestData, type Hello, type HelloResponse, type NewConsumerData, type ServerNotifications } from '../../protocol/index.ts';

const REQUEST_TIMEOUT_MS = 15_000;

/** Why the socket closed, as far as the page can tell. */
export interface CloseInfo {
  code: number;
  /** The WebSocket close reason (<= 123 bytes). */
  reason: string;
  /** The `disconnected` notification that came before the close, if any. */
  disconnected: ServerNotifications['disconnected'] | null;
  /** The last `error` notification before the close: a refusal says why here. */
  lastError: string | null;
  /** True when this page closed the socket itself. */
  byUs: boolean;
}

export interface SignalHandlers {
  newConsumer(data: NewConsumerData): Promise<unknown>;
  notification<M extends keyof ServerNotifications>(method: M, data: ServerNotifications[M]): void;
  close(info: CloseInfo): void;
}

export class RequestFailed extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: number };

export class Signal {
  readonly #ws: WebSocket;
  readonly #handlers: SignalHandlers;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #disconnected: ServerNotifications['disconnected'] | null = null;
  #lastError: string | null = null;
  #byUs = false;
  #closed = false;
  readonly opened: Promise<void>;

  constructor(url: string, handlers: SignalHandlers) {
    this.#handlers = handlers;
    this.#ws = new WebSocket(url);
    this.opened = new Promise<void>((resolve, reject) => {
      this.#ws.addEventListener('open', () => resolve(), { once: true });
      this.#ws.addEventListener('close', () => reject(new Error('the connection closed before it opened')), { once: true });
    });
    this.opened.catch(() => {});
    this.#ws.addEventListener('message', (ev) => this.#onMessage(ev.data));
    this.#ws.addEventListener('close', (ev) => {
      this.#closed = true;
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error('connection closed'));
      }
      this.#pending.clear();
      this.#handlers.close({ code: ev.code, reason: ev.reason, disconnected: this.#disconnected, lastError: this.#lastError, byUs: this.#byUs });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The first message: the credentials, which never go in the URL. */
  hello(data: Hello): Promise<HelloResponse> {
    return this.#call('hello', data);
  }

  request<M extends ClientMethod>(method: M, data: ClientRequestData<M>): Promise<any> {
    return this.#call(method, data);
  }

  #call(method: string, data: unknown): Promise<any> {
    return new Promise((resolve, reject) => {
      if (this.#ws.readyState !== WebSocket.OPEN) return reject(new Error('not connected'));
      const id = this.#nextId++;
      const timer = window.setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the server did not answer "${method}" in time`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send({ request: true, id, method, data });
    });
  }

  close(): void {
    this.#byUs = true;
    if (this.#ws.readyState === WebSocket.CONNECTING || this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000, 'left');
  }

  #send(msg: unknown): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: any;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.response === true && typeof msg.id === 'number') {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.data ?? {});
      else p.reject(new RequestFailed(Number(msg.errorCode) || ERROR_CODES.internal, String(msg.errorReason ?? 'request refused')));
      return;
    }
    if (msg.request === true && typeof msg.id === 'number') {
      const id = msg.id as number;
      if (msg.method !== 'newConsumer') {
        this.#send({ response: true, id, ok: false, errorCode: ERROR_CODES.badRequest, errorReason: `unknown method "${String(msg.method).slice(0, 64)}"` });
        return;
      }
      this.#handlers.newConsumer(msg.data as NewConsumerData).then(
        (data) => this.#send({ response: true, id, ok: true, data: data ?? {} }),
        (e: unknown) => this.#send({ response: true, id, ok: false, errorCode: ERROR_CODES.internal, errorReason: String((e as Error)?.message ?? e).slice(0, 1000) }),
      );
      return;
    }
    if (msg.notification === true && typeof msg.method === 'string') {
      if (msg.method === 'disconnected') this.#disconnected = msg.data as ServerNotifications['disconnected'];
      if (msg.method === 'error') this.#lastError = String(msg.data?.reason ?? 'error');
      this.#handlers.notification(msg.method as keyof ServerNotifications, msg.data);
    }
  }
}
