/**
 * `keywatch run [--config FILE] [--shard i/n]`: the daemon with the real pieces wired in. Exit 0
 * after a graceful SIGTERM/SIGINT; exit 1 with one line per problem on a bad config.
 */
import { parseArgs } from 'node:util';
import { createAlerting } from '../alerting/index.js';
import { analyzeKey } from '../analysis/index.js';
import { startDaemon } from '../daemon.js';
import { applyHeapPolicy, heapPolicy, knownV8Flags, type HeapPolicy } from '../runtime.js';
import { ConfigError, formatIssue } from '../errors.js';
import { makeIdentify } from '../identity.js';
import { createLogger } from '../log.js';
import { parseShard, type Shard } from '../shard.js';
import { configPath, writeLine, type Command } from './io.js';
import { registry } from '../../providers/index.js';

const run: Command = async (args, io) => {
  let values: { config?: string | undefined; shard?: string | undefined };
  try {
    ({ values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, shard: { type: 'string' } },
      allowPositionals: false,
    }));
  } catch (err) {
    writeLine(io.stderr, `keywatch run: ${(err as Error).message}`);
    return 1;
  }
  const file = configPath(values.config, io.env);
  let heap: HeapPolicy;
  try {
    heap = heapPolicy(io.env);
  } catch (err) {
    writeLine(io.stderr, `keywatch run: ${(err as Error).message}`);
    return 1;
  }
  let shard: Shard | undefined;
  if (values.shard !== undefined) {
    try {
      shard = parseShard(values.shard);
    } catch (err) {
      writeLine(io.stderr, `keywatch run: ${(err as Error).message}`);
      return 1;
    }
  }

  const log = createLogger({ destination: io.stdout });
  let daemon;
  try {
    daemon = await startDaemon({
      configFile: file,
      env: io.env,
      registry,
      log,
      identify: makeIdentify(registry),
      analyze: analyzeKey,
      alerting: createAlerting,
      ...(shard !== undefined ? { shard } : {}),
      handleSignals: true,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) writeLine(io.stderr, formatIssue(issue, file));
      return 1;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      writeLine(io.stderr, `keywatch run: cannot listen (${code}); check server.listen`);
      return 1;
    }
    throw err;
  }
  // Start-up done: from now on V8 keeps a smaller heap, unless KEYWATCH_HEAP chose otherwise (src/runtime.ts).
  void daemon.started.then(async () => {
    const flags = applyHeapPolicy(heap, heap === 'small' ? await knownV8Flags() : undefined);
    if (flags.length > 0) log.debug({ flags }, 'heap policy applied');
  });
  await daemon.stopped;
  // Everything is closed; should a stray handle keep the loop alive, do not hang the shutdown.
  setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref();
  return 0;
};
export default run;
