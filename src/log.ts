import pino, { type Logger } from 'pino';
import { scrubSecrets } from './secret.js';

export type { Logger };

/**
 * The one root logger. Three layers keep secrets out: the Secret type prints [REDACTED],
 * pino `redact` blanks header paths, and every written line passes the value scrubber.
 */
export function createLogger(
  opts: { level?: string; destination?: NodeJS.WritableStream; pretty?: boolean } = {},
): Logger {
  const level = opts.level ?? process.env.KEYWATCH_LOG_LEVEL ?? 'info';
  const dest = opts.destination ?? process.stdout;
  const scrubbing = {
    write(line: string) {
      dest.write(scrubSecrets(line));
    },
  };
  return pino(
    {
      level,
      base: { app: 'keywatch' },
      redact: {
        paths: [
          'key',
          'adminKey',
          'secret',
          'token',
          '*.key',
          '*.adminKey',
          '*.secret',
          'headers.authorization',
          'headers["x-api-key"]',
          'headers["x-goog-api-key"]',
          '*.headers.authorization',
          '*.headers["x-api-key"]',
        ],
        censor: '[REDACTED]',
      },
      serializers: { err: pino.stdSerializers.err },
    },
    scrubbing as unknown as NodeJS.WritableStream,
  );
}

/** A logger that writes nothing (tests, one-shot commands that print their own report). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
