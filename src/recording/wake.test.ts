import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { recordingSdp, WAKE_PAYLOAD_TYPE } from './sdp.ts';
import { createWaker, wakePacket } from './wake.ts';

test('the wake stream is the SDP\'s last m-line (G.711, its own RTP/RTCP ports); the recorded streams keep indexes 0..n-1', () => {
  const sdp = recordingSdp([{ kind: 'audio', port: 20000, payloadType: 100, mimeType: 'audio/opus', clockRate: 48000, channels: 2 }], '127.0.0.1', 20002);
  const media = sdp.split('\r\n').filter((l) => l.startsWith('m='));
  assert.deepEqual(media, ['m=audio 20000 RTP/AVP 100', `m=audio 20002 RTP/AVP ${WAKE_PAYLOAD_TYPE}`]);
  assert.match(sdp, /m=audio 20002 RTP\/AVP 0\r\na=rtpmap:0 PCMU\/8000\/1\r\na=rtcp:20003\r\na=recvonly\r\n$/);
  assert.throws(() => recordingSdp([{ kind: 'audio', port: 20000, payloadType: 100, mimeType: 'audio/opus', clockRate: 48000 }], '127.0.0.1', 20001), /bad RTP port 20001/);
  assert.doesNotMatch(recordingSdp([{ kind: 'audio', port: 20000, payloadType: 100, mimeType: 'audio/opus', clockRate: 48000 }]), /PCMU/);
});

test('a wake packet is RTP version 2 with the wake payload type and 20 ms of µ-law silence', () => {
  const p = wakePacket(0x1_0005, 160, 0xdeadbeef);
  assert.equal(p.length, 12 + 160);
  assert.equal(p[0], 0x80);
  assert.equal(p[1], WAKE_PAYLOAD_TYPE);
  assert.equal(p.readUInt16BE(2), 5, 'the sequence number wraps');
  assert.equal(p.readUInt32BE(4), 160);
  assert.equal(p.readUInt32BE(8), 0xdeadbeef);
  assert.ok(p.subarray(12).every((b) => b === 0xff));
});

test('the waker sends its packets to 127.0.0.1:port, one sequence number after another', async () => {
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  const w = createWaker(rx.address().port);
  try {
    for (let i = 0; i < 3; i++) w.ping();
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 3);
    const seqs = got.map((b) => b.readUInt16BE(2));
    assert.deepEqual(seqs, [seqs[0]!, (seqs[0]! + 1) & 0xffff, (seqs[0]! + 2) & 0xffff]);
    assert.equal(new Set(got.map((b) => b.readUInt32BE(8))).size, 1, 'one SSRC');
  } finally {
    w.close();
    w.ping(); // closed: nothing, no throw
    rx.close();
  }
});
