/** The bench side of the daemon process (daemon-process.ts): fork it, open and close measuring windows. */
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../src/runtime.js';
import { flagList, forkChild } from './child.js';
import { sampleRssOf } from './measure.js';
import type { WindowFigures } from './daemon-process.js';

export interface DaemonProcess {
  url: string;
  keys: number;
  openWindow(): Promise<void>;
  closeWindow(): Promise<WindowFigures>;
  close(): Promise<void>;
}

/** `env`: variables for this daemon only (BENCH_WITHOUT for the probe cycle row). */
export async function forkDaemon(configFile: string, env: Record<string, string> = {}): Promise<DaemonProcess> {
  const script = fileURLToPath(new URL('./daemon-process.js', import.meta.url));
  // node flags for the daemon (none by default, as shipped): e.g. BENCH_DAEMON_ARGS="--cpu-prof
  // --cpu-prof-dir=/tmp/prof" to profile it. KEYWATCH_HEAP=default measures node's heap defaults.
  const { next, ask, close } = forkChild(script, 'daemon', { env: { ...process.env, ...env, BENCH_CONFIG: configFile }, execArgv: daemonFlags() });
  const ready = await next<{ url: string; keys: number; pid: number }>('ready');
  // The window's RSS peak, sampled from here (costs the daemon nothing; see sampleRssOf).
  let rss: { stop(): number } | undefined;
  return {
    url: ready.url,
    keys: ready.keys,
    openWindow: async () => {
      await ask('window', 'window-open');
      rss = sampleRssOf(ready.pid, 50);
    },
    closeWindow: async () => {
      const figures = await ask<WindowFigures>('close-window', 'window');
      const peak = rss?.stop() ?? 0;
      rss = undefined;
      return { ...figures, peakRssMb: Math.max(peak, figures.peakRssMb) };
    },
    close: () => close(10_000),
  };
}

/**
 * The daemon processes' node flags: keywatch's own (src/runtime.ts NODE_FLAGS, as bin/keywatch.js
 * starts `keywatch run`; left out with BENCH_PARALLEL_GC=1, to measure V8's parallel collector),
 * then BENCH_DAEMON_ARGS.
 */
export function daemonFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const own = env.BENCH_PARALLEL_GC === '1' ? [] : [...NODE_FLAGS];
  return [...own, ...flagList(env.BENCH_DAEMON_ARGS)];
}
