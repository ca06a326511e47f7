/**
 * confd soak: a real daemon (two mediasoup workers, ffmpeg for recordings) kept busy for N minutes by
 * the load in bench/soak/load.ts, sampled between rounds, then a table over time and, per figure, the
 * growth per hour after the warm-up with a verdict against "flat after warm-up".
 *
 *   npm run soak -- --minutes N [--sample-seconds S] [--browsers B] [--out FILE.json]
 *
 * Exit status: 0 when the run completed, whatever the figures say (they are measurements, not
 * tests); 1 when the daemon crashed (exited, lost a mediasoup worker, or did not stop on SIGTERM);
 * 2 when the load could not run (set-up failed, more rounds failed than completed, or something else
 * on the machine stopped the daemon or killed its workers with a signal, as its log says).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { HAVE_CHROMIUM, CHROMIUM } from '../../test/helpers/browser.ts';
import { cleanup, startConfd, tempDir, type RunningDaemon } from '../../test/helpers/daemon.ts';
import { fmt, machine } from '../lib.ts';
import { startLoad, type Load } from './load.ts';
import { summary, table, WARM_UP, type Sample } from './report.ts';
import { FIGURES, readFigures } from './sample.ts';

const PROBE = resolve(import.meta.dirname, 'probe.ts');

interface Options {
  minutes: number;
  sampleSeconds: number;
  browsers: number;
  out: string | null;
}

function usage(problem: string): never {
  console.error(`${problem}\nusage: npm run soak -- --minutes N [--sample-seconds S (default 20)] [--browsers B (default 2)] [--out FILE.json]`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: NaN, sampleSeconds: 20, browsers: 2, out: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i]!, argv[i + 1]];
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    if (flag === '--minutes') o.minutes = Number(value);
    else if (flag === '--sample-seconds') o.sampleSeconds = Number(value);
    else if (flag === '--browsers') o.browsers = Number(value);
    else if (flag === '--out') o.out = value;
    else usage(`unknown option ${flag}`);
  }
  if (!(o.minutes > 0)) usage('--minutes must be a number of minutes above 0');
  if (!(o.sampleSeconds >= 5)) usage('--sample-seconds must be at least 5');
  if (!Number.isInteger(o.browsers) || o.browsers < 0) usage('--browsers must be a whole number');
  return o;
}

/**
 * Whether the daemon's log says it was stopped, or a worker killed, by a signal from outside the soak
 * (SIGTERM, SIGKILL, ... sent by something else on the machine): not a crash of the daemon's own.
 */
function stoppedFromOutside(d: RunningDaemon, stopping: boolean): string | null {
  const logs = d.logs;
  const killed = logs.find((l) => l.msg === 'mediasoup worker died; replacing it' && /SIG(TERM|KILL|INT|HUP)/.test(String(l.err)));
  if (killed) return `a mediasoup worker was killed from outside (${killed.err})`;
  const signal = logs.find((l) => l.msg === 'shutting down' && typeof l.signal === 'string')?.signal;
  return signal && !stopping ? `the daemon was stopped from outside (${signal})` : null;
}

