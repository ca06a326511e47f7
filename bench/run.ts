/**
 * confd benchmarks: prints a table and writes BENCHMARKS.md at the repo root.
 *
 *   node --import tsx bench/run.ts [--quick] [--only <section-id>[,<id>...]] [--no-write]
 *
 * Figures are measured and printed, never asserted. Each section is a module exporting a Section
 * (bench/lib.ts); add one (e.g. the SFU) by appending it to SECTIONS. A section disturbed by the
 * machine (section-runner.ts) runs once more, and is reported as disturbed if that run is disturbed
 * too: only a section that fails otherwise fails the bench.
 */
import { existsSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { version as mediasoupVersion } from 'mediasoup';
import { ROOT } from '../test/helpers/daemon.ts';
import { adaptiveSection } from './adaptive.ts';
import { clusterSection } from './cluster.ts';
import { controlPlaneSection } from './control-plane.ts';
import { confctlStartupSection } from './confctl-startup.ts';
import { portsSection } from './ports.ts';
import { roomSection } from './room.ts';
import { sfuSection } from './sfu.ts';
import { signallingSection } from './signalling.ts';
import { fmt, type Row, type Section, type SectionResult } from './lib.ts';
import { runSection } from './section-runner.ts';

const SECTIONS: Section[] = [controlPlaneSection, confctlStartupSection, sfuSection, roomSection, signallingSection, portsSection, adaptiveSection, clusterSection];

function parseArgs(argv: string[]) {
  const quick = argv.includes('--quick');
  const write = !argv.includes('--no-write');
  const i = argv.indexOf('--only');
  const only = i >= 0 ? new Set((argv[i + 1] ?? '').split(',').filter(Boolean)) : null;
  const unknown = argv.filter((a, j) => a.startsWith('--') && !['--quick', '--no-write', '--only'].includes(a) && argv[j - 1] !== '--only');
  if (unknown.length > 0) {
    console.error(`unknown option ${unknown.join(' ')}; usage: bench/run.ts [--quick] [--only ${SECTIONS.map((s) => s.id).join(',')}] [--no-write]`);
    process.exit(2);
  }
  return { quick, write, only };
}

const FS_TYPES: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x2fc12fc1: 'zfs' };

function machine(): [string, string][] {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {}
  let os = `${process.platform} ${release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) os = `${m[1]}, kernel ${release()}`;
  } catch {}
  let fs = 'unknown';
  try {
    const t = Number(statfsSync(tmpdir()).type);
    fs = FS_TYPES[t] ?? `0x${t.toString(16)}`;
  } catch {}
  return [
    ['CPU', cpu],
    ['Cores', String(cpus().length)],
    ['Memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['OS', os],
    ['Node', process.version],
    ['mediasoup', `${mediasoupVersion} (node_modules/mediasoup worker binary, used by the daemon and by the SFU rig)`],
    ['Temp/data dirs', `${tmpdir()} (${fs}); fsync figures depend on it`],
    ['Load average at start', `${loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15 min; other work on the box skews every figure)`],
    ['Date (start)', new Date().toISOString().replace(/\.\d+Z$/, 'Z')],
  ];
}

const valueText = (r: Row) => `${fmt(r.value)} ${r.unit}`;
const metText = (r: Row) => (r.met === undefined ? '' : r.met ? 'met' : 'MISSED');

function printTable(title: string, rows: Row[]): void {
  const cols = [
    ['figure', ...rows.map((r) => r.name)],
    ['value', ...rows.map(valueText)],
    ['target', ...rows.map((r) => r.target ?? '')],
    ['', ...rows.map(metText)],
    ['detail', ...rows.map((r) => r.detail ?? '')],
  ];
  const widths = cols.map((c) => Math.max(...c.map((s) => s.length)));
  const line = (i: number) =>
    cols
      .map((c, k) => (k === 1 ? c[i]!.padStart(widths[k]!) : c[i]!.padEnd(widths[k]!)))
      .join('  ')
      .trimEnd();
  console.log(`\n## ${title}`);
  console.log(line(0));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (let i = 1; i <= rows.length; i++) console.log(line(i));
}

const md = (s: string) => s.replace(/\|/g, '\\|');

// Hand-written blocks of BENCHMARKS.md between these markers (e.g. a before/after comparison of two
// runs) are carried over when the file is regenerated, after the machine table.
const KEEP_START = '<!-- kept by bench/run.ts: start -->';
const KEEP_END = '<!-- kept by bench/run.ts: end -->';

