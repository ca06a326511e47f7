/** Durations in config and on the command line: a whole number followed by s, m, h or d. */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const DURATION_RE = /^([1-9][0-9]{0,8})(s|m|h|d)$/;

export const DURATION_HELP = 'a whole number followed by s, m, h or d, e.g. 90s, 30m, 1h, 2d';

/** Returns the duration in seconds, or null when the text is not a valid duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds % size === 0 && seconds >= size) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
