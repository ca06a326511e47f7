/**
 * A small seeded PRNG and the value/string/JSON generators the fuzz targets share. Everything a run
 * generates follows from one 32-bit seed (printed by test/fuzz.test.ts; CONFD_FUZZ_SEED reproduces it),
 * and each target derives its own stream, so a target's cases do not depend on how many other targets
 * drew before it.
 */

/** mulberry32: tiny, fast, and good enough to pick test cases. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((n, [w]) => n + w, 0);
    let x = this.next() * total;
    for (const [w, v] of items) {
      if ((x -= w) < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }

  /** A child stream for one target or one case. */
  fork(label: string): Rng {
    return new Rng(mix(this.state, label));
  }
}

/** FNV-1a of the label folded into the seed. */
export function mix(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The run's seed: CONFD_FUZZ_SEED when set (decimal or 0x hex), else random. */
export function fuzzSeed(): number {
  const env = process.env.CONFD_FUZZ_SEED;
  if (env && env.trim() !== '') {
    const n = Number(env.trim());
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`CONFD_FUZZ_SEED must be an integer from 0 to 4294967295, not ${JSON.stringify(env)}`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

/** Cases per target: CONFD_FUZZ_ITERATIONS, else the bounded CI default. */
export function fuzzIterations(fallback: number): number {
  const env = process.env.CONFD_FUZZ_ITERATIONS;
  if (!env) return fallback;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`CONFD_FUZZ_ITERATIONS must be a positive integer, not ${JSON.stringify(env)}`);
  return n;
}

// ---- strings ---------------------------------------------------------------------------------------

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const URLSAFE = `${ALNUM}_-`;
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

/** Characters that tend to break parsers, validators, logs and HTML. */
export const NASTY_CHARS = [
  '\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u000b', '\u001b', '\u007f', '\u0085', '\u00a0', '\u00ad',
  '\u200b', '\u200d', '\u202e', '\u2028', '\u2029', '\ufeff', '\ufffd', '\uffff', '\ud800', '\udfff', '\ud83d',
  '😀', '👩‍👩‍👧', '🏳️‍🌈', 'é', 'é', 'Ω', 'ß', 'İ', 'ﬁ', '日本', 'ش', '\u0301\u0301\u0301', '𝕏',
  '"', "'", '`', '\\', '/', '<', '>', '&', '%', '%00', '%zz', '%2F', '..', '../', '{', '}', '[', ']', ':', ',', ';', '=', '?', '#', '@', '$', '*', '|', '~',
  '<script>', '</script>', '${x}', '{{x}}', '%s', '%n', 'null', 'undefined', 'NaN', '__proto__', 'constructor', 'prototype', 'toString',
];

export function fromAlphabet(rng: Rng, alphabet: string, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[rng.int(0, alphabet.length - 1)];
  return s;
}

/** A random string of one of several flavours; `max` bounds the usual length (huge ones are rarer). */
export function randomString(rng: Rng, max = 80): string {
  const len = rng.weighted([
    [4, rng.int(0, 3)],
    [8, rng.int(1, Math.min(max, 24))],
    [3, rng.int(0, max)],
    [1, rng.int(max, max * 4)],
  ]);
  switch (rng.int(0, 6)) {
    case 0:
      return fromAlphabet(rng, ALNUM, len);
    case 1:
      return fromAlphabet(rng, URLSAFE, len);
    case 2:
      return fromAlphabet(rng, PRINTABLE, len);
    case 3: {
      let s = '';
      while (s.length < len) s += rng.pick(NASTY_CHARS);
      return s;
    }
    case 4: {
      // Any BMP code unit, lone surrogates included.
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(rng.int(0, 0xffff));
      return s;
    }
    case 5: {
      // Astral characters (4 UTF-8 bytes, 2 UTF-16 units each).
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCodePoint(rng.int(0x10000, 0x10ffff));
      return s;
    }
    default: {
      // Mostly plausible with a nasty character or two.
      let s = fromAlphabet(rng, URLSAFE, len);
      for (let i = rng.int(1, 2); i > 0; i--) {
        const at = rng.int(0, s.length);
        s = s.slice(0, at) + rng.pick(NASTY_CHARS) + s.slice(at);
      }
      return s;
    }
  }
}

/** Looks like an id (mediasoup uuid, token id, peer id) but is not one we know. */
export function idLike(rng: Rng): string {
  switch (rng.int(0, 4)) {
    case 0:
      return [8, 4, 4, 4, 12].map((n) => fromAlphabet(rng, '0123456789abcdef', n)).join('-');
    case 1:
      return fromAlphabet(rng, URLSAFE, 16);
    case 2:
      return `p-${fromAlphabet(rng, '0123456789abcdef', 8)}`;
    case 3:
      return fromAlphabet(rng, URLSAFE, rng.int(1, 64));
    default:
      return randomString(rng, 40);
  }
}

// ---- numbers and JSON values -------------------------------------------------------------------------

/** Numbers at the edges: JSON-representable, and text forms that JSON.parse reads as Infinity or -0. */
export const EDGE_NUMBERS = [
  0, -0, 1, -1, 2, 7, 10, 64, 65, 127, 128, 255, 256, 1023, 1024, 1025, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, 2 ** 53,
  2 ** 53 + 2, -(2 ** 53), 1e21, 1e308, -1e308, 5e-324, 0.5, -0.5, 1.5, 3.14159, 1e-7,
];

export function randomNumber(rng: Rng): number {
  return rng.chance(0.7) ? rng.pick(EDGE_NUMBERS) : rng.chance(0.5) ? rng.int(-1000, 100000) : (rng.next() - 0.5) * 10 ** rng.int(0, 300);
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A random JSON value; `depth` bounds nesting. */
export function randomJson(rng: Rng, depth = 3): Json {
  const kind = depth <= 0 ? rng.int(0, 3) : rng.int(0, 5);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return randomNumber(rng);
    case 3:
      return randomString(rng);
    case 4:
      return Array.from({ length: rng.weighted([[6, rng.int(0, 3)], [1, rng.int(4, 70)]]) }, () => randomJson(rng, depth - 1));
    default: {
      const o: { [k: string]: Json } = {};
      for (let i = rng.int(0, 4); i > 0; i--) o[rng.chance(0.3) ? rng.pick(NASTY_CHARS) : randomString(rng, 12)] = randomJson(rng, depth - 1);
      return o;
    }
  }
}

/** A value of a different JSON type than `v` (for "types swapped"). */
export function otherType(rng: Rng, v: unknown): Json {
  const candidates: Json[] = [null, true, false, 0, -1, 1.5, 2 ** 53 + 2, 1e308, '', 'x', randomString(rng, 20), [], [v as Json], {}, { v: v as Json }];
  const t = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x);
  const differing = candidates.filter((c) => t(c) !== t(v));
  return rng.pick(differing.length > 0 ? differing : candidates);
}

/** JSON text nested `n` deep (arrays or objects), which recursive validators must survive. */
export function deepJsonText(rng: Rng, n: number): string {
  if (rng.chance(0.5)) return `${'['.repeat(n)}${rng.pick(['', '1', '"x"', '{}'])}${']'.repeat(n)}`;
  return `${'{"a":'.repeat(n)}${rng.pick(['1', 'null', '[]'])}${'}'.repeat(n)}`;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/**
 * One structural mutation of a JSON value (objects and arrays recursively): drop, add, retype, swap,
 * duplicate, grow, nest, rename. Returns a new value; the input is not changed.
 */
export function mutateValue(rng: Rng, input: unknown, depth = 0): unknown {
  const v = clone(input);
  const isObj = v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    const op = rng.int(0, keys.length > 0 ? 10 : 2);
    switch (op) {
      case 0:
        o[rng.chance(0.2) ? rng.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) : randomString(rng, 16)] = randomJson(rng, 2);
        return o;
      case 1:
        return otherType(rng, o);
      case 2:
        return rng.chance(0.5) ? [o] : { data: o };
      case 3: {
        delete o[rng.pick(keys)];
        return o;
      }
      case 4:
      case 5: {
        const k = rng.pick(keys);
        o[k] = otherType(rng, o[k]);
        return o;
      }
      case 6: {
        const k = rng.pick(keys);
        o[k] = depth < 4 ? mutateValue(rng, o[k], depth + 1) : randomJson(rng, 1);
        return o;
      }
      case 7: {
        const k = rng.pick(keys);
        o[k] = rng.chance(0.5) ? randomString(rng, 2000) : randomJson(rng, 4);
        return o;
      }
      case 8: {
        // Renamed: case, a look-alike, or trailing space.
        const k = rng.pick(keys);
        const renamed = rng.pick([k.toUpperCase(), `${k} `, `${k}\u200b`, k.replace(/[a-z]/, 'ɑ'), `${k}s`, k.slice(1)]);
        o[renamed] = o[k];
        delete o[k];
        return o;
      }
      case 9: {
        const [a, b] = [rng.pick(keys), rng.pick(keys)];
        [o[a], o[b]] = [o[b], o[a]];
        return o;
      }
      default: {
        const k = rng.pick(keys);
        o[k] = rng.pick(EDGE_NUMBERS);
        return o;
      }
    }
  }
  if (Array.isArray(v)) {
    if (v.length === 0 || rng.chance(0.3)) return rng.chance(0.5) ? [...v, randomJson(rng, 2)] : otherType(rng, v);
    const i = rng.int(0, v.length - 1);
    switch (rng.int(0, 3)) {
      case 0:
        v.splice(i, 1);
        return v;
      case 1:
        return [...v, ...Array.from({ length: rng.int(1, 80) }, () => clone(v[i]))];
      case 2:
        v[i] = depth < 4 ? mutateValue(rng, v[i], depth + 1) : randomJson(rng, 1);
        return v;
      default:
        v[i] = otherType(rng, v[i]);
        return v;
    }
  }
  if (typeof v === 'string') {
    return rng.weighted<() => unknown>([
      [3, () => randomString(rng, 64)],
      [1, () => v + rng.pick(NASTY_CHARS)],
      [1, () => v.toUpperCase()],
      [1, () => ` ${v} `],
      [1, () => v.repeat(rng.int(2, 200))],
      [1, () => v.slice(0, rng.int(0, v.length))],
      [1, () => otherType(rng, v)],
    ])();
  }
  if (typeof v === 'number') return rng.chance(0.7) ? rng.pick(EDGE_NUMBERS) : otherType(rng, v);
  return otherType(rng, v);
}

