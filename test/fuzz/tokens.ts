/**
 * Join-token mutations for the fuzzer: bit flips in the header, payload or signature (of the decoded
 * bytes or of the base64url text), algorithm swaps (none, other HMACs, RS/ES, case games), claims
 * changed without re-signing, segments dropped, duplicated or padded, and base64 junk. Some claims
 * mutations are re-signed with the daemon's own secret, to reach the checks behind the signature.
 */
import { createHmac } from 'node:crypto';
import { fromAlphabet, mutateValue, NASTY_CHARS, otherType, randomJson, randomString, type Rng } from './prng.ts';

export interface TokenCase {
  token: string;
  what: string;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const json64 = (v: unknown) => b64(JSON.stringify(v));

function flipBit(rng: Rng, b: Buffer): Buffer {
  if (b.length === 0) return Buffer.from([rng.int(0, 255)]);
  const c = Buffer.from(b);
  const i = rng.int(0, c.length - 1);
  c[i] = c[i]! ^ (1 << rng.int(0, 7));
  return c;
}

function flipChar(rng: Rng, s: string): string {
  if (s.length === 0) return fromAlphabet(rng, 'ABCxyz019-_', 1);
  const i = rng.int(0, s.length - 1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let c = s[i]!;
  while (c === s[i]) c = rng.chance(0.9) ? alphabet[rng.int(0, 63)]! : rng.pick(['+', '/', '=', '.', ' ', '%', '\u00e9']);
  return s.slice(0, i) + c + s.slice(i + 1);
}

/** Signs header.payload with `key` as HS256 would (for re-signed claims mutations). */
export function hs256(headerB64: string, payloadB64: string, key: Buffer): string {
  return createHmac('sha256', key).update(`${headerB64}.${payloadB64}`).digest('base64url');
}

/**
 * One mutated token from a valid one. `key` is the daemon's HS256 secret; when given, some cases are
 * re-signed (claims the server never issues: wrong types, out-of-range times, unknown jti, ...).
 */
export function tokenCase(rng: Rng, valid: string, key: Buffer | null): TokenCase {
  const [h, p, s] = valid.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const kind = rng.weighted<string>([
    [3, 'flip-bytes'],
    [3, 'flip-text'],
    [3, 'alg'],
    [3, 'claims'],
    [2, 'segments'],
    [2, 'junk'],
    [key ? 4 : 0, 'resigned'],
  ]);
  switch (kind) {
    case 'flip-bytes': {
      const part = rng.int(0, 2);
      const parts = [h, p, s];
      parts[part] = b64(flipBit(rng, Buffer.from(parts[part]!, 'base64url')));
      return { token: parts.join('.'), what: `bit flip in ${['header', 'payload', 'signature'][part]} bytes` };
    }
    case 'flip-text': {
      const part = rng.int(0, 2);
      const parts = [h, p, s];
      for (let n = rng.int(1, 3); n > 0; n--) parts[part] = flipChar(rng, parts[part]!);
      return { token: parts.join('.'), what: `character flip in ${['header', 'payload', 'signature'][part]} text` };
    }
    case 'alg': {
      const alg = rng.pick(['none', 'None', 'NONE', 'nOnE', 'HS384', 'HS512', 'hs256', 'HS256 ', 'RS256', 'ES256', 'PS256', 'EdDSA', '', null, 256, ['HS256'], { alg: 'HS256' }]);
      const hdr = rng.chance(0.8) ? { ...header, alg } : { alg, typ: rng.pick(['JWT', 'jwt', 'JWS', '', 5]) };
      if (rng.chance(0.2)) Object.assign(hdr, { kid: rng.pick(['../../dev/null', '0', "' OR 1=1", randomString(rng, 20)]) });
      if (rng.chance(0.1)) Object.assign(hdr, { jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/x5u' });
      const sig = rng.pick([s, '', 'AAAA', b64(Buffer.alloc(32)), b64(Buffer.alloc(48)), flipChar(rng, s)]);
      return { token: `${json64(hdr)}.${p}.${sig}`, what: `alg ${JSON.stringify(alg)}` };
    }
    case 'claims': {
      // Changed claims under the original signature: the signature no longer matches.
      const changed = mutateValue(rng, payload);
      return { token: `${h}.${json64(changed)}.${s}`, what: 'claims changed, not re-signed' };
    }
    case 'segments':
      return rng.pick<TokenCase>([
        { token: `${h}.${p}`, what: 'no signature segment' },
        { token: `${h}.${p}.`, what: 'empty signature' },
        { token: `${h}..${s}`, what: 'empty payload' },
        { token: `.${p}.${s}`, what: 'empty header' },
        { token: `${h}.${p}.${s}.${s}`, what: 'four segments' },
        { token: `${h}.${p}.${s}=`, what: 'padded signature' },
        { token: `${h}=.${p}.${s}`, what: 'padded header' },
        { token: `${h}.${p}.${s}.`, what: 'trailing dot' },
        { token: `${p}.${h}.${s}`, what: 'header and payload swapped' },
        { token: ` ${valid}`, what: 'leading space' },
        { token: `${valid}\n`, what: 'trailing newline' },
        { token: valid.replace(/-/g, '+').replace(/_/g, '/'), what: 'standard base64 alphabet' },
        { token: `Bearer ${valid}`, what: 'Bearer prefix' },
        { token: valid.toUpperCase(), what: 'upper-cased' },
        { token: `${h}.${p}.${s.slice(0, -1)}`, what: 'signature one char short' },
        { token: `${h}.${p}.${s}A`, what: 'signature one char long' },
        { token: `${h}.${p}.${s}${s}`, what: 'signature twice' },
        { token: valid.repeat(rng.int(2, 40)), what: 'token repeated' },
        { token: `${h}.${p}.${s}`.split('').reverse().join(''), what: 'reversed' },
      ]);
    case 'junk':
      return rng.pick<() => TokenCase>([
        () => ({ token: randomString(rng, 300), what: 'random string' }),
        () => ({ token: `${fromAlphabet(rng, 'ABCabc012-_', rng.int(1, 60))}.${fromAlphabet(rng, 'ABCabc012-_', rng.int(0, 300))}.${fromAlphabet(rng, 'ABCabc012-_', rng.int(0, 60))}`, what: 'base64url junk in three segments' }),
        () => ({ token: `${json64(randomJson(rng, 2))}.${json64(randomJson(rng, 2))}.${s}`, what: 'random JSON header and payload' }),
        () => ({ token: `${b64(rng.bytes(rng.int(0, 40)))}.${b64(rng.bytes(rng.int(0, 200)))}.${b64(rng.bytes(32))}`, what: 'random bytes' }),
        () => ({ token: `${h}.${b64('not json')}.${s}`, what: 'payload not JSON' }),
        () => ({ token: `${b64('{"alg":"HS256"')}.${p}.${s}`, what: 'header truncated JSON' }),
        () => ({ token: `${h}.${json64(rng.pick([null, 5, 'x', [], true]))}.${s}`, what: 'payload not an object' }),
        () => ({ token: 'a'.repeat(rng.pick([2048, 2049, 5000, 60_000])), what: 'very long' }),
        () => ({ token: rng.pick(NASTY_CHARS).repeat(rng.int(1, 20)), what: 'nasty characters' }),
        () => ({ token: rng.pick(['.', '..', '...', 'null', 'undefined', 'true', '0', '{}', 'eyJ', 'eyJhbGciOiJub25lIn0..']), what: 'tiny' }),
      ])();
    default: {
      const claims = { ...payload };
      const keyName = rng.pick(['iss', 'aud', 'sub', 'room', 'presenter', 'jti', 'iat', 'nbf', 'exp', 'extra']);
      const now = Math.floor(Date.now() / 1000);
      claims[keyName] = rng.weighted<() => unknown>([
        [3, () => otherType(rng, claims[keyName])],
        [3, () => rng.pick([1e308, -1e308, 2 ** 53 + 2, 8.64e15, 8.64e12, -1, 0, 0.5, now - 10, now + 3600, now + 10 ** 9, now * 1000])],
        [2, () => rng.pick([['confd-join'], ['x', 'confd-join'], 'confd', 'CONFD', 'confd-join ', '', 'guest', 'standup', 'Standup', randomString(rng, 30)])],
        [1, () => undefined],
        [1, () => randomJson(rng, 3)],
      ])();
      if (claims[keyName] === undefined) delete claims[keyName];
      const hdr = rng.chance(0.9) ? header : { ...header, typ: rng.pick(['x', 5, null]), extra: randomString(rng, 10) };
      const h2 = json64(hdr);
      const p2 = json64(claims);
      return { token: `${h2}.${p2}.${hs256(h2, p2, key!)}`, what: `re-signed with ${keyName}=${JSON.stringify(claims[keyName])?.slice(0, 60)}` };
    }
  }
}
