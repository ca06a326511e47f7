/**
 * Bundles the guest web page (src/web/client) with esbuild, in memory, once per process. The daemon
 * awaits this before it reports ready, so the first visitor never waits for a build.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, transform } from 'esbuild';

export interface WebAsset {
  readonly body: Buffer;
  readonly contentType: string;
  /** Strong ETag (quoted sha-256 prefix) and the short hash used as a cache-busting `?v=`. */
  readonly etag: string;
  readonly version: string;
}

export interface WebAssets {
  readonly js: WebAsset;
  readonly css: WebAsset;
}

const WEB_DIR = import.meta.dirname;
const TARGET = ['chrome120', 'firefox115'];

function asset(body: Buffer, contentType: string): WebAsset {
  const hash = createHash('sha256').update(body).digest('base64url');
  return { body, contentType, etag: `"${hash.slice(0, 27)}"`, version: hash.slice(0, 12) };
}

async function buildOnce(): Promise<WebAssets> {
  const js = await build({
    entryPoints: [join(WEB_DIR, 'client/main.ts')],
    bundle: true,
    write: false,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: TARGET,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const jsFile = js.outputFiles[0];
  if (!jsFile) throw new Error('esbuild produced no output for the web client');
  const cssSource = await readFile(join(WEB_DIR, 'style.css'), 'utf8');
  const css = await transform(cssSource, { loader: 'css', minify: true, target: TARGET, logLevel: 'silent' });
  return {
    js: asset(Buffer.from(jsFile.contents), 'text/javascript; charset=utf-8'),
    css: asset(Buffer.from(css.code), 'text/css; charset=utf-8'),
  };
}

let cached: Promise<WebAssets> | null = null;

/** Builds the page's script and stylesheet on the first call; later calls share that result. */
export function buildWebAssets(): Promise<WebAssets> {
  if (!cached) {
    cached = buildOnce();
    cached.catch(() => {
      cached = null; // a failed build may be retried
    });
  }
  return cached;
}
