/**
 * A minimal STUN/TURN client (RFC 5389 messages, RFC 5766 Allocate) over UDP or TCP, for checking what
 * a real TURN server accepts: the unauthenticated Allocate, its 401 challenge with REALM and NONCE, and
 * the authenticated Allocate with USERNAME, REALM, NONCE, MESSAGE-INTEGRITY (long-term credentials:
 * key = MD5(username ":" realm ":" password)) and FINGERPRINT.
 *
 *   const r = await allocate({ host: '127.0.0.1', port, transport: 'udp', username, password });
 *   r.ok ? r.relayed : r.code
 *
 * Over TCP the messages go back to back on the stream (RFC 5389 section 7.2.2: STUN framing is the
 * message's own length field). Over UDP a request is retransmitted until answered (section 7.2.1).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket as TcpSocket } from 'node:net';
import { crc32 } from 'node:zlib';

export const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;

export const METHOD = { binding: 0x001, allocate: 0x003, refresh: 0x004, createPermission: 0x008 } as const;
export const CLASS = { request: 0b00, indication: 0b01, success: 0b10, error: 0b11 } as const;

export const ATTR = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

/** The 14-bit message type: method bits interleaved with the two class bits (RFC 5389 section 6). */
export function messageType(method: number, cls: number): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7);
}

export function splitType(type: number): { method: number; cls: number } {
  return {
    method: (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2),
    cls: ((type >> 4) & 1) | ((type >> 7) & 2),
  };
}

export interface Attribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  method: number;
  cls: number;
  transactionId: Buffer;
  attributes: Attribute[];
  /** The message as received (for integrity checks). */
  raw: Buffer;
}

const pad4 = (n: number) => (n + 3) & ~3;

function encodeAttributes(attrs: Attribute[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(a.type, 0);
    head.writeUInt16BE(a.value.length, 2);
    parts.push(head, a.value, Buffer.alloc(pad4(a.value.length) - a.value.length));
  }
  return Buffer.concat(parts);
}

function header(type: number, bodyLength: number, transactionId: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(bodyLength, 2);
  h.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(h, 8);
  return h;
}

/**
 * Encodes a message; with `key`, appends MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to it, the
 * length field already counting it) and then FINGERPRINT (CRC-32 over everything before it, XOR
 * 0x5354554e, the length field counting it too).
 */
export function encodeMessage(o: { method: number; cls: number; transactionId: Buffer; attributes: Attribute[]; key?: Buffer; fingerprint?: boolean }): Buffer {
  const type = messageType(o.method, o.cls);
  let body = encodeAttributes(o.attributes);
  if (o.key) {
    const withMi = body.length + 24;
    const hmac = createHmac('sha1', o.key).update(Buffer.concat([header(type, withMi, o.transactionId), body])).digest();
    body = Buffer.concat([body, encodeAttributes([{ type: ATTR.MESSAGE_INTEGRITY, value: hmac }])]);
  }
  if (o.fingerprint !== false) {
    const withFp = body.length + 8;
    const crc = (crc32(Buffer.concat([header(type, withFp, o.transactionId), body])) ^ FINGERPRINT_XOR) >>> 0;
    const v = Buffer.alloc(4);
    v.writeUInt32BE(crc, 0);
    body = Buffer.concat([body, encodeAttributes([{ type: ATTR.FINGERPRINT, value: v }])]);
  }
  return Buffer.concat([header(type, body.length, o.transactionId), body]);
}

/** Parses one whole STUN message, or throws saying what is wrong with it. */
export function decodeMessage(buf: Buffer): StunMessage {
  if (buf.length < 20) throw new Error(`STUN message too short (${buf.length} bytes)`);
  const type = buf.readUInt16BE(0);
  if (type & 0xc000) throw new Error('not a STUN message (top bits set)');
  const length = buf.readUInt16BE(2);
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) throw new Error('not a STUN message (no magic cookie)');
  if (length % 4 !== 0 || buf.length !== 20 + length) throw new Error(`bad STUN length ${length} for ${buf.length} bytes`);
  const attributes: Attribute[] = [];
  let off = 20;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error('truncated attribute header');
    const t = buf.readUInt16BE(off);
    const l = buf.readUInt16BE(off + 2);
    if (off + 4 + l > buf.length) throw new Error(`attribute 0x${t.toString(16)} overruns the message`);
    attributes.push({ type: t, value: Buffer.from(buf.subarray(off + 4, off + 4 + l)) });
    off += 4 + pad4(l);
  }
  const { method, cls } = splitType(type);
  return { method, cls, transactionId: Buffer.from(buf.subarray(8, 20)), attributes, raw: Buffer.from(buf) };
}

