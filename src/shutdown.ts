/**
 * The daemon's stop sequence: the parts it started, undone in reverse order, each with a deadline.
 * A step that hangs (a socket that never closes, a child that ignores SIGINT) is named in the log and
 * left behind, so that SIGTERM always ends the process: systemd and the tests wait for that exit.
 */
import type { Logger } from './log.ts';

/** Longest wait for one step. The recorder's own ffmpeg stop (SIGINT, SIGKILL after 8 s) fits inside. */
export const STOP_STEP_MS = 12_000;

export interface Shutdown {
  /** Registers what undoes a part that has just started; steps run last-added first. */
  add(step: string, undo: () => Promise<void> | void): void;
  /** Runs every step once, in reverse order; resolves with the names of the steps that overran. */
  run(): Promise<string[]>;
}

export function createShutdown(log: Logger, stepMs = STOP_STEP_MS): Shutdown {
  const steps: { step: string; undo: () => Promise<void> | void }[] = [];
  return {
    add: (step, undo) => void steps.push({ step, undo }),
    async run() {
      const overran: string[] = [];
      while (steps.length > 0) {
        const { step, undo } = steps.pop()!;
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), stepMs)));
        try {
          if ((await Promise.race([Promise.resolve().then(undo), late])) === 'late') {
            overran.push(step);
            log.error({ step, waitedMs: stepMs }, 'shutdown step did not finish in time; going on without it');
          }
        } catch (e) {
          log.error({ err: e, step }, 'error during shutdown');
        } finally {
          clearTimeout(timer);
        }
      }
      return overran;
    },
  };
}
