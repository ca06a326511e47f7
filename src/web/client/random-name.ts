/**
 * Names for new meetings (the start page's suggestion, POST /api/v1/meeting without a room). A room
 * name is all a guest needs to find a meeting, so it comes from the platform's CSPRNG
 * (crypto.getRandomValues, in browsers and in Node), never from Math.random, whose state can be
 * recovered from a few outputs. 12 characters of a 32-letter alphabet: 60 bits.
 */
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // 32 letters, no 0/o, 1/l look-alikes
export const RANDOM_NAME_LENGTH = 12;

export function randomRoomName(prefix: string): string {
  const bytes = new Uint8Array(RANDOM_NAME_LENGTH);
  globalThis.crypto.getRandomValues(bytes);
  // 256 is a multiple of 32: `& 31` keeps every letter equally likely.
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return `${prefix}-${out}`;
}
