/**
 * Every relative link in README.md and docs/*.md resolves: the file it names exists and, when it names
 * an anchor (`file.md#anchor`, or `#anchor` within the same file), that file has a heading whose
 * GitHub-style slug is that anchor. Links inside code (fenced blocks, `inline code`) are not links;
 * http(s):, mailto: and other URLs with a scheme are not checked. Every docs/*.md is linked from the
 * front page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BrokenLink {
  file: string;
  line: number;
  target: string;
  reason: string;
}

/** What the checker needs of the file system (a fake one in the self-test). */
export interface Files {
  exists(path: string): boolean;
  read(path: string): string;
}

const realFiles: Files = { exists: existsSync, read: (p) => readFileSync(p, 'utf8') };

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | null = null;
  text.split('\n').forEach((raw, i) => {
    const mark = /^\s*(`{3,}|~{3,})/.exec(raw)?.[1];
    if (mark !== undefined) {
      if (fence === null) fence = mark;
      else if (mark[0] === fence[0] && mark.length >= fence.length) fence = null;
      return;
    }
    if (fence === null) out.push({ line: i + 1, text: raw });
  });
  return out;
}

/** GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link shows its text
    .replace(/[`*]/g, '') // code and emphasis marks
    .trim()
    .toLowerCase();
  return rendered.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a Markdown text offers: one per heading, repeats numbered -1, -2, ... as GitHub does. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The relative links of a Markdown text (not in code), with their lines. */
export function links(text: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  for (const { line, text: raw } of proseLines(text)) {
    const prose = raw.replace(/(`+)[^`]*?\1/g, ''); // inline code spans
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:, ...
      out.push({ line, target });
    }
  }
  return out;
}

/** The links of `file` (whose text is `text`) that do not resolve. */
export function brokenLinks(file: string, text: string, files: Files = realFiles): BrokenLink[] {
  const broken: BrokenLink[] = [];
  for (const { line, target } of links(text)) {
    const hash = target.indexOf('#');
    const path = hash === -1 ? target : target.slice(0, hash);
    const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
    const bad = (reason: string) => broken.push({ file, line, target, reason });
    if (target === '') { bad('empty link'); continue; }
    const dest = path === '' ? file : join(dirname(file), decodeURIComponent(path));
    if (path !== '' && !files.exists(dest)) { bad(`no file ${dest}`); continue; }
    if (anchor === null) continue;
    if (!/\.md$/i.test(dest)) { bad(`an anchor into ${dest}, which is not Markdown`); continue; }
    const destText = dest === file ? text : files.read(dest);
    if (!anchors(destText).has(anchor)) bad(`no heading with the anchor #${anchor} in ${dest}`);
  }
  return broken;
}

function docFiles(): string[] {
  const docs = join(ROOT, 'docs');
  const md = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).sort().map((f) => join(docs, f)) : [];
  return [join(ROOT, 'README.md'), ...md];
}

const show = (b: BrokenLink) => `${relative(ROOT, b.file)}:${b.line}: (${b.target}) ${b.reason.replaceAll(`${ROOT}/`, '')}`;

test('the checker finds a missing file, a missing anchor in another file and in the same file', () => {
  const fake = new Map<string, string>([
    ['/r/README.md', '# confd\n\n## Start here\n'],
    ['/r/docs/cluster.md', '# confd: cluster\n\n## Running a cluster\n\n### Threat model: logins, the audit trail and `?next=`\n\n## Notes\n\n## Notes\n'],
    ['/r/config/x.conf', 'x'],
  ]);
  const files: Files = { exists: (p) => fake.has(p), read: (p) => fake.get(p) ?? '' };
  const text = [
    '# Page',
    '## A section',
    'Good: [a](cluster.md), [b](cluster.md#running-a-cluster), [c](../README.md#start-here), [d](#a-section),',
    '[e](cluster.md#threat-model-logins-the-audit-trail-and-next), [f](cluster.md#notes-1), [g](../config/x.conf),',
    '[web](https://example.org/#nowhere), [mail](mailto:a@example.org), `[code](nowhere.md)`.',
    '```',
    '[in a fence](nowhere.md)',
    '```',
    'Bad: [h](nowhere.md), [i](cluster.md#running-a-clutser), [j](#no-such-section), [k](../README.md#confd-1),',
    '[l](../config/x.conf#top), [m](cluster.md#notes-2).',
  ].join('\n');
  const broken = brokenLinks('/r/docs/page.md', text, files);
  assert.deepEqual(
    broken.map((b) => `${b.line} ${b.target}`),
    ['9 nowhere.md', '9 cluster.md#running-a-clutser', '9 #no-such-section', '9 ../README.md#confd-1', '10 ../config/x.conf#top', '10 cluster.md#notes-2'],
  );
});

test('GitHub slugs: punctuation and code marks dropped, spaces to hyphens, repeats numbered', () => {
  assert.equal(slug('Threat model: logins, the audit trail and `?next=`'), 'threat-model-logins-the-audit-trail-and-next');
  assert.equal(slug('Rooms, media and signalling'), 'rooms-media-and-signalling');
  assert.equal(slug('Where a test goes'), 'where-a-test-goes');
  assert.deepEqual([...anchors('# confd\n\n## confd\n\n```sh\n# not a heading\n```\n')], ['confd', 'confd-1']);
});

test('every relative link in README.md and docs/*.md resolves', () => {
  const broken = docFiles().flatMap((f) => brokenLinks(f, readFileSync(f, 'utf8')));
  assert.deepEqual(broken.map(show), [], `broken links:\n${broken.map(show).join('\n')}`);
});

test('every docs/*.md is linked from the front page', () => {
  const readme = join(ROOT, 'README.md');
  const linked = new Set(links(readFileSync(readme, 'utf8')).map((l) => resolve(ROOT, l.target.split('#')[0] ?? '')));
  const unlinked = docFiles().slice(1).filter((f) => !linked.has(f)).map((f) => relative(ROOT, f));
  assert.deepEqual(unlinked, [], `not linked from README.md: ${unlinked.join(', ')}`);
});
