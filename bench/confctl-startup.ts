/**
 * Where confctl's start-up time goes, and what the alternatives would cost. Every variant is a whole
 * process (`... --socket S status` against a live daemon) timed from spawn to exit. The alternatives
 * are built in a temp dir from a copy of src/; bin/ and src/ are not touched.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFCTL, ROOT, cleanup, startConfd, tempDir } from '../test/helpers/daemon.ts';
import { CLEAN_ENV } from './control-plane.ts';
import { fmt, median, percentile, timeSpawn, timeVariants, type Row, type Section, type SectionOptions, type SectionResult, type Variant } from './lib.ts';

const CLIENT_IMPORT = "import { request } from 'node:http';";
/** The candidate fix: take node:http without its ESM facade (which loads undici for WebSocket & co). */
const CLIENT_IMPORT_FIX = "const { request } = process.getBuiltinModule('node:http') as typeof import('node:http');";

const REQUIRE_BANNER = "import { createRequire as __confdCreateRequire } from 'node:module'; const require = __confdCreateRequire(import.meta.url);";

/** A scratch project: copy of src/ (optionally patched), package.json, node_modules link, launchers, bundle. */
async function makeProject(dir: string, patchClient: boolean): Promise<{ tsx: string; strip: string; bundle: string }> {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  if (patchClient) {
    const file = join(dir, 'src/admin/client.ts');
    const text = readFileSync(file, 'utf8');
    if (!text.includes(CLIENT_IMPORT)) throw new Error('src/admin/client.ts no longer has the expected node:http import; update bench/confctl-startup.ts');
    writeFileSync(file, text.replace(CLIENT_IMPORT, CLIENT_IMPORT_FIX));
  }
  // As shipped: tsx launcher (same text as bin/confctl).
  const tsx = join(dir, 'bin/confctl');
  cpSync(CONFCTL, tsx);
  // Node 24's own type stripping, no tsx.
  const strip = join(dir, 'bin/confctl-strip.mjs');
  writeFileSync(strip, "const { main } = await import('../src/cli/confctl.ts');\nawait main(process.argv);\n");
  // One pre-built ESM file (esbuild, commander bundled): no TypeScript at run time at all.
  const entry = join(dir, 'bin/bundle-entry.ts');
  writeFileSync(entry, "import { main } from '../src/cli/confctl.ts';\nawait main(process.argv);\n");
  const bundle = join(dir, 'dist/confctl.mjs');
  const esbuild = await import('esbuild');
  await esbuild.build({ entryPoints: [entry], outfile: bundle, bundle: true, platform: 'node', format: 'esm', target: 'node22', banner: { js: REQUIRE_BANNER }, logLevel: 'error' });
  return { tsx, strip, bundle };
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
  o.log('startup: building variants');
  const asIs = await makeProject(join(work, 'as-is'), false);
  const fixed = await makeProject(join(work, 'fixed'), true);
  const probes = join(work, 'probes');
  mkdirSync(probes);
  symlinkSync(join(ROOT, 'node_modules'), join(probes, 'node_modules'));
  const probe = (name: string, text: string) => {
    writeFileSync(join(probes, name), text);
    return join(probes, name);
  };
  const empty = probe('empty.mjs', '');
  const httpEsm = probe('http-esm.mjs', CLIENT_IMPORT + '\n');
  const httpBuiltin = probe('http-builtin.mjs', "const { request } = process.getBuiltinModule('node:http');\n");
  const tsxOnly = probe('tsx-register.mjs', "import { register } from 'tsx/esm/api';\nregister();\n");
  const commanderOnly = probe('commander.mjs', "import { Command } from 'commander';\n");
  const tsOnly = probe('strip-one.mjs', `await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/version.ts')).href)});\n`);
  const cacheDir = join(work, 'compile-cache');

  o.log('startup: starting a daemon');
  const d = await startConfd();
  try {
    const node = (name: string, args: string[], env: NodeJS.ProcessEnv = CLEAN_ENV): Variant => ({ name, cmd: process.execPath, args, cwd: ROOT, env });
    const ctl = ['--socket', d.socket, 'status'];
    const cached = { ...CLEAN_ENV, NODE_COMPILE_CACHE: cacheDir };
    const variants: Variant[] = [
      node('node -e 0 (baseline)', ['-e', '0']),
      node('node empty.mjs', [empty]),
      node("import { request } from 'node:http' (ESM)", [httpEsm]),
      node("process.getBuiltinModule('node:http')", [httpBuiltin]),
      node("import 'commander'", [commanderOnly]),
      node("tsx register() only", [tsxOnly]),
      node('first .ts import via type stripping', [tsOnly]),
      node('confctl status: bin/confctl as shipped', [CONFCTL, ...ctl]),
      node('confctl status: native type stripping', [asIs.strip, ...ctl]),
      node('confctl status: esbuild bundle', [asIs.bundle, ...ctl]),
      node('confctl status: tsx + client.ts fix', [fixed.tsx, ...ctl]),
      node('confctl status: tsx + fix + NODE_COMPILE_CACHE', [fixed.tsx, ...ctl], cached),
      node('confctl status: type stripping + client.ts fix', [fixed.strip, ...ctl]),
      node('confctl status: bundle + client.ts fix', [fixed.bundle, ...ctl]),
      node('confctl status: bundle + fix + NODE_COMPILE_CACHE', [fixed.bundle, ...ctl], cached),
      node('confctl status: type stripping + fix + NODE_COMPILE_CACHE', [fixed.strip, ...ctl], cached),
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
    const facade = get("import { request }") - get('process.getBuiltinModule');
    const notes = [
      `Variants other than the first confctl one are built in a temp dir from a copy of src/ (bin/ and src/ untouched). "client.ts fix" replaces \`${CLIENT_IMPORT}\` in src/admin/client.ts with \`${CLIENT_IMPORT_FIX}\`. The bundle is esbuild (the copy tsx already depends on), ESM, commander bundled, with a createRequire banner.`,
      `Importing node:http through ESM costs ${fmt(facade)} ms more than process.getBuiltinModule('node:http') here: the ESM facade reads every export of node:http, including the lazy WebSocket/CloseEvent/MessageEvent getters, which load Node's bundled undici (nodejs/node#57649, #59686). confctl pays this because src/admin/client.ts does \`${CLIENT_IMPORT}\`; the daemon pays it too but only once at start.`,
      `CPU profile of \`node --cpu-prof bin/confctl --socket S status\` (as shipped), self time by where the code lives, median of ${profRuns} runs (profiled span ${fmt(prof.total)} ms; profiling adds overhead): ${prof.buckets.map(([b, ms]) => `${b} ${fmt(ms)} ms`).join('; ')}.`,
    ];
    return { rows, notes };
  } finally {
    await d.stop();
    cleanup(join(d.dataDir, '..'), work);
  }
}

export const confctlStartupSection: Section = { id: 'confctl-startup', title: 'confctl start-up: where the time goes, and options', run: confctlStartup };
