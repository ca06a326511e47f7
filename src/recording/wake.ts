/**
 * Wakes an ffmpeg whose recorded streams are silent: G.711 silence on the SDP's wake stream
 * (sdp.ts). ffmpeg reads it and drops it (only the recorded streams are mapped), and each packet it
 * reads lets it notice a SIGINT: it then writes the WebM trailer (cues, duration) and exits, where a
 * silent input would have kept it in its read until SIGKILL, the file unfinished.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { WAKE_PAYLOAD_TYPE } from './sdp.ts';

/** 20 ms of G.711 µ-law silence at 8 kHz. */
const SAMPLES = 160;
const SILENCE = 0xff;

export interface Waker {
  /** Sends one packet (fire and forget: loopback UDP). */
  ping(): void;
  close(): void;
}

/** One RTP packet of silence: version 2, the wake payload type, `seq`, `timestamp`, `ssrc`. */
export function wakePacket(seq: number, timestamp: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + SAMPLES, SILENCE);
  b[0] = 0x80;
  b[1] = WAKE_PAYLOAD_TYPE;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(timestamp >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** A sender of wake packets to 127.0.0.1:`port`; timestamps follow the clock (8 kHz). */
export function createWaker(port: number): Waker {
  let socket: Socket | null = createSocket('udp4');
  socket.on('error', () => {}); // loopback UDP: nothing to report, the stop falls back to SIGKILL
  const ssrc = randomInt(1, 2 ** 32 - 1);
  const start = Date.now();
  let seq = randomInt(0, 0xffff);
  return {
    ping() {
      socket?.send(wakePacket(seq++, (Date.now() - start) * 8, ssrc), port, '127.0.0.1');
    },
    close() {
      socket?.close();
      socket = null;
    },
  };
}
