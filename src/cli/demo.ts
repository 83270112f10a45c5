/** `keywatch demo [--listen host:port] [--db FILE]`: the daemon against built-in simulated providers. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDemo } from '../demo.js';
import { createLogger } from '../log.js';
import { writeLine, type Command } from './io.js';

const demo: Command = async (args, io) => {
  let values: { listen?: string | undefined; db?: string | undefined; data?: string | undefined; 'log-level'?: string | undefined };
  try {
    ({ values } = parseArgs({
      args,
      options: { listen: { type: 'string' }, db: { type: 'string' }, data: { type: 'string' }, 'log-level': { type: 'string' } },
      allowPositionals: false,
    }));
  } catch (err) {
    writeLine(io.stderr, `keywatch demo: ${(err as Error).message}`);
    return 1;
  }
  const listen = values.listen ?? '127.0.0.1:9477';
  const dir = values.data ?? mkdtempSync(join(tmpdir(), 'keywatch-demo-'));
  const dbPath = values.db ?? join(dir, 'keywatch.db');
  // Logs go to stderr at warn by default so the alert lines and summaries stay readable.
  const log = createLogger({ level: values['log-level'] ?? io.env.KEYWATCH_LOG_LEVEL ?? 'warn', destination: io.stderr });
  let d;
  try {
    d = await startDemo({ listen, dbPath, log, out: io.stdout, summaryEveryMs: 15_000, handleSignals: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      writeLine(io.stderr, `keywatch demo: cannot listen on ${listen} (${code}); try --listen 127.0.0.1:9478`);
      return 1;
    }
    throw err;
  }
  writeLine(io.stdout, `keywatch demo: simulated OpenRouter at ${d.sim.url}, store ${dbPath}`);
  writeLine(io.stdout, `  metrics   ${d.daemon.url}/metrics`);
  writeLine(io.stdout, `  keys      ${d.daemon.url}/api/keys`);
  writeLine(io.stdout, `  alerts    ${d.daemon.url}/api/alerts   (notifications print below as they fire and resolve)`);
  writeLine(io.stdout, '  Ctrl-C to stop.');
  await d.daemon.stopped;
  await d.stop();
  setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref();
  return 0;
};
export default demo;
