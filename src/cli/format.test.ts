import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable, printableLines, table } from './format.ts';

// What a terminal acts on: C0 (ESC, BEL, CR, LF, ...), DEL, C1 (CSI 0x9b, OSC 0x9d) and bidi overrides.
const RAW = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

test('printable: control and bidi characters are shown as visible escapes', () => {
  assert.equal(printable('Eve\x1b]0;pwned\x07'), 'Eve\\x1b]0;pwned\\x07');
  assert.equal(printable('a\rb\nc\td'), 'a\\x0db\\x0ac\\x09d');
  assert.equal(printable('\x7f\x9b\u202eknA\u2066\u200f'), '\\x7f\\x9b\\u202eknA\\u2066\\u200f');
  for (const s of ['Ann', 'José', 'محمد', 'Zoë 👩‍💻', 'back\\slash']) assert.equal(printable(s), s, 'ordinary text as it is');
});

test('printableLines keeps the line breaks of the output itself, and escapes the rest', () => {
  assert.equal(printableLines('a\x1b[2K\nb\r\u202e'), 'a\\x1b[2K\nb\\x0d\\u202e');
});

test('table: a cell cannot carry escapes, break a row or misalign the columns', () => {
  const out = table(['PEER', 'NAME', 'SINCE'], [['eve', 'Eve\x1b[2K\r\nann  Ann\u202e', '12:00'], ['ann', 'Ann', '12:01']]);
  assert.doesNotMatch(out.replace(/\n/g, ''), RAW);
  const lines = out.split('\n');
  assert.equal(lines.length, 3, 'one line per row');
  assert.equal(lines[1]!.indexOf('12:00'), lines[2]!.indexOf('12:01'), 'columns stay aligned with the escapes shown');
});
