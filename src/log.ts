import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. Secrets are redacted by key wherever they appear, as a second line of
 * defence: the code never passes passwords, tokens or keys to the logger on purpose.
 */
export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, name: 'confd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'keySecret', '*.keySecret', 'authorization', '*.authorization', '*.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
