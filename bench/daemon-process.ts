/**
 * keywatch's daemon in a process of its own for the fleet phases, wired as `keywatch run` wires it
 * (src/cli/run.ts) minus the log output. Its CPU and memory are measured here, in the process that
 * would run in production, so nothing the bench itself allocates (building stores, the previous
 * fleet's daemon, the simulator's client) is charged to it. Speaks to the parent over IPC:
 *   child -> { type: 'ready', url, keys, pid }
 *   parent -> { type: 'window' }        start a measuring window (CPU, runs, RSS peak, loop delay)
 *   parent -> { type: 'close-window' }  child -> { type: 'window', ...WindowFigures }
 *   disconnect                          stop the daemon and exit
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { registry } from '../providers/index.js';
import { applyHeapPolicy, heapPolicy, knownV8Flags } from '../src/runtime.js';
import { flagList } from './child.js';
import { cpuWindow, round, sampleRss } from './measure.js';
import { partsOf, wiring } from './wiring.js';

export interface WindowFigures {
  cpuS: number;
  /** Of cpuS, in the kernel (on loopback, a socket write carries the TCP stack for both ends). */
  systemS: number;
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
  /** CPU seconds per thread name over the window (Linux /proc): the main thread vs V8's and libuv's helpers. */
  cpuByThread: Record<string, number>;
  /** Store history reads over the window (analysis' history figures) and the samples they returned. */
  historyReads: number;
  historySamples: number;
}

async function main(): Promise<void> {
  // BENCH_WITHOUT=analysis,alerting,identify leaves parts out: the probe cycle row, or what each part costs per run
  // (store, lines: what the probe cycle's own writes and /metrics lines cost; bench/wiring.ts).
  const daemon = await startDaemon({
    configFile: process.env.BENCH_CONFIG as string,
    registry,
    log: silentLogger(),
    listen: '127.0.0.1:0',
    watchConfig: false,
    ...wiring(partsOf(process.env.BENCH_WITHOUT)),
  });
  if (process.env.BENCH_MEMLOG !== undefined) {
    // Where the memory is, every few seconds (MB), for investigating RSS.
    setInterval(() => {
      const m = process.memoryUsage();
      process.stderr.write(`[daemon] mem ${Object.entries(m).map(([k, v]) => `${k}=${Math.round(v / 1048576)}`).join(' ')}\n`);
    }, Number(process.env.BENCH_MEMLOG) || 2000).unref();
  }
  if (process.env.BENCH_SPACELOG !== undefined) {
    // V8's heap spaces (used MB), every second, for investigating what grows the old generation.
    setInterval(() => {
      const parts = getHeapSpaceStatistics().map((s) => `${s.space_name.replace('_space', '')}=${(s.space_used_size / 1048576).toFixed(2)}`);
      process.stderr.write(`[daemon] spaces ${Math.round(performance.now())} ${parts.join(' ')}\n`);
    }, 1000).unref();
  }
  // As `keywatch run` does once started (src/runtime.ts; KEYWATCH_HEAP=default keeps node's defaults).
  void daemon.started.then(async () => {
    const policy = heapPolicy();
    applyHeapPolicy(policy, policy === 'small' ? await knownV8Flags() : undefined);
    // BENCH_V8_FLAGS: further V8 flags set at run time after the policy, for measuring GC settings.
    for (const f of flagList(process.env.BENCH_V8_FLAGS)) setFlagsFromString(f);
  });
  let window: (() => WindowFigures) | undefined;
  let profiles: (() => Promise<void>) | undefined;
  let windows = 0;
  const snapshot = process.env.BENCH_HEAP_SNAPSHOT;
  process.on('message', (msg: { type?: string }) => {
    // BENCH_MARK_WINDOWS: a line on stderr at each window's edges, to cut --trace-* output to the window.
    if (process.env.BENCH_MARK_WINDOWS !== undefined && (msg.type === 'window' || msg.type === 'close-window')) process.stderr.write(`[daemon] ${msg.type}\n`);
    if (msg.type === 'window') {
      // BENCH_HEAP_SNAPSHOT=<file>: the heap as the first window opens (<file>.1) and closes (<file>.2);
      // the objects in the second and not in the first (node ids persist within a process) are what
      // the window's runs left alive. Taken outside the window's figures; the runs a snapshot's pause
      // (a few seconds at 10,000 keys) holds back run late, inside the window.
      if (windows === 0 && snapshot !== undefined) writeHeapSnapshot(`${snapshot}.1`);
      window = openWindow(daemon);
      // The first window only: probing (phase A), not the render or scraping windows after it.
      if (windows++ === 0) profiles = startProfiles(process.env);
      process.send?.({ type: 'window-open' });
    } else if (msg.type === 'close-window' && window !== undefined) {
      const figures = window();
      window = undefined;
      const done = profiles?.() ?? Promise.resolve();
      profiles = undefined;
      if (windows === 1 && snapshot !== undefined) void done.then(() => writeHeapSnapshot(`${snapshot}.2`));
      void done.then(() => process.send?.({ type: 'window', ...figures }));
    }
  });
  process.on('disconnect', () => {
    void daemon.stop().finally(() => process.exit(0));
  });
  process.send?.({ type: 'ready', url: daemon.url, keys: daemon.states.size, pid: process.pid });
}

