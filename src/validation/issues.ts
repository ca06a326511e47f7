/**
 * The one way a failed zod parse is told to a person: "where: what is wrong", where written as in the
 * input ("server.trustProxy[0]"). Request bodies, signalling messages and the config file all say it so.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

export interface IssueWords {
  /** Named before a problem with the whole input (e.g. "body", "(top level)"); none by default. */
  top?: string;
  /** How unknown keys are named, given their paths; by default "unknown field(s): a, b". */
  unknownKeys?: (paths: string[]) => string;
}

/** A path as it is written in the input: `a.b[0].c`; '' for the input itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

const unknownFields = (paths: string[]) => `unknown field(s): ${paths.join(', ')}`;

/**
 * The two other ways unknown keys are named, kept because clients and scripts read them: signalling
 * errors have said "unknown field(s) x" since the first release, and the config file says how to fix a typo.
 */
export const SIGNALLING_WORDS: IssueWords = { unknownKeys: (paths) => `unknown field(s) ${paths.join(', ')}` };
export const CONFIG_FILE_WORDS: IssueWords = {
  top: '(top level)',
  unknownKeys: (keys) => `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}; remove ${keys.length > 1 ? 'them' : 'it'} (see config/confd.example.json for the valid keys)`,
};

/** One line per issue. */
export function describeIssues(issues: readonly Issue[], words: IssueWords = {}): string[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return (words.unknownKeys ?? unknownFields)(issue.keys.map((k) => formatPath([...issue.path, k])));
    const where = formatPath(issue.path) || words.top;
    return where ? `${where}: ${issue.message}` : issue.message;
  });
}

/** The first problem only: one sentence for one answer (a 400, an error reply). */
export const firstProblem = (error: z.ZodError, words: IssueWords = {}): string => describeIssues(error.issues, words)[0] ?? 'invalid data';

export type Parsed<T> = { ok: true; data: T } | { ok: false; problem: string };

/** Parses `value`, or says what is wrong with it. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, words: IssueWords = {}): Parsed<T> {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, data: r.data } : { ok: false, problem: firstProblem(r.error, words) };
}

/**
 * Parses `text` as JSON and then as `schema`, or says what is wrong. The JSON error itself is not
 * repeated: it quotes the text, which may be anything (data read back from Redis, say).
 */
export function parseJsonInput<T>(schema: z.ZodType<T>, text: string, words: IssueWords = {}): Parsed<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  return parseInput(schema, value, words);
}
