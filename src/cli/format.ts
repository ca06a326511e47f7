type Cell = string | number | boolean | null | undefined;

/** Plain aligned columns, no colours: output that reads well and pipes well into awk/cut. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ')).join('\n');
}

/** "2026-11-28T04:21:00.000Z" -> "2026-11-28 04:21:00Z" */
export const shortTime = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/** A table of `items`, or `empty` when there are none. */
export const tableOr = <T>(empty: string, headers: string[], items: T[], row: (item: T) => Cell[]): string => (items.length === 0 ? empty : table(headers, items.map(row)));
