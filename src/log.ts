import { createRequire } from 'node:module';
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
  const target = opts.destination ?? process.stdout;
  const pretty = opts.pretty ?? wantsPretty(target);
  // Lines are scrubbed before any formatting, so pretty output is as clean as JSON output.
  const dest = (pretty && prettyStream(target)) || target;
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

/** Pretty logs only when asked (KEYWATCH_LOG_FORMAT=pretty) or on a terminal; JSON otherwise. */
function wantsPretty(target: NodeJS.WritableStream): boolean {
  const format = process.env.KEYWATCH_LOG_FORMAT;
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return (target as { isTTY?: boolean }).isTTY === true;
}

/** pino-pretty is optional (a dev dependency): without it, logs stay JSON. */
function prettyStream(target: NodeJS.WritableStream): NodeJS.WritableStream | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pinoPretty = require('pino-pretty') as (o: Record<string, unknown>) => NodeJS.WritableStream;
    return pinoPretty({ colorize: true, destination: target, sync: true, ignore: 'app,pid,hostname' });
  } catch {
    return undefined;
  }
}
