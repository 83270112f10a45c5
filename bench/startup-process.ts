/**
 * Start-up, measured in a fresh process (cold module loading and JIT, as after a real restart):
 * start the daemon on a config and a store full of history, report when it listens. The parent
 * times from spawn to the first complete /metrics.
 */
import { startDaemon } from '../src/daemon.js';
import { registry } from '../providers/index.js';
import { wiring } from './wiring.js';

async function main(): Promise<void> {
  const configFile = process.env.BENCH_CONFIG as string;
  // Wired as `keywatch run` wires it (src/cli/run.ts), minus the logger's output.
  const daemon = await startDaemon({
    configFile,
    registry,
    listen: '127.0.0.1:0',
    watchConfig: false,
    ...wiring(),
  });
  process.send?.({ type: 'listening', url: daemon.url, keys: daemon.states.size, uptimeMs: performance.now() });
  process.on('disconnect', () => {
    void daemon.stop().finally(() => process.exit(0));
  });
}

void main();