/**
 * Text-level mutations of serialized JSON, for what JSON.stringify cannot make: duplicate keys, numbers
 * beyond float range, truncation, stray bytes, comments, a BOM, deep nesting.
 */
export function mutateText(rng: Rng, text: string): string {
  switch (rng.int(0, 11)) {
    case 0:
      return text.slice(0, rng.int(0, Math.max(0, text.length - 1)));
    case 1: {
      const at = rng.int(0, text.length);
      return text.slice(0, at) + rng.pick(NASTY_CHARS) + text.slice(at);
    }
    case 2: {
      const at = rng.int(0, Math.max(0, text.length - 1));
      return text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ (1 << rng.int(0, 6))) + text.slice(at + 1);
    }
    case 3: {
      // Duplicate a key: the first occurrence of "key":value gets a twin with another value in front.
      const m = /"([^"\\]{1,40})":/.exec(text);
      if (!m) return `${text}${text}`;
      return text.replace(m[0], `"${m[1]}":${JSON.stringify(randomJson(rng, 1))},${m[0]}`);
    }
    case 4:
      return text.replace(/(-?\d+(?:\.\d+)?)/, rng.pick(['1e999', '-1e999', '1e-999', '-0', '00', '0x10', '1_000', '+1', '.5', '1.', 'NaN', 'Infinity', '99999999999999999999999']));
    case 5:
      return `\ufeff${text}`;
    case 6:
      return `${text}${rng.pick([' ', '\n', ',', '}', ']', 'x', '// c', '/* c */', '\u0000', JSON.stringify(randomJson(rng, 1))])}`;
    case 7:
      return text.replace(/"/g, "'");
    case 8:
      return `/*c*/${text}`;
    case 9: {
      const at = text.indexOf(':');
      return at < 0 ? deepJsonText(rng, rng.int(100, 5000)) : `${text.slice(0, at + 1)}${deepJsonText(rng, rng.int(100, 5000))},${text.slice(at + 1)}`;
    }
    case 10:
      return rng.pick(['', ' ', 'null', 'true', '0', '""', '[]', '{}', '{', '}', '[', '"', 'undefined', '{"":""}', '\u0000', '\ud800']);
    default:
      return text.replace(/:\s*"[^"]*"/, `:${JSON.stringify(randomString(rng, 3000))}`);
  }
}

/** A mutated body for a JSON request: value-level, text-level, or both. Text form, ready to send. */
export function mutatedJsonText(rng: Rng, valid: unknown): string {
  const r = rng.next();
  if (r < 0.25) return JSON.stringify(valid);
  if (r < 0.7) return JSON.stringify(mutateValue(rng, rng.chance(0.3) ? mutateValue(rng, valid) : valid)) ?? 'null';
  if (r < 0.9) return mutateText(rng, JSON.stringify(rng.chance(0.4) ? mutateValue(rng, valid) : valid) ?? 'null');
  return rng.chance(0.5) ? JSON.stringify(randomJson(rng, 3)) : randomString(rng, 200);
}

/** For failure messages: short, printable. */
export function preview(x: unknown, max = 160): string {
  const s = typeof x === 'string' ? x : Buffer.isBuffer(x) ? `<${x.length} bytes>` : JSON.stringify(x) ?? String(x);
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s);
}