function keptBlocks(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const blocks: string[] = [];
  let from = 0;
  for (;;) {
    const a = text.indexOf(KEEP_START, from);
    if (a < 0) break;
    const b = text.indexOf(KEEP_END, a);
    if (b < 0) break;
    blocks.push(text.slice(a, b + KEEP_END.length));
    from = b + KEEP_END.length;
  }
  return blocks;
}

interface Ran {
  section: Section;
  result: SectionResult | null;
  /** Why it has no figures. */
  error?: string;
  /** Disturbed twice: no figures, and not a failure of the bench. */
  disturbed?: boolean;
  /** The disturbance that made it run a second time. */
  retriedAfter?: string;
}

const disturbedText = (r: Ran) => `Section disturbed twice (a second run after a disturbance was disturbed too), no figures: \`${md(r.error ?? '')}\`. Run it alone with \`npm run bench -- --only ${r.section.id}\`.`;

function markdown(opts: { quick: boolean; ms: number; machine: [string, string][]; kept: string[] }, results: Ran[]): string {
  const out: string[] = [];
  out.push('# confd benchmarks', '');
  out.push(
    `Generated by \`npm run bench${opts.quick ? ' -- --quick' : ''}\` (\`node --import tsx bench/run.ts${opts.quick ? ' --quick' : ''}\`), ${opts.quick ? '**quick mode** (fewer iterations)' : 'full mode'}, in ${fmt(opts.ms / 1000)} s. Figures are measurements, not pass/fail tests; "MISSED" marks a figure outside its target. Re-run on the target machine before quoting them.`,
    '',
  );
  out.push('## Machine', '', '| | |', '|---|---|');
  for (const [k, v] of opts.machine) out.push(`| ${k} | ${md(v)} |`);
  out.push('');
  for (const block of opts.kept) out.push(block, '');
  const disturbed = results.filter((r) => r.disturbed);
  if (disturbed.length > 0) out.push(`**Disturbed:** ${disturbed.map((r) => `"${r.section.title}"`).join(', ')} (no figures: see the section).`, '');
  for (const r of results) {
    const { section, result, error } = r;
    out.push(`## ${section.title}`, '');
    if (r.disturbed) {
      out.push(disturbedText(r), '');
      continue;
    }
    if (!result) {
      out.push(`Section failed: \`${md(error ?? 'unknown error')}\``, '');
      continue;
    }
    if (r.retriedAfter) out.push(`Measured in a second run: the first was disturbed (\`${md(r.retriedAfter)}\`).`, '');
    out.push('| Figure | Value | Target | | Detail | How measured |', '|---|--:|---|---|---|---|');
    for (const r of result.rows) out.push(`| ${md(r.name)} | ${md(valueText(r))} | ${md(r.target ?? '')} | ${metText(r)} | ${md(r.detail ?? '')} | ${md(r.note)} |`);
    out.push('');
    for (const n of result.notes ?? []) out.push(n, '');
  }
  return out.join('\n');
}