export function attr(m: StunMessage, type: number): Buffer | undefined {
  return m.attributes.find((a) => a.type === type)?.value;
}

export interface Address {
  family: 'IPv4' | 'IPv6';
  address: string;
  port: number;
}

/** XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS / XOR-PEER-ADDRESS (RFC 5389 section 15.2). */
export function decodeXorAddress(v: Buffer, transactionId: Buffer): Address {
  const family = v[1];
  const port = v.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  if (family === 0x01) {
    const ip = (v.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0;
    return { family: 'IPv4', address: [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join('.'), port };
  }
  if (family === 0x02) {
    const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), transactionId]);
    const b = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) b[i] = v[4 + i]! ^ mask[i]!;
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    return { family: 'IPv6', address: groups.join(':'), port };
  }
  throw new Error(`unknown address family ${family}`);
}

export function decodeErrorCode(v: Buffer): { code: number; reason: string } {
  return { code: (v[2]! & 0x07) * 100 + v[3]!, reason: v.subarray(4).toString('utf8') };
}

/** The long-term credential key (RFC 5389 section 15.4). The passwords here are ASCII, so SASLprep is the identity. */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`).digest();
}

/** Does the message's MESSAGE-INTEGRITY match `key`? (false when it has none) */
export function integrityValid(m: StunMessage, key: Buffer): boolean {
  let off = 20;
  while (off < m.raw.length) {
    const t = m.raw.readUInt16BE(off);
    const l = m.raw.readUInt16BE(off + 2);
    if (t === ATTR.MESSAGE_INTEGRITY) {
      const covered = Buffer.from(m.raw.subarray(0, off));
      covered.writeUInt16BE(off + 24 - 20, 2);
      const expected = createHmac('sha1', key).update(covered).digest();
      const got = m.raw.subarray(off + 4, off + 4 + l);
      return got.length === expected.length && timingSafeEqual(got, expected);
    }
    off += 4 + pad4(l);
  }
  return false;
}

/** Is the FINGERPRINT (if present: it must be last) right? */
export function fingerprintValid(m: StunMessage): boolean | null {
  const last = m.raw.length - 8;
  if (last < 20 || m.raw.readUInt16BE(last) !== ATTR.FINGERPRINT) return null;
  return ((crc32(m.raw.subarray(0, last)) ^ FINGERPRINT_XOR) >>> 0) === m.raw.readUInt32BE(last + 4);
}

// ---- transports --------------------------------------------------------------------------------------

export type Transport = 'udp' | 'tcp';

/** One client 5-tuple: a UDP socket or a TCP connection to the server, matching answers to requests. */
export class StunConnection {
  readonly transport: Transport;
  readonly host: string;
  readonly port: number;
  #udp: UdpSocket | null = null;
  #tcp: TcpSocket | null = null;
  #pending = new Map<string, (m: StunMessage) => void>();
  #stream = Buffer.alloc(0);
  #closed = false;
  /** Messages that could not be parsed (should stay empty). */
  readonly garbage: string[] = [];

  private constructor(transport: Transport, host: string, port: number) {
    this.transport = transport;
    this.host = host;
    this.port = port;
  }

  static async open(transport: Transport, host: string, port: number, timeoutMs = 5000): Promise<StunConnection> {
    const c = new StunConnection(transport, host, port);
    if (transport === 'udp') {
      const s = createSocket('udp4');
      c.#udp = s;
      s.on('message', (msg) => c.#deliver(msg));
      s.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.connect(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } else {
      const s = tcpConnect({ host, port });
      c.#tcp = s;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error(`TCP connect to ${host}:${port} timed out`));
        }, timeoutMs);
        s.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      s.on('error', () => {});
      s.on('data', (chunk: Buffer) => {
        c.#stream = Buffer.concat([c.#stream, chunk]);
        // Plain STUN messages back to back: 20-byte header whose length field gives the body.
        while (c.#stream.length >= 20) {
          const total = 20 + c.#stream.readUInt16BE(2);
          if (c.#stream.length < total) break;
          const one = c.#stream.subarray(0, total);
          c.#stream = c.#stream.subarray(total);
          c.#deliver(Buffer.from(one));
        }
      });
    }
    return c;
  }

  #deliver(buf: Buffer): void {
    let m: StunMessage;
    try {
      m = decodeMessage(buf);
    } catch (e) {
      this.garbage.push((e as Error).message);
      return;
    }
    const key = m.transactionId.toString('hex');
    const waiter = this.#pending.get(key);
    if (waiter) {
      this.#pending.delete(key);
      waiter(m);
    }
  }

  /** Sends a request and resolves with the response of the same transaction (UDP: retransmitted, RTO 250 ms doubling). */
  request(build: (transactionId: Buffer) => Buffer, timeoutMs = 5000): Promise<StunMessage> {
    if (this.#closed) return Promise.reject(new Error('connection closed'));
    const transactionId = randomBytes(12);
    const bytes = build(transactionId);
    const key = transactionId.toString('hex');
    return new Promise((resolve, reject) => {
      let rto = 250;
      let retransmit: NodeJS.Timeout | undefined;
      const done = setTimeout(() => {
        clearTimeout(retransmit);
        this.#pending.delete(key);
        reject(new Error(`no STUN answer from ${this.transport}://${this.host}:${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(key, (m) => {
        clearTimeout(done);
        clearTimeout(retransmit);
        resolve(m);
      });
      if (this.#udp) {
        const send = () => {
          this.#udp!.send(bytes);
          retransmit = setTimeout(send, rto);
          rto *= 2;
        };
        send();
      } else {
        this.#tcp!.write(bytes);
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#udp?.close();
    this.#tcp?.destroy();
  }
}

