import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanDisplayName, UNSAFE_TEXT_CHARS } from './display-name.ts';

const unsafe = new RegExp(UNSAFE_TEXT_CHARS);

test('a display name loses control and bidi characters (terminal escapes, forged rows, reordered text)', () => {
  // An OSC title change, a bell, a carriage return over the row, and a right-to-left override.
  assert.equal(cleanDisplayName('Eve\x1b]0;pwned\x07\rAnn'), 'Eve]0;pwned Ann', 'CR is a line break: a space');
  assert.equal(cleanDisplayName('\u202eknA'), 'knA');
  for (const c of ['\u200e', '\u200f', '\u061c', '\u202a', '\u202b', '\u202c', '\u202d', '\u2066', '\u2067', '\u2068', '\u2069', '\x00', '\x7f', '\x80', '\x9b', '\x9f']) {
    assert.equal(cleanDisplayName(`A${c}B`), 'AB', `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
  }
  for (let cp = 0; cp < 0x2100; cp++) assert.doesNotMatch(cleanDisplayName(`a${String.fromCodePoint(cp)}b`), unsafe, `U+${cp.toString(16)}`);
});

test('line breaks and runs of blanks become one space; the ends are trimmed', () => {
  assert.equal(cleanDisplayName('Ann\nEve'), 'Ann Eve');
  assert.equal(cleanDisplayName('  Ann \t\r\n  Lee \u2028 '), 'Ann Lee');
  assert.equal(cleanDisplayName('A \u202e B'), 'A B', 'no double space where a character went');
  assert.equal(cleanDisplayName('\x1b\u202e \x07'), '', 'nothing visible: empty');
});

test('ordinary names, accents, right-to-left scripts and emoji are kept as typed', () => {
  for (const s of ['Ann', 'José Núñez', 'محمد', 'שרה', '李小龙', 'Zoë 👩‍💻', 'A-B_C (guest)']) assert.equal(cleanDisplayName(s), s);
});
