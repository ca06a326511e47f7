import { UNSAFE_TEXT_CHARS } from '../protocol/display-name.ts';

type Cell = string | number | boolean | null | undefined;

const UNSAFE = new RegExp(UNSAFE_TEXT_CHARS, 'g');
const UNSAFE_BUT_NEWLINE = new RegExp(`(?!\\n)${UNSAFE_TEXT_CHARS}`, 'g');
const escape = (c: string): string => {
  const n = c.codePointAt(0)!;
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
};

/**
 * Text from the daemon as a terminal may show it: control and bidi characters as visible escapes
 * (`\x1b`, `\u202e`). Names come from guests; a raw ESC or CR in them would act on the admin's
 * terminal (retitle it, erase a row, print a forged one). The daemon cleans names already; this is the
 * second line, for anything it stored before or forwards from elsewhere.
 */
export const printable = (s: string): string => s.replace(UNSAFE, escape);
/** The same for a whole human output: its own line breaks stay, everything else is escaped. */
export const printableLines = (s: string): string => s.replace(UNSAFE_BUT_NEWLINE, escape);

/** Plain aligned columns, no colours: output that reads well and pipes well into awk/cut. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : printable(String(c)))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ')).join('\n');
}

/** "2026-11-28T04:21:00.000Z" -> "2026-11-28 04:21:00Z" */
export const shortTime = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/** A table of `items`, or `empty` when there are none. */
export const tableOr = <T>(empty: string, headers: string[], items: T[], row: (item: T) => Cell[]): string => (items.length === 0 ? empty : table(headers, items.map(row)));
