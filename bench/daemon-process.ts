/**
 * keywatch's daemon in a process of its own for the fleet phases, wired as `keywatch run` wires it
 * (src/cli/run.ts) minus the log output. Its CPU and memory are measured here, in the process that
 * would run in production, so nothing the bench itself allocates (building stores, the previous
 * fleet's daemon, the simulator's client) is charged to it. Speaks to the parent over IPC:
 *   child -> { type: 'ready', url, keys }
 *   parent -> { type: 'window' }        start a measuring window (CPU, runs, RSS peak, loop delay)
 *   parent -> { type: 'close-window' }  child -> { type: 'window', ...WindowFigures }
 *   parent -> { type: 'render' }        child -> { type: 'render', renderMs, renderMsMax, bytes, series }
 *   disconnect                          stop the daemon and exit
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createAlerting } from '../src/alerting/index.js';
import { analyzeKey } from '../src/analysis/index.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { makeIdentify } from '../src/identity.js';
import { silentLogger } from '../src/log.js';
import { registry } from '../providers/index.js';
import { cpuWindow, percentile, round, sampleRss } from './measure.js';

export interface WindowFigures {
  cpuS: number;
  wallS: number;
  runs: number;
  failures: number;
  /** Cumulative scheduler lateness since start (the window's max is within it). */
  lateness: { p50Ms: number; p99Ms: number; maxMs: number; count: number };
  loopDelay: { p99Ms: number; maxMs: number };
  /** Peak RSS sampled every 50 ms during the window, and the kernel's peak over the process's life. */
  peakRssMb: number;
  lifetimeMaxRssMb: number;
  memoryAtPeak: Record<string, number>;
}

export interface RenderFigures {
  renderMs: number;
  renderMsMax: number;
  bytes: number;
  series: number;
}

async function main(): Promise<void> {
  const daemon = await startDaemon({
    configFile: process.env.BENCH_CONFIG as string,
    registry,
    log: silentLogger(),
    listen: '127.0.0.1:0',
    watchConfig: false,
    identify: makeIdentify(registry),
    analyze: analyzeKey,
    alerting: createAlerting,
  });
  if (process.env.BENCH_MEMLOG !== undefined) {
    // Where the memory is, every few seconds (MB), for investigating RSS.
    setInterval(() => {
      const m = process.memoryUsage();
      process.stderr.write(`[daemon] mem ${Object.entries(m).map(([k, v]) => `${k}=${Math.round(v / 1048576)}`).join(' ')}\n`);
    }, Number(process.env.BENCH_MEMLOG) || 2000).unref();
  }
  let window: (() => WindowFigures) | undefined;
  process.on('message', (msg: { type?: string }) => {
    if (msg.type === 'window') {
      window = openWindow(daemon);
      process.send?.({ type: 'window-open' });
    } else if (msg.type === 'close-window' && window !== undefined) {
      process.send?.({ type: 'window', ...window() });
      window = undefined;
    } else if (msg.type === 'render') {
      void measureRender(daemon).then((r) => process.send?.({ type: 'render', ...r }));
    }
  });
  process.on('disconnect', () => {
    void daemon.stop().finally(() => process.exit(0));
  });
  process.send?.({ type: 'ready', url: daemon.url, keys: daemon.states.size });
}

function openWindow(daemon: Daemon): () => WindowFigures {
  const rss = sampleRss(50);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const s0 = daemon.scheduler.stats();
  const cpu = cpuWindow();
  return () => {
    const { cpuS, wallS } = cpu.stop();
    loop.disable();
    const st = daemon.scheduler.stats();
    const peakRssMb = rss.stop();
    return {
      cpuS,
      wallS,
      runs: st.runs - s0.runs,
      failures: st.failures - s0.failures,
      lateness: { p50Ms: round(st.lateness.p50Ms, 1), p99Ms: round(st.lateness.p99Ms, 1), maxMs: round(st.lateness.maxMs, 1), count: st.lateness.count },
      loopDelay: { p99Ms: round(loop.percentile(99) / 1e6, 1), maxMs: round(loop.max / 1e6, 1) },
      peakRssMb,
      // ru_maxrss is in KiB on Linux.
      lifetimeMaxRssMb: round(process.resourceUsage().maxRSS / 1024, 1),
      memoryAtPeak: rss.atPeak(),
    };
  };
}

/** Render time of a fresh /metrics (cache dropped first), five times. */
async function measureRender(daemon: Daemon): Promise<RenderFigures> {
  const times: number[] = [];
  let text = '';
  for (let i = 0; i < 5; i++) {
    daemon.metrics.invalidate();
    const t0 = performance.now();
    text = await daemon.metrics.render();
    times.push(performance.now() - t0);
  }
  // Series = lines not starting with '#', counted without splitting 24 MB into 270,000 strings.
  let series = 0;
  for (let i = 0; i < text.length; i = text.indexOf('\n', i) + 1 || text.length) if (text.charCodeAt(i) !== 35 && text.charCodeAt(i) !== 10) series++;
  return { renderMs: round(percentile(times, 50), 1), renderMsMax: round(Math.max(...times), 1), bytes: Buffer.byteLength(text), series };
}

void main();
