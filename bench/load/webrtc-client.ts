/**
 * The least a client must do for a mediasoup WebRtcTransport to send it media, for the forwarding rig's
 * WebRTC subscribers (bench/load/rtp-receiver.ts runs these in its worker thread):
 *
 * - ICE: STUN Binding requests as the controlling agent (USERNAME, PRIORITY, ICE-CONTROLLING,
 *   USE-CANDIDATE, MESSAGE-INTEGRITY with the transport's ICE password, FINGERPRINT), from one UDP socket
 *   per transport, as a browser's host candidate; then a consent check every 5 s (RFC 7675, what
 *   browsers send; mediasoup drops a transport after iceConsentTimeout, 30 s, without one).
 * - DTLS: werift's DtlsServer (pure JS, the same code msc-node uses against mediasoup in the tests);
 *   mediasoup is the DTLS client (the transport is connected with role 'server'), checks this side's
 *   certificate fingerprint and derives its SRTP keys.
 *
 * Nothing is decrypted: SRTP leaves the RTP header in the clear, so the receiver counts loss per
 * consumer SSRC from sequence numbers as it does for the PlainTransport rig. No RTCP is sent back
 * (no receiver reports, NACK or transport-cc feedback), as in the PlainTransport rig.
 */
import { createHmac, randomBytes, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { crc32 } from 'node:zlib';
import { DtlsServer } from 'werift/lib/dtls/src/index.js';
import { CipherContext } from 'werift/lib/dtls/src/context/cipher.js';

export interface ClientCert {
  certPem: string;
  keyPem: string;
  signatureHash: { hash: number; signature: number };
  /** sha-256 fingerprint, upper-case hex pairs with colons, as browsers send it. */
  fingerprint: string;
}

/** One ECDSA P-256 certificate for every client of the process (browsers also reuse theirs). */
export async function makeClientCert(): Promise<ClientCert> {
  // SignatureAlgorithm.ecdsa = 3, HashAlgorithm.sha256 = 4, NamedCurveAlgorithm.secp256r1 = 23 (werift's constants).
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey({ signature: 3, hash: 4 } as never, 23 as never);
  return { certPem, keyPem, signatureHash: signatureHash as never, fingerprint: new X509Certificate(certPem).fingerprint256 };
}

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

/** A STUN Binding request from the controlling agent to an ICE-lite server (RFC 8445 7.1.1, RFC 5389). */
export function bindingRequest(o: { remoteUfrag: string; localUfrag: string; remotePassword: string; useCandidate: boolean; tieBreaker: Buffer }): Buffer {
  const body = Buffer.concat([
    attr(0x0006, Buffer.from(`${o.remoteUfrag}:${o.localUfrag}`)), // USERNAME
    attr(0x0024, u32(0x6e7fffff)), // PRIORITY (host candidate)
    attr(0x802a, o.tieBreaker), // ICE-CONTROLLING
    ...(o.useCandidate ? [attr(0x0025, Buffer.alloc(0))] : []), // USE-CANDIDATE
  ]);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(header, 8);
  header.writeUInt16BE(body.length + 24, 2);
  const mi = attr(0x0008, createHmac('sha1', o.remotePassword).update(Buffer.concat([header, body])).digest());
  header.writeUInt16BE(body.length + 24 + 8, 2);
  const signed = Buffer.concat([header, body, mi]);
  return Buffer.concat([signed, attr(0x8028, u32((crc32(signed) ^ 0x5354554e) >>> 0))]);
}

export interface WebRtcTarget {
  ip: string;
  port: number;
  usernameFragment: string;
  password: string;
}

export class IceDtlsClient {
  readonly socket: Socket;
  readonly target: WebRtcTarget;
  private readonly localUfrag = randomBytes(6).toString('hex');
  private readonly tieBreaker = randomBytes(8);
  private dtls: DtlsServer | null = null;
  private onDtls: ((b: Buffer) => void) | undefined;
  iceDone = false;
  dtlsDone = false;

  constructor(socket: Socket, target: WebRtcTarget) {
    this.socket = socket;
    this.target = target;
  }

  private sendBinding(useCandidate: boolean): void {
    const t = this.target;
    this.socket.send(bindingRequest({ remoteUfrag: t.usernameFragment, localUfrag: this.localUfrag, remotePassword: t.password, useCandidate, tieBreaker: this.tieBreaker }), t.port, t.ip);
  }

  /** A consent check (RFC 7675). */
  consent(): void {
    this.sendBinding(false);
  }

  /**
   * Feeds a non-RTP packet from the socket: STUN (first byte 0-3) and DTLS (20-63). Returns false for
   * anything else (RTP/RTCP, first byte 128-191), which the caller counts.
   */
  handle(m: Buffer): boolean {
    const b0 = m[0]!;
    if (b0 < 4) {
      if (m.readUInt16BE(0) === 0x0101) this.iceDone = true; // Binding success response
      return true;
    }
    if (b0 >= 20 && b0 <= 63) {
      this.onDtls?.(m);
      return true;
    }
    return false;
  }

  /** ICE (nominating the pair at once, retried every 50 ms) then the DTLS handshake; rejects after `timeoutMs`. */
  async connect(cert: ClientCert, timeoutMs = 15_000): Promise<void> {
    const t = this.target;
    const self = this;
    const dtls = new DtlsServer({
      cert: cert.certPem,
      key: cert.keyPem,
      signatureHash: cert.signatureHash as never,
      srtpProfiles: [0x0001], // SRTP_AES128_CM_HMAC_SHA1_80
      extendedMasterSecret: true,
      transport: {
        send: (buf: Buffer) => new Promise<void>((resolve) => this.socket.send(buf, t.port, t.ip, () => resolve())),
        close: () => {},
        set onData(fn: ((b: Buffer) => void) | undefined) {
          self.onDtls = fn;
        },
        get onData() {
          return self.onDtls;
        },
      } as never,
    });
    this.dtls = dtls;
    const connected = new Promise<void>((resolve) => dtls.onConnect.once(() => resolve()));
    this.sendBinding(true);
    const retry = setInterval(() => {
      if (!this.iceDone) this.sendBinding(true);
    }, 50);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([connected, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`ICE/DTLS not done in ${timeoutMs} ms (ice ${this.iceDone})`)), timeoutMs)))]);
      this.dtlsDone = true;
    } finally {
      clearInterval(retry);
      clearTimeout(timer);
    }
  }

  close(): void {
    try {
      this.dtls?.close();
    } catch {}
    this.socket.close();
  }
}