/**
 * Profiles of the probing window only (not start-up, warm-up or the scraping phase), for investigating:
 * BENCH_CPU_PROF=<file>: V8's CPU profile (.cpuprofile);
 * BENCH_ALLOC_PROF=<file>: V8's sampling heap profiler counting objects that died young too (node's
 * --heap-prof keeps only the survivors), so it says where the allocation rate -- and with it the GC
 * threads' CPU -- comes from (.heapprofile).
 */
function startProfiles(env: NodeJS.ProcessEnv): (() => Promise<void>) | undefined {
  const cpuFile = env.BENCH_CPU_PROF;
  const allocFile = env.BENCH_ALLOC_PROF;
  if (cpuFile === undefined && allocFile === undefined) return undefined;
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<Record<string, unknown>> =>
    new Promise((res, rej) => session.post(method, params ?? {}, (err, r) => (err !== null ? rej(err) : res(r as Record<string, unknown>))));
  const started = Promise.all([
    cpuFile !== undefined ? post('Profiler.enable').then(() => post('Profiler.start')) : undefined,
    allocFile !== undefined
      ? post('HeapProfiler.startSampling', {
          samplingInterval: 16384,
          // BENCH_ALLOC_PROF_LIVE=1: only what is still alive when the window closes (what a run leaves
          // behind); =promoted: what outlived the young generation (promoted, dead or not since).
          includeObjectsCollectedByMajorGC: env.BENCH_ALLOC_PROF_LIVE !== '1',
          includeObjectsCollectedByMinorGC: env.BENCH_ALLOC_PROF_LIVE === undefined,
        })
      : undefined,
  ]);
  return async () => {
    await started;
    if (cpuFile !== undefined) writeFileSync(cpuFile, JSON.stringify((await post('Profiler.stop')).profile));
    if (allocFile !== undefined) writeFileSync(allocFile, JSON.stringify((await post('HeapProfiler.stopSampling')).profile));
    session.disconnect();
  };
}

function openWindow(daemon: Daemon): () => WindowFigures {
  // The bench's instruments in this process are kept cheap, as their CPU is charged to keywatch: the
  // RSS peak is sampled every 50 ms by the bench process (daemon-client.ts, from /proc); here only
  // where the memory is, every second; the event-loop delay every 50 ms (at 10 ms, until session 4,
  // the monitor alone cost 2.5 ms of CPU a second, and sampling RSS here 3.7 ms).
  const rss = sampleRss(1000);
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const s0 = daemon.scheduler.stats();
  const h0 = daemon.store.stats();
  const threads0 = threadCpu();
  const cpu = cpuWindow();
  return () => {
    const { cpuS, wallS, systemS } = cpu.stop();
    loop.disable();
    const st = daemon.scheduler.stats();
    const h = daemon.store.stats();
    const peakRssMb = rss.stop();
    return {
      cpuS,
      systemS: round(systemS, 2),
      wallS,
      runs: st.runs - s0.runs,
      failures: st.failures - s0.failures,
      lateness: { p50Ms: round(st.lateness.p50Ms, 1), p99Ms: round(st.lateness.p99Ms, 1), maxMs: round(st.lateness.maxMs, 1), count: st.lateness.count },
      // The monitor's figures include its own interval: the delay is what exceeds it.
      loopDelay: { p99Ms: round(Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), 1), maxMs: round(Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS), 1) },
      peakRssMb,
      // ru_maxrss is in KiB on Linux.
      lifetimeMaxRssMb: round(process.resourceUsage().maxRSS / 1024, 1),
      memoryAtPeak: rss.atPeak(),
      cpuByThread: diffThreads(threads0, threadCpu()),
      historyReads: h.historyReads - h0.historyReads,
      historySamples: h.historySamples - h0.historySamples,
    };
  };
}

/** utime + stime (s) per thread of this process, by thread id, with its name. Empty off Linux. */
function threadCpu(): Map<string, { name: string; s: number }> {
  const out = new Map<string, { name: string; s: number }>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // pid (comm) state ... : comm may hold spaces, so split after the last ')'.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, s: (Number(f[11]) + Number(f[12])) / TICKS_PER_S });
    }
  } catch {
    // not Linux
  }
  return out;
}

const LOOP_RESOLUTION_MS = 50;

/** Linux's USER_HZ (CLK_TCK): /proc's utime and stime are in these ticks. */
const TICKS_PER_S = 100;

function diffThreads(a: Map<string, { name: string; s: number }>, b: Map<string, { name: string; s: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, t] of b) {
    // The main thread's id is the process id; the others are named by Node/V8/libuv.
    const name = tid === String(process.pid) ? 'main' : t.name.replace(/\d+$/, '').trim() || 'thread';
    out[name] = round((out[name] ?? 0) + t.s - (a.get(tid)?.s ?? 0), 2);
  }
  return out;
}


void main();
