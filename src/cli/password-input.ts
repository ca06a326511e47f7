import { createInterface } from 'node:readline';
import { UsageError } from './usage-error.ts';

/** Reads all of stdin; one trailing newline (from `echo` or a here-string) is not part of the password. */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4096) throw new UsageError('password on stdin is longer than 4096 bytes');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (text.length === 0) throw new UsageError('no password on stdin');
  return text;
}

/** Prompts on the terminal without echo. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let muted = false;
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream };
    out._writeToOutput = (s: string) => {
      if (!muted) process.stderr.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
    rl.on('SIGINT', () => {
      rl.close();
      reject(new UsageError('cancelled'));
    });
  });
}

/** A new password: from stdin with --password-stdin, else asked twice on the terminal. */
export async function readNewPassword(fromStdin: boolean, what = 'password'): Promise<string> {
  if (fromStdin) return readPasswordFromStdin();
  if (!process.stdin.isTTY) throw new UsageError(`no terminal to ask for the ${what} on; pipe it in with --password-stdin`);
  const first = await promptHidden(`New ${what}: `);
  const second = await promptHidden(`Repeat ${what}: `);
  if (first !== second) throw new PasswordMismatch();
  return first;
}

export class PasswordMismatch extends Error {
  constructor() {
    super('the two passwords do not match; nothing was changed');
  }
}
