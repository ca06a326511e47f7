/**
 * Where confctl's start-up time goes. Every variant is a whole process (`... --socket S status`
 * against a live daemon, or a one-line probe) timed from spawn to exit. bin/ and src/ are not
 * touched: the alternatives are the same launcher with Node's switches turned the other way, plus an
 * esbuild bundle of the same sources built in a temp dir.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFCTL, ROOT, cleanup, startConfd, tempDir } from '../test/helpers/daemon.ts';
import { CLEAN_ENV } from './control-plane.ts';
import { fmt, median, percentile, timeSpawn, timeVariants, type Row, type Section, type SectionOptions, type SectionResult, type Variant } from './lib.ts';

const REQUIRE_BANNER = "import { createRequire as __confdCreateRequire } from 'node:module'; const require = __confdCreateRequire(import.meta.url);";

/** One pre-built ESM file (esbuild, commander bundled): what confctl would cost with no TypeScript at run time. */
async function buildBundle(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'bundle-entry.ts');
  writeFileSync(entry, `import { main } from ${JSON.stringify(join(ROOT, 'src/cli/confctl.ts'))};\nawait main(process.argv);\n`);
  const bundle = join(dir, 'confctl.mjs');
  // src/version.ts reads ../package.json next to the module: give the bundle one.
  cpSync(join(ROOT, 'package.json'), join(dir, '..', 'package.json'));
  const esbuild = await import('esbuild');
  await esbuild.build({ entryPoints: [entry], outfile: bundle, bundle: true, platform: 'node', format: 'esm', target: 'node22', banner: { js: REQUIRE_BANNER }, logLevel: 'error' });
  return bundle;
}