// ---- Allocate ----------------------------------------------------------------------------------------

export interface AllocateOptions {
  host: string;
  port: number;
  transport: Transport;
  username: string;
  password: string;
  timeoutMs?: number;
}

export type AllocateResult =
  | {
      ok: true;
      relayed: Address;
      mapped: Address | null;
      lifetime: number;
      realm: string;
      /** The success response carries a MESSAGE-INTEGRITY made with the same long-term key. */
      integrityValid: boolean;
      fingerprintValid: boolean | null;
    }
  | {
      ok: false;
      code: number;
      reason: string;
      /** 'challenge': the first, unauthenticated Allocate was not answered with 401 + REALM + NONCE. */
      stage: 'challenge' | 'authenticated';
      realm: string | null;
    };

function requestedTransportUdp(): Attribute {
  // Protocol 17 (UDP) and three RFFU bytes: the only relay transport RFC 5766 defines.
  return { type: ATTR.REQUESTED_TRANSPORT, value: Buffer.from([17, 0, 0, 0]) };
}

/**
 * An allocation attempt on a fresh 5-tuple: Allocate without credentials (expecting 401 with REALM and
 * NONCE), then Allocate with the long-term credential. A successful allocation is released again
 * (Refresh with LIFETIME 0) before the connection closes.
 */
export async function allocate(o: AllocateOptions): Promise<AllocateResult> {
  const c = await StunConnection.open(o.transport, o.host, o.port, o.timeoutMs);
  try {
    return await allocateOn(c, o);
  } finally {
    await release(c).catch(() => {});
    c.close();
  }
}

/** The state of a successful allocation on `c`, for releasing it. */
const auth = new WeakMap<StunConnection, { username: string; realm: string; nonce: Buffer; key: Buffer }>();