/** Splits a BENCHMARKS.md into its preamble and its "## " sections, keyed by title. */
function splitSections(text: string): { head: string; sections: Map<string, string> } {
  const parts = text.split(/^(?=## )/m);
  const sections = new Map<string, string>();
  for (const p of parts.slice(1)) sections.set(p.slice(3, p.indexOf('\n')).trim(), p.replace(/\n*$/, '\n\n'));
  return { head: parts[0] ?? '', sections };
}

/**
 * `--only` with writing: the new text of the sections that ran replaces theirs in the existing file
 * (in SECTIONS order), the others stay, and the preamble says which sections are newer, when, and on
 * what load. A section disturbed twice keeps its earlier figures (the preamble says so).
 */
function mergeSections(file: string, fresh: string, ran: Ran[], box: [string, string][], quick: boolean): string {
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    return fresh;
  }
  const a = splitSections(old);
  const b = splitSections(fresh);
  const kept = ran.filter((r) => r.disturbed && a.sections.has(r.section.title)).map((r) => r.section);
  const fresher = ran.map((r) => r.section).filter((s) => !kept.includes(s));
  const titles = new Set(fresher.map((s) => s.title));
  const out: string[] = [];
  const date = box.find(([k]) => k === 'Date (start)')?.[1] ?? '';
  const load = box.find(([k]) => k === 'Load average at start')?.[1]?.split(' (')[0] ?? '';
  const ms = box.find(([k]) => k === 'mediasoup')?.[1]?.split(' (')[0] ?? '';
  const only = `\`--only ${ran.map((r) => r.section.id).join(',')}\`${quick ? ' --quick' : ''}`;
  const names = (ss: Section[]) => ss.map((s) => `"${s.title}"`).join(', ');
  const notes: string[] = [];
  if (fresher.length > 0) notes.push(`Section${fresher.length > 1 ? 's' : ''} ${names(fresher)} regenerated on ${date} with ${only} (mediasoup ${ms}, load average at start ${load}); the rest is from the run described here.`);
  if (kept.length > 0) notes.push(`Section${kept.length > 1 ? 's' : ''} ${names(kept)} disturbed twice on ${date} with ${only} (load average at start ${load}): the figures shown are from the earlier run.`);
  // Drop notes of earlier partial runs for the sections regenerated now (and earlier "disturbed" notes
  // of the sections disturbed now), keep the rest of the preamble.
  const stale = (para: string) =>
    para.startsWith('Section') &&
    ((para.includes('regenerated on') && fresher.some((s) => para.includes(`"${s.title}"`))) || (para.includes('disturbed twice on') && ran.some((r) => para.includes(`"${r.section.title}"`))));
  const head = a.head.split('\n\n').filter((para) => !stale(para));
  out.push(head.join('\n\n').replace(/\n*$/, '\n\n'), ...notes.map((n) => `${n}\n\n`));
  // The old file's order (hand-written blocks stay where they are); a section new to the file goes
  // before the next section that follows it in SECTIONS.
  const order = [...a.sections.keys()];
  for (const s of fresher) {
    if (order.includes(s.title)) continue;
    const next = SECTIONS.slice(SECTIONS.indexOf(s) + 1).map((x) => order.indexOf(x.title)).find((k) => k >= 0);
    order.splice(next ?? order.length, 0, s.title);
  }
  for (const t of order) {
    const text = titles.has(t) ? b.sections.get(t) : a.sections.get(t);
    if (text) out.push(text);
  }
  return out.join('').replace(/\n+$/, '\n');
}

/** The last lines of the run: what was measured, what took a second run, what was disturbed or failed. */
function summary(results: Ran[]): string {
  const ids = (rs: Ran[]) => rs.map((r) => r.section.id).join(', ');
  const measured = results.filter((r) => r.result);
  const retried = measured.filter((r) => r.retriedAfter);
  const disturbed = results.filter((r) => r.disturbed);
  const failed = results.filter((r) => !r.result && !r.disturbed);
  const lines = [`summary: ${measured.length} of ${results.length} sections measured${retried.length ? ` (${ids(retried)} in a second run after a disturbance)` : ''}`];
  if (disturbed.length) lines.push(`DISTURBED (twice, no figures; run alone with --only): ${ids(disturbed)}`);
  if (failed.length) lines.push(`FAILED: ${ids(failed)}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
  console.log(`confd benchmarks (${opts.quick ? 'quick' : 'full'})`);
  const box = machine();
  for (const [k, v] of box) console.log(`${k.padEnd(15)} ${v}`);

  const results: Ran[] = [];
  for (const section of SECTIONS) {
    if (opts.only && !opts.only.has(section.id)) continue;
    log(`section ${section.id}`);
    const outcome = await runSection(section.id, section.run, { quick: opts.quick, log });
    if (outcome.status === 'ok') {
      results.push({ section, result: outcome.result, retriedAfter: outcome.retriedAfter });
      printTable(section.title, outcome.result.rows);
      if (outcome.retriedAfter) console.log(`\n(measured in a second run: the first was disturbed: ${outcome.retriedAfter})`);
      for (const n of outcome.result.notes ?? []) console.log(`\n${n}`);
    } else if (outcome.status === 'disturbed') {
      results.push({ section, result: null, error: outcome.error, disturbed: true });
      console.log(`\n## ${section.title}\nDISTURBED twice, no figures: first ${outcome.first}; then ${outcome.error}`);
    } else {
      console.error(`section ${section.id} failed: ${outcome.stack}`);
      results.push({ section, result: null, error: outcome.error });
      process.exitCode = 1;
    }
  }
  const ms = performance.now() - t0;
  console.log(`\ntotal ${fmt(ms / 1000)} s`);
  console.log(summary(results));
  if (opts.write) {
    const file = join(ROOT, 'BENCHMARKS.md');
    const text = markdown({ quick: opts.quick, ms, machine: box, kept: keptBlocks(file) }, results);
    if (opts.only) {
      // Some sections only: replace those in the existing file and keep the others as they were.
      writeFileSync(file, mergeSections(file, text, results, box, opts.quick));
      console.log(`updated ${results.map((r) => r.section.id).join(', ')} in ${file}`);
    } else {
      writeFileSync(file, text);
      console.log(`wrote ${file}`);
    }
  }
}

await main();