const PROFILE_BUCKETS: [string, (url: string, fn: string) => boolean][] = [
  ['undici (loaded by the node:http ESM facade)', (u) => u.includes('internal/deps/undici')],
  ['tsx + esbuild', (u) => /node_modules\/(tsx|esbuild|get-tsconfig|resolve-pkg-maps)\//.test(u)],
  ['source maps (tsx turns them on)', (u) => u.includes('source_map')],
  ['ESM loader', (u) => u.startsWith('node:internal/modules')],
  ['commander', (u) => u.includes('node_modules/commander/')],
  ['confd src/', (u) => u.includes('/src/')],
  ['GC', (_u, f) => f === '(garbage collector)'],
  ['idle (waiting for the daemon, I/O)', (_u, f) => f === '(idle)'],
  ['V8/native, unattributed ((program))', (_u, f) => f === '(program)'],
  ['other Node internals (bootstrap, net, http, ...)', (u) => u.startsWith('node:')],
];

/** Self time of `node --cpu-prof bin/confctl ...` per bucket, median over runs, in ms. */
async function profileConfctl(args: string[], runs: number, dir: string): Promise<{ buckets: [string, number][]; total: number }> {
  const per: Map<string, number[]> = new Map();
  const totals: number[] = [];
  for (let r = 0; r < runs; r++) {
    const out = join(dir, `prof-${r}`);
    const res = await timeSpawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', out, '--cpu-prof-interval', '100', CONFCTL, ...args], { cwd: ROOT, env: CLEAN_ENV });
    if (res.code !== 0) throw new Error(`profiled confctl failed: ${res.stderr}`);
    const file = readdirSync(out).find((f) => f.endsWith('.cpuprofile'))!;
    const prof = JSON.parse(readFileSync(join(out, file), 'utf8')) as {
      nodes: { id: number; callFrame: { url: string; functionName: string } }[];
      samples: number[];
      timeDeltas: number[];
      startTime: number;
      endTime: number;
    };
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const sums = new Map<string, number>();
    prof.samples.forEach((id, i) => {
      const n = byId.get(id)!;
      const b = PROFILE_BUCKETS.find(([, test]) => test(n.callFrame.url, n.callFrame.functionName))?.[0] ?? 'other';
      sums.set(b, (sums.get(b) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
    });
    for (const [b, ms] of sums) per.set(b, [...(per.get(b) ?? []), ms]);
    totals.push((prof.endTime - prof.startTime) / 1000);
  }
  const buckets = [...per].map(([b, ms]) => [b, median([...ms, ...Array(runs - ms.length).fill(0)])] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { buckets, total: median(totals) };
}

export async function confctlStartup(o: SectionOptions): Promise<SectionResult> {
  const runs = o.quick ? 5 : 15;
  const work = tempDir('confd-bench-startup-');
  let d: Awaited<ReturnType<typeof startConfd>> | undefined;
  try {
    o.log('startup: building the bundle variant');
    const bundle = await buildBundle(join(work, 'bundle'));
    const probes = join(work, 'probes');
    mkdirSync(probes);
    symlinkSync(join(ROOT, 'node_modules'), join(probes, 'node_modules'));
    const probe = (name: string, text: string) => {
      writeFileSync(join(probes, name), text);
      return join(probes, name);
    };
    const httpEsm = probe('http-esm.mjs', "import { request } from 'node:http';\n");
    const httpBuiltin = probe('http-builtin.mjs', "const { request } = process.getBuiltinModule('node:http');\n");
    const tsxOnly = probe('tsx-register.mjs', "import { register } from 'tsx/esm/api';\nregister();\n");
    const commanderOnly = probe('commander.mjs', "import { Command } from 'commander';\n");
    const tsOnly = probe('strip-one.mjs', `await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/version.ts')).href)});\n`);
    const cacheDir = join(work, 'compile-cache');

    o.log('startup: starting a daemon');
    d = await startConfd();
    const node = (name: string, args: string[], env: NodeJS.ProcessEnv = CLEAN_ENV): Variant => ({ name, cmd: process.execPath, args, cwd: ROOT, env });
    const ctl = ['--socket', d.socket, 'status'];
    // bin/confctl turns the compile cache on itself (NODE_COMPILE_CACHE, else the OS temp dir): point it
    // at a dir of our own so the first timed run is the only cold one.
    const cached = { ...CLEAN_ENV, NODE_COMPILE_CACHE: cacheDir };
    const uncached = { ...CLEAN_ENV, NODE_DISABLE_COMPILE_CACHE: '1' };
    const variants: Variant[] = [
      node('node -e 0 (baseline)', ['-e', '0']),
      node("import { request } from 'node:http' (ESM)", [httpEsm]),
      node("process.getBuiltinModule('node:http')", [httpBuiltin]),
      node("import 'commander'", [commanderOnly]),
      node('tsx register() only', [tsxOnly]),
      node('first .ts import via type stripping', [tsOnly]),
      node('confctl status: bin/confctl as shipped (type stripping + compile cache)', [CONFCTL, ...ctl], cached),
      node('confctl status: type stripping, compile cache off', [CONFCTL, ...ctl], uncached),
      node('confctl status: tsx fallback (Node without type stripping)', ['--no-experimental-strip-types', CONFCTL, ...ctl], cached),
      node('confctl status: esbuild bundle + compile cache', [bundle, ...ctl], cached),
    ];
    o.log(`startup: ${variants.length} variants × ${runs} runs`);
    const t = await timeVariants(variants, runs);
    const base = median(t.get(variants[0]!.name)!.map((r) => r.ms));
    const rows: Row[] = variants.map((v) => {
      const res = t.get(v.name)!;
      const ms = res.map((r) => r.ms);
      const isCtl = v.name.startsWith('confctl');
      const failed = res.filter((r) => r.code !== 0 || (isCtl && !r.stdout.includes('0.1.0')));
      const m = median(ms);
      const ratio = m / base;
      return {
        name: v.name,
        value: m,
        unit: 'ms',
        detail: `${fmt(ratio)}× node -e 0, p90 ${fmt(percentile(ms, 90))} ms${failed.length ? `; ${failed.length} FAILED runs: ${failed[0]!.stderr.trim().split('\n')[0]}` : ''}`,
        ...(isCtl ? { target: '<= 4× node -e 0', met: ratio <= 4 } : {}),
        note: `median of ${runs} runs, spawn to exit, all variants interleaved after 2 untimed rounds`,
      };
    });
    o.log('startup: cpu profiles of bin/confctl');
    const profRuns = o.quick ? 2 : 5;
    const prof = await profileConfctl(ctl, profRuns, work);
    const get = (prefix: string) => median(t.get(variants.find((v) => v.name.startsWith(prefix))!.name)!.map((r) => r.ms));
    const facade = get('import { request }') - get('process.getBuiltinModule');
    const notes = [
      'bin/confctl loads the TypeScript sources with Node\'s own type stripping (22.18+, 23.6+) and turns the compile cache on; on a Node without type stripping it registers tsx instead (the "tsx fallback" row forces that path on this Node). The bundle is esbuild (the copy tsx already depends on), ESM, commander bundled, built in a temp dir: it is not shipped, it shows what a build step would still buy.',
      `Importing node:http through ESM costs ${fmt(facade)} ms more than process.getBuiltinModule('node:http') here: the ESM facade reads every export of node:http, including the lazy WebSocket/CloseEvent/MessageEvent getters, which load Node's bundled undici (nodejs/node#57649, #59686). src/admin/client.ts therefore takes node:http with getBuiltinModule.`,
      `CPU profile of \`node --cpu-prof bin/confctl --socket S status\` (as shipped), self time by where the code lives, median of ${profRuns} runs (profiled span ${fmt(prof.total)} ms; profiling adds overhead): ${prof.buckets.map(([b, ms]) => `${b} ${fmt(ms)} ms`).join('; ')}.`,
    ];
    return { rows, notes };
  } finally {
    if (d) {
      await d.stop();
      cleanup(join(d.dataDir, '..'));
    }
    cleanup(work);
  }
}

export const confctlStartupSection: Section = { id: 'confctl-startup', title: 'confctl start-up: where the time goes, and options', run: confctlStartup };
