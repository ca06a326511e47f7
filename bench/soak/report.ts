/**
 * The soak's figures over time: the table of samples, and per figure the growth per hour after the
 * warm-up (slope of a least-squares line through the samples after the first WARM_UP share of the
 * run, or after the figure's own longer warm-up) with a verdict against "flat after warm-up". Pure:
 * samples in, text out.
 */
import { fmt } from '../lib.ts';

/** One reading of every figure; null where it could not be read. */
export interface Sample {
  /** Seconds since the load started. */
  t: number;
  /** Rounds of the load pattern completed when this was taken. */
  round: number;
  values: Record<string, number | null>;
}

export interface Figure {
  key: string;
  /** Column heading in the table. */
  label: string;
  unit: 'MiB' | 'count';
  /**
   * Flat when growth per hour stays under this: `relative` of the warm value (memory), or at most
   * `absolute` (counts that should come back to the same number after each round).
   */
  limit: { relative: number } | { absolute: number };
  /**
   * A warm-up of at least this long (s): entries kept for a fixed window (a lobby denial counts for
   * 10 minutes) only level off once the first ones run out.
   */
  minWarmUpSeconds?: number;
}

/** The share of the run left out of the fit: start-up, caches and JIT filling. */
export const WARM_UP = 0.2;

export interface Growth {
  figure: Figure;
  /** Where the fit starts, seconds into the run. */
  from: number;
  samples: number;
  /** Mean over the fitted samples. */
  warm: number;
  first: number;
  last: number;
  perHour: number;
  limitPerHour: number;
  verdict: 'flat' | 'GROWS' | 'no data';
}

/** Least-squares slope of y over x; 0 when x does not vary. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Where a figure's fit starts: after the warm-up share of the run, or its own minimum warm-up if longer. */
export function warmUpEnd(samples: readonly Sample[], figure: Figure): number {
  return Math.max((samples.at(-1)?.t ?? 0) * WARM_UP, figure.minWarmUpSeconds ?? 0);
}

export function growth(samples: readonly Sample[], figure: Figure): Growth {
  const from = warmUpEnd(samples, figure);
  const points = samples.filter((s) => s.t >= from).flatMap((s) => {
    const v = s.values[figure.key];
    return v === null || v === undefined ? [] : [{ h: s.t / 3600, v }];
  });
  if (points.length < 3) return { figure, from, samples: points.length, warm: NaN, first: NaN, last: NaN, perHour: NaN, limitPerHour: NaN, verdict: 'no data' };
  const warm = points.reduce((a, p) => a + p.v, 0) / points.length;
  const perHour = slope(
    points.map((p) => p.h),
    points.map((p) => p.v),
  );
  const limitPerHour = 'relative' in figure.limit ? figure.limit.relative * warm : figure.limit.absolute;
  return { figure, from, samples: points.length, warm, first: points[0]!.v, last: points.at(-1)!.v, perHour, limitPerHour, verdict: perHour < limitPerHour ? 'flat' : 'GROWS' };
}

const cell = (v: number | null | undefined, unit: Figure['unit']) => (v === null || v === undefined ? '-' : unit === 'MiB' ? v.toFixed(1) : String(Math.round(v)));

/** Rows of `samples` as a fixed-width table; `every` keeps one row in that many (the first and last always). */
export function table(samples: readonly Sample[], figures: readonly Figure[], every = 1): string[] {
  const head = ['min', 'round', ...figures.map((f) => f.label)];
  const kept = samples.filter((_, i) => i % every === 0 || i === samples.length - 1);
  const rows = kept.map((s) => [(s.t / 60).toFixed(1), String(s.round), ...figures.map((f) => cell(s.values[f.key], f.unit))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function limitText(f: Figure): string {
  return 'relative' in f.limit ? `< ${f.limit.relative * 100}% of warm /h` : `< ${f.limit.absolute} /h`;
}

/** One line per figure: warm value, first and last fitted value, growth per hour, threshold, verdict. */
export function summary(samples: readonly Sample[], figures: readonly Figure[]): { lines: string[]; growths: Growth[] } {
  const growths = figures.map((f) => growth(samples, f));
  const head = ['figure', 'unit', 'fit from', 'warm', 'first', 'last', 'growth/h', 'threshold', 'verdict'];
  const rows = growths.map((g) => [
    g.figure.label,
    g.figure.unit,
    `${(g.from / 60).toFixed(1)} min`,
    fmt(g.warm),
    fmt(g.first),
    fmt(g.last),
    `${g.perHour >= 0 ? '+' : ''}${fmt(g.perHour)}`,
    limitText(g.figure),
    g.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i >= 7 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return { lines: [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)], growths };
}