const stamp = (t0: number) => `[soak ${((performance.now() - t0) / 60_000).toFixed(1)} min]`;

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (m: string) => process.stderr.write(`${stamp(t0)} ${m}\n`);
  if (!existsSync('/usr/bin/ffmpeg')) {
    console.error('the soak records rooms: it needs ffmpeg (apt-get install ffmpeg)');
    return 2;
  }
  if (o.browsers > 0 && !HAVE_CHROMIUM) {
    console.error(`the soak's pages need ${CHROMIUM} (apt-get install chromium), or run it with --browsers 0`);
    return 2;
  }
  const box = machine();
  console.log(`confd soak: ${o.minutes} min, a sample every >= ${o.sampleSeconds} s between rounds, ${o.browsers} Chromium page(s)`);
  for (const [k, v] of box) console.log(`${k.padEnd(22)} ${v}`);

  const probeFile = join(tempDir('confd-soak-'), 'probe.json');
  let d: RunningDaemon;
  try {
    d = await startConfd({
      config: { mediasoup: { workers: 2, peersPerRouter: 3 }, host: { protected: false }, log: { level: 'info' } },
      nodeArgs: ['--expose-internals', '--import', PROBE],
      env: { CONFD_SOAK_PROBE: probeFile },
      timeoutMs: 60_000,
    });
  } catch (e) {
    console.error(`the daemon did not start: ${(e as Error).message}`);
    return 2;
  }
  let crash: string | null = null;
  let stopping = false;
  void d.exited.then(({ code, signal }) => {
    if (!stopping) crash ??= `the daemon exited during the run (code ${code}, signal ${signal})`;
  });

  let load: Load;
  try {
    load = await startLoad(d, { browsers: o.browsers, log });
  } catch (e) {
    console.error(`the load could not start: ${(e as Error).message}`);
    await d.stop().catch(() => {});
    return crash ? 1 : 2;
  }

  const samples: Sample[] = [];
  let workers: number[] = [];
  const start = performance.now();
  const sample = async () => {
    const r = await readFigures(d, probeFile);
    if (workers.length > 0 && r.workers.join() !== workers.join()) crash ??= `a mediasoup worker died (pids ${workers.join(', ')} -> ${r.workers.join(', ')})`;
    workers = r.workers;
    const s: Sample = { t: (performance.now() - start) / 1000, round: load.tally.rounds, values: r.values };
    samples.push(s);
    log(`round ${s.round}: ${FIGURES.map((f) => `${f.label} ${r.values[f.key] === null || r.values[f.key] === undefined ? '-' : fmt(r.values[f.key]!)}`).join(', ')}, load ${fmt(r.values.load1!)}`);
  };

  let stop = false;
  process.once('SIGINT', () => {
    log('interrupted: finishing this round, then the report');
    stop = true;
  });
  const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(' ');
  try {
    await sample();
    let last = performance.now();
    while (!stop && !crash && performance.now() - start < o.minutes * 60_000) {
      await load.round();
      if (crash) break;
      if (performance.now() - last >= o.sampleSeconds * 1000) {
        await sample();
        last = performance.now();
      }
    }
    if (!crash) await sample();
  } catch (e) {
    crash ??= d.proc.exitCode !== null || d.proc.signalCode !== null ? `the daemon exited during the run` : null;
    if (!crash) log(`sampling failed: ${(e as Error).message}`);
  }
  const loadAtEnd = loadavg().map((l) => l.toFixed(2)).join(' ');
  const minutes = (performance.now() - start) / 60_000;
  await load.close();
  if (!crash) {
    stopping = true;
    try {
      const code = await d.stop();
      if (code !== 0) crash = `the daemon exited with ${code} on SIGTERM`;
    } catch (e) {
      crash = (e as Error).message;
    }
  }

  const errors = d.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
  const every = Math.max(1, Math.ceil(samples.length / 16));
  console.log(`\n## Samples (${samples.length}, between rounds${every > 1 ? `; every ${every}th shown` : ''}; MiB, counts; timers: all live timers, ref.t: those holding the loop open)\n`);
  for (const l of table(samples, FIGURES, every)) console.log(l);
  console.log(`\n## Growth per hour after the warm-up (the first ${WARM_UP * 100}% of ${fmt(minutes)} min left out, or a figure's own longer warm-up; least-squares slope)\n`);
  const { lines, growths } = summary(samples, FIGURES);
  for (const l of lines) console.log(l);
  const t = load.tally;
  console.log(`\n## Load\n`);
  console.log(`${t.rounds} rounds completed, ${t.failedRounds} failed, in ${fmt(minutes)} min; ${t.joins} joins, ${t.leaves} leaves, ${t.mutes} mutes, ${t.hostMutes} host mutes, ${t.screenShares} screen shares, ${t.chats} chat messages, ${t.knocks} lobby knocks (${t.admitted} admitted, ${t.denied} denied), ${t.kicks} kicks, ${t.recordings} recordings, ${t.roomsOpened} rooms opened and forgotten, ${t.reloads} page reloads`);
  console.log(`load average at start ${loadAtStart}, at end ${loadAtEnd} (1/5/15 min)`);
  console.log(`daemon error log lines: ${errors.length}${errors.length > 0 ? ` (first: ${JSON.stringify(errors.slice(0, 3).map((e) => e.msg))})` : ''}`);
  if (load.problems.length > 0) console.log(`page problems: ${load.problems.length} (first: ${JSON.stringify(load.problems.slice(0, 3))})`);
  const grows = growths.filter((g) => g.verdict === 'GROWS').map((g) => g.figure.label);
  console.log(`verdict: ${grows.length === 0 ? 'every figure flat after the warm-up' : `growing: ${grows.join(', ')}`}`);

  if (o.out) {
    writeFileSync(o.out, JSON.stringify({ options: o, machine: box, loadAtStart, loadAtEnd, minutes, tally: t, samples, growths: growths.map((g) => ({ ...g, figure: g.figure.key })), crash, errors: errors.length }, null, 1));
    console.log(`samples written to ${o.out}`);
  }
  if (!process.env.CONFD_TEST_KEEP) cleanup(resolve(d.dataDir, '..'));
  const outside = stoppedFromOutside(d, stopping);
  if (outside) {
    console.log(`\nTHE LOAD COULD NOT RUN: ${outside}; not a crash of the daemon's (its report: ${crash ?? 'none'})`);
    return 2;
  }
  if (crash) {
    const died = d.logs.filter((l) => l.msg === 'mediasoup worker died; replacing it').map((l) => l.err);
    if (died.length > 0) console.log(`workers died: ${JSON.stringify(died)}`);
    console.log(`\nDAEMON CRASHED: ${crash}\nlast log lines:\n${d.stdout().split('\n').slice(-15).join('\n')}\n${d.stderr().slice(-2000)}`);
    return 1;
  }
  if (t.rounds === 0 || t.failedRounds > t.rounds) {
    console.log(`\nTHE LOAD COULD NOT RUN: ${t.rounds} rounds completed, ${t.failedRounds} failed`);
    return 2;
  }
  return 0;
}

// Clients (werift sockets, the browser) may keep the loop alive after their close: the report is out, so exit.
process.exit(await main());