export async function allocateOn(c: StunConnection, o: Omit<AllocateOptions, 'host' | 'port' | 'transport'>): Promise<AllocateResult> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const first = await c.request((tid) => encodeMessage({ method: METHOD.allocate, cls: CLASS.request, transactionId: tid, attributes: [requestedTransportUdp()] }), timeoutMs);
  const realmV = attr(first, ATTR.REALM);
  const nonce = attr(first, ATTR.NONCE);
  const err1 = attr(first, ATTR.ERROR_CODE);
  if (first.cls !== CLASS.error || !err1 || decodeErrorCode(err1).code !== 401 || !realmV || !nonce) {
    const e = err1 ? decodeErrorCode(err1) : { code: 0, reason: `unexpected ${first.cls === CLASS.success ? 'success' : 'answer'} to an unauthenticated Allocate` };
    return { ok: false, ...e, stage: 'challenge', realm: realmV?.toString('utf8') ?? null };
  }
  const realm = realmV.toString('utf8');
  const key = longTermKey(o.username, realm, o.password);
  const second = await c.request(
    (tid) =>
      encodeMessage({
        method: METHOD.allocate,
        cls: CLASS.request,
        transactionId: tid,
        attributes: [
          requestedTransportUdp(),
          { type: ATTR.USERNAME, value: Buffer.from(o.username, 'utf8') },
          { type: ATTR.REALM, value: realmV },
          { type: ATTR.NONCE, value: nonce },
        ],
        key,
      }),
    timeoutMs,
  );
  if (second.cls === CLASS.success) {
    const relayed = attr(second, ATTR.XOR_RELAYED_ADDRESS);
    if (!relayed) throw new Error('Allocate success without XOR-RELAYED-ADDRESS');
    const mapped = attr(second, ATTR.XOR_MAPPED_ADDRESS);
    const lifetime = attr(second, ATTR.LIFETIME);
    auth.set(c, { username: o.username, realm, nonce, key });
    return {
      ok: true,
      relayed: decodeXorAddress(relayed, second.transactionId),
      mapped: mapped ? decodeXorAddress(mapped, second.transactionId) : null,
      lifetime: lifetime ? lifetime.readUInt32BE(0) : 0,
      realm,
      integrityValid: integrityValid(second, key),
      fingerprintValid: fingerprintValid(second),
    };
  }
  const err2 = attr(second, ATTR.ERROR_CODE);
  const e = err2 ? decodeErrorCode(err2) : { code: 0, reason: 'error response without ERROR-CODE' };
  return { ok: false, ...e, stage: 'authenticated', realm };
}

/** XOR-PEER-ADDRESS for an IPv4 address. */
export function encodeXorAddressV4(address: string, port: number): Buffer {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 2);
  const ip = address.split('.').reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
  v.writeUInt32BE((ip ^ MAGIC_COOKIE) >>> 0, 4);
  return v;
}

/**
 * CreatePermission for an IPv4 peer on the allocation made on `c` (RFC 5766 section 9): where the server's
 * peer address policy shows (coturn answers 403 for a denied peer address).
 */
export async function createPermission(c: StunConnection, peer: string): Promise<{ ok: true } | { ok: false; code: number; reason: string }> {
  const a = auth.get(c);
  if (!a) throw new Error('no allocation on this connection: allocateOn() first');
  const r = await c.request((tid) =>
    encodeMessage({
      method: METHOD.createPermission,
      cls: CLASS.request,
      transactionId: tid,
      attributes: [
        { type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddressV4(peer, 0) },
        { type: ATTR.USERNAME, value: Buffer.from(a.username, 'utf8') },
        { type: ATTR.REALM, value: Buffer.from(a.realm, 'utf8') },
        { type: ATTR.NONCE, value: a.nonce },
      ],
      key: a.key,
    }),
  );
  if (r.cls === CLASS.success) return { ok: true };
  const e = attr(r, ATTR.ERROR_CODE);
  return { ok: false, ...(e ? decodeErrorCode(e) : { code: 0, reason: 'error response without ERROR-CODE' }) };
}

/** Deletes the allocation on `c` (Refresh with LIFETIME 0), so that it stops counting against the quotas. */
export async function release(c: StunConnection): Promise<void> {
  const a = auth.get(c);
  if (!a) return;
  auth.delete(c);
  await c.request(
    (tid) =>
      encodeMessage({
        method: METHOD.refresh,
        cls: CLASS.request,
        transactionId: tid,
        attributes: [
          { type: ATTR.LIFETIME, value: Buffer.from([0, 0, 0, 0]) },
          { type: ATTR.USERNAME, value: Buffer.from(a.username, 'utf8') },
          { type: ATTR.REALM, value: Buffer.from(a.realm, 'utf8') },
          { type: ATTR.NONCE, value: a.nonce },
        ],
        key: a.key,
      }),
    2000,
  );
}

/** A STUN Binding request (no credentials needed): used to see that a server answers on a port. */
export async function binding(transport: Transport, host: string, port: number, timeoutMs = 1000): Promise<Address> {
  const c = await StunConnection.open(transport, host, port, timeoutMs);
  try {
    const r = await c.request((tid) => encodeMessage({ method: METHOD.binding, cls: CLASS.request, transactionId: tid, attributes: [] }), timeoutMs);
    const v = attr(r, ATTR.XOR_MAPPED_ADDRESS);
    if (r.cls !== CLASS.success || !v) throw new Error('Binding request not answered with success + XOR-MAPPED-ADDRESS');
    return decodeXorAddress(v, r.transactionId);
  } finally {
    c.close();
  }
}
