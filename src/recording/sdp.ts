/**
 * The SDP that tells ffmpeg which RTP streams arrive on which local ports: one m-line per consumer
 * (mediasoup PlainTransport, rtcpMux off, so RTCP comes on port + 1 as ffmpeg expects).
 */

/** One RTP stream as a recorder consumer sends it. */
export interface SdpStream {
  kind: 'audio' | 'video';
  /** ffmpeg's RTP port (even); RTCP on port + 1. */
  port: number;
  payloadType: number;
  /** e.g. "audio/opus", "video/VP8" */
  mimeType: string;
  clockRate: number;
  channels?: number | undefined;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port % 2 !== 0 || port < 1024 || port > 65534) throw new Error(`bad RTP port ${port}`);
}

/** The codecs a WebM file holds and ffmpeg depacketises: Opus audio, VP8 or VP9 video. */
export const RECORDABLE_MIME_TYPES: readonly string[] = ['audio/opus', 'video/vp8', 'video/vp9'];

export const isRecordable = (mimeType: string): boolean => RECORDABLE_MIME_TYPES.includes(mimeType.toLowerCase());

/**
 * The wake stream: one more m-line, never recorded, on which the recorder sends a few packets of
 * G.711 silence (wake.ts). ffmpeg hears a stop signal only between two packets it reads: a participant
 * who sends nothing (muted, camera off) would leave it waiting in its read until killed, the file
 * unfinished. Its static payload type needs no rtpmap, but one is given for clarity.
 */
export const WAKE_PAYLOAD_TYPE = 0;

/**
 * The SDP text; `ip` is where ffmpeg listens (loopback). With `wakePort`, the wake stream comes last
 * (after the recorded streams, whose indexes stay 0..n-1).
 */
export function recordingSdp(streams: readonly SdpStream[], ip = '127.0.0.1', wakePort?: number): string {
  if (streams.length === 0) throw new Error('an SDP needs at least one stream');
  const lines = ['v=0', `o=- 0 0 IN IP4 ${ip}`, 's=confd recording', `c=IN IP4 ${ip}`, 't=0 0'];
  for (const s of streams) {
    if (!isRecordable(s.mimeType)) throw new Error(`${s.mimeType} cannot be recorded to WebM`);
    checkPort(s.port);
    const codec = s.mimeType.split('/')[1]!;
    const name = codec.toLowerCase() === 'opus' ? 'opus' : codec.toUpperCase();
    const channels = s.kind === 'audio' ? `/${s.channels ?? 2}` : '';
    lines.push(`m=${s.kind} ${s.port} RTP/AVP ${s.payloadType}`, `a=rtpmap:${s.payloadType} ${name}/${s.clockRate}${channels}`, `a=rtcp:${s.port + 1}`, 'a=recvonly');
  }
  if (wakePort !== undefined) {
    checkPort(wakePort);
    lines.push(`m=audio ${wakePort} RTP/AVP ${WAKE_PAYLOAD_TYPE}`, `a=rtpmap:${WAKE_PAYLOAD_TYPE} PCMU/8000/1`, `a=rtcp:${wakePort + 1}`, 'a=recvonly');
  }
  return `${lines.join('\r\n')}\r\n`;
}
