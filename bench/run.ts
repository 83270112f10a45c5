/**
 * keywatch's benchmark (`npm run bench`). For each fleet size it runs the OpenRouter simulator in a
 * separate process, starts a real daemon (in its own process) on N keys probed every `--interval` (default 60 s, the
 * target), and measures over a window: key runs per second, the daemon process's CPU per key run, peak
 * RSS, scheduler lateness, event-loop delay, /metrics scrape time and size, and lateness while
 * /metrics is scraped every second. Then a bare undici loop makes the same requests at the same
 * rate and concurrency (the baseline), and the ratio of the two CPU costs is keywatch's overhead.
 * Then the probe cycle the target names (HTTP requests, parse, store, metrics: the daemon without
 * judging, history analysis, alerting and identification) at --probe-cycle-keys, with its own
 * baseline, and the same loop at once with its window too (atOncePlan: the minute's speed moves
 * both alike); the floor (decompose.ts: the least a run can do of those pieces, at once with the bare
 * loop, --floor-rounds rounds at --probe-cycle-keys); requests per cycle with fleet discovery, store
 * bytes per key-day after rollups, and start-up time on a store holding 30 days of history.
 *
 * Why the interval is not compressed: 10,000 keys every 60 s is a RATE, 167 key runs per second,
 * and that is what is driven; a window shorter than the interval simply sees part of the fleet
 * run. So the daemon starts as after a restart in steady state: a store holding every key's last
 * state (last runs spread over the past interval) and a week of history, so every key has full
 * state and /metrics covers the whole fleet from the first second. `--interval 6` with 1,000 keys
 * drives the same 167 runs/s as 10,000 keys at 60 s ("equivalent keys at 60 s" in the table).
 *
 *   node dist/bench/run.js [--keys 1000,10000] [--seconds 60] [--interval 60] [--warmup <2 intervals + 5>]
 *     [--scrape-seconds 15] [--probe-cycle-keys 10000] [--floor-rounds 2] [--startup-keys 10000] [--startup-days 30]
 *     [--startup-runs 3] [--json FILE] [--skip fleets,probe-cycle,floor,baseline,fleet,storage,startup]
 *     (fleets: the N-key probing phases; probe-cycle: its row; floor: its comparison; fleet: discovery)
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeKey } from '../src/analysis/index.js';
import { startDaemon, TICK_MS } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { registry } from '../providers/index.js';
import { atOncePlan, runBaselineProcess, type BaselineOptions, type BaselineResult } from './baseline.js';
import { benchConfigYaml, benchModelsIntervalS } from './daemon-config.js';
import { floorSummary, type DecomposeResult, type FloorSummary } from './floor.js';
import { cpuWindow, percentile, round, sleep } from './measure.js';
import { PROBE_CYCLE_WITHOUT, wiring, type Part } from './wiring.js';
import { heapPolicy } from '../src/runtime.js';
import { daemonFlags, forkDaemon } from './daemon-client.js';
import { scrapeOnce } from './scrape.js';
import { forkSim } from './sim-client.js';
import { buildStartupStore, measureHistoryDepth, measureStorage, workingCopy, type HistoryDepthFigures, type StorageFigures } from './store-bench.js';

interface Args {
  keys: number[];
  seconds: number;
  intervalS: number;
  warmupS: number;
  scrapeSeconds: number;
  /** Keys of the probe cycle row (the daemon without judging; see PROBE_CYCLE_WITHOUT). */
  probeCycleKeys: number;
  /** Rounds of the floor and the bare loop at once (decompose.ts), at probeCycleKeys. */
  floorRounds: number;
  startupKeys: number;
  startupDays: number;
  startupRuns: number;
  json: string;
  skip: Set<string>;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v.replace(/s$/, ''));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} expects a positive number, got "${v}"`);
    return n;
  };
  const here = dirname(fileURLToPath(import.meta.url));
  return {
    keys: (get('keys') ?? '1000,10000').split(',').map((k) => {
      const n = Number(k);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`--keys expects N or N,M,..., got "${k}"`);
      return n;
    }),
    // 60 s: a window holds a few of V8's mark-compacts and evens out this VM's noise (30 s windows
    // of the same code measured 0.53-0.73 ms per key run).
    seconds: num('seconds', 60),
    intervalS: num('interval', 60),
    // Two whole intervals by default, as in a daemon that has been running a while: in the first,
    // every key has its first run since start (it reads its history and writes its alert memory; a
    // shorter warm-up measures a restart, not the steady state); in the second, V8 re-optimizes what
    // those first runs deoptimized (--trace-opt: ~60 functions compiled in a 30 s window right after
    // one interval, ~14 after two).
    warmupS: num('warmup', 2 * num('interval', 60) + 5),
    scrapeSeconds: num('scrape-seconds', 15),
    probeCycleKeys: num('probe-cycle-keys', 10_000),
    floorRounds: num('floor-rounds', 2),
    startupKeys: num('startup-keys', 10_000),
    startupDays: num('startup-days', 30),
    startupRuns: num('startup-runs', 3),
    // dist/bench/run.js -> <repo>/bench/results/latest.json
    json: resolve(get('json') ?? join(here, '..', '..', 'bench', 'results', 'latest.json')),
    skip: new Set((get('skip') ?? '').split(',').filter(Boolean)),
  };
}

interface FleetResult {
  keys: number;
  /** What the daemon ran without (the probe cycle row: PROBE_CYCLE_WITHOUT); empty for the whole daemon. */
  without: Part[];
  intervalS: number;
  /** keys * 60 / interval: the fleet size this load equals at a 60 s interval. */
  equivalentKeysAt60s: number;
  targetRunsPerS: number;
  runsPerS: number;
  runs: number;
  requests: number;
  requestsPerRun: number;
  cpuS: number;
  /** Of cpuS, in the kernel. */
  systemS: number;
  cpuPctOfOneCore: number;
  cpuMsPerRun: number;
  /** The daemon process's peak RSS over its life (kernel's maxRSS): start-up, probing and scraping every second.  */
  peakRssMb: number;
  /** Peak RSS while probing (phase A, then five /metrics scrapes at its end, as a 60 s scrape interval would see one). */
  steadyPeakRssMb: number;
  /** Phase A's CPU seconds per thread (main, V8 workers, libuv pool...). */
  cpuByThread: Record<string, number>;
  /** Phase A's store history reads (analysis' history figures) per key run, and samples per read. */
  historyReadsPerRun: number;
  samplesPerHistoryRead: number;
  /** process.memoryUsage() (MB) when RSS peaked. */
  memoryAtPeak: Record<string, number>;
  lateness: { p50Ms: number; p99Ms: number; maxMs: number; count: number };
  eventLoopDelay: { p99Ms: number; maxMs: number };
  /**
   * Five whole scrapes over HTTP, one after another, after an uncounted first; scrapesMs holds all
   * six, the uncounted one first (JSON names kept from when this was a render inside the daemon).
   */
  metrics: { renderMs: number; renderMsMax: number; scrapesMs: number[]; bytes: number; series: number };
  scraping: {
    seconds: number;
    scrapes: number;
    scrapeMsP50: number;
    scrapeMsMax: number;
    latenessP99Ms: number;
    latenessMaxMs: number;
    eventLoopDelayP99Ms: number;
    eventLoopDelayMaxMs: number;
    cpuPctOfOneCore: number;
    /** Peak RSS while scraped every second. */
    peakRssMb: number;
  };
  failures: number;
  violations: number;
  /**
   * The probe cycle's row only: the same bare loop, with its own simulator, measured over the same
   * minute as the daemon (atOncePlan), and the ratio to it; the minute's speed then moves both alike.
   */
  baselineAtOnce?: BaselineResult;
  ratioAtOnce?: number;
  baseline?: BaselineResult;
  ratioToBaseline?: number;
}

interface DiscoveryResult {
  keys: number;
  discovered: number;
  requestsPerCycle: number;
  requestsPerCycleIndividually: number;
  cpuMsPerCycle: number;
  cpuMsPerKey: number;
  cycleMs: number;
}

interface HourlyPrune {
  rows: number;
  steps: number;
  totalMs: number;
  maxBlockMs: number;
}

interface StartupResult {
  keys: number;
  days: number;
  storeMb: number;
  historyRows: number | 'cached';
  /** The run with the median spawnToMetricsMs (of `runs`). */
  spawnToListeningMs: number;
  spawnToMetricsMs: number;
  metricsBytes: number;
  /** The fewest keys a run's /metrics served. */
  keysServed: number;
  /** Every run, in order: a fresh process on a fresh copy of the store each time. */
  runs: { spawnToListeningMs: number; spawnToMetricsMs: number }[];
}

const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'keywatch-bench-'));
  const cache = join(tmpdir(), 'keywatch-bench-cache');
  const fleets: FleetResult[] = [];
  let probeCycle: FleetResult | undefined;
  let floor: FloorSummary | undefined;
  let discovery: DiscoveryResult | undefined;
  let storage: (StorageFigures & { hourlyPrune: Record<string, HourlyPrune> }) | undefined;
  let startup: StartupResult | undefined;
  let depth: (HistoryDepthFigures & { projectedCpuPctOfOneCore: Record<string, number> })[] | undefined;
  try {
    if (!args.skip.has('fleets')) for (const n of args.keys) fleets.push(await benchFleet(n, args, work, cache));
    if (!args.skip.has('probe-cycle')) probeCycle = await benchFleet(args.probeCycleKeys, args, work, cache, PROBE_CYCLE_WITHOUT);
    if (!args.skip.has('floor')) floor = await benchFloor(args, work);
    const biggest = Math.max(...args.keys);
    if (!args.skip.has('fleet')) discovery = await benchDiscovery(biggest, work);
    if (!args.skip.has('storage')) {
      log('storage: 200 keys x 2 days at 60 s through the real store, then pruning in steps');
      const s = measureStorage(work, { keys: 200, days: 2, intervalS: 60 });
      // The hourly job deletes an hour of raw rows per key, in steps of s.pruneStepRows with the
      // event loop free between them: the loop is held for one step at most.
      const hourlyPrune: Record<string, HourlyPrune> = {};
      for (const f of fleets) {
        const rows = Math.round((f.keys * 3600) / args.intervalS);
        hourlyPrune[String(f.keys)] = { rows, steps: Math.ceil(rows / s.pruneStepRows), totalMs: round((rows / 1000) * s.pruneMsPer1000Rows, 0), maxBlockMs: s.pruneStepMaxMs };
      }
      storage = { ...s, hourlyPrune };
    }
    if (!args.skip.has('storage')) {
      log('steady-state analysis cost: history() + analysis for a key with a week of runs');
      depth = [48, 2].map((rawRetentionH) => {
        const f = measureHistoryDepth(work, { intervalS: args.intervalS, rawRetentionH }, analyzeKey);
        const projectedCpuPctOfOneCore: Record<string, number> = {};
        for (const fl of fleets) {
          // Measured CPU per run, with the seeded store's history cost swapped for the steady-state
          // one on the runs that read it (the share the window measured: a key's history is read
          // once every defaults.analysisInterval, sooner when a run moved its figures).
          const seeded = measureHistoryDepthCached(work, args.intervalS);
          const perRunMs = fl.cpuMsPerRun + (f.historyMs + f.analyzeMs - seeded) * fl.historyReadsPerRun;
          projectedCpuPctOfOneCore[String(fl.keys)] = round((perRunMs * fl.keys) / args.intervalS / 10, 1);
        }
        return { ...f, projectedCpuPctOfOneCore };
      });
    }
    if (!args.skip.has('startup')) startup = await benchStartup(args, work, cache);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const result = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    args: { ...args, skip: [...args.skip] },
    /** node flags of the daemon's processes (BENCH_DAEMON_ARGS) and its heap policy (src/runtime.ts). */
    daemonNodeFlags: daemonFlags(),
    heapPolicy: heapPolicy(),
    fleets,
    probeCycle,
    floor,
    discovery,
    storage,
    steadyStateAnalysis: depth,
    startup,
  };
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(report([...fleets, ...(probeCycle !== undefined ? [probeCycle] : [])], discovery, storage, startup));
  if (floor !== undefined) {
    process.stdout.write(
      `floor (the least a run can do of the probe cycle's pieces: keywatch's client and JSON.parse, a raw row, the key's lines; ` +
        `at once with the bare loop, ${floor.keys} keys, ${floor.pairs.length} rounds): ${floor.floorMsPerRun} ms CPU/run against ${floor.bareMsPerRun}, ` +
        `${floor.ratio}x (rounds: ${floor.pairs.map((p) => `${p.floorMsPerRun}/${p.bareMsPerRun}`).join(', ')}), ${floor.failures} failed runs\n`,
    );
  }
  for (const d of depth ?? []) {
    process.stdout.write(
      `steady state, interval ${d.intervalS} s, rawRetention ${d.rawRetentionH}h: ${d.samples} history samples in a week, ` +
        `history() ${d.historyMs} ms + analysis ${d.analyzeMs} ms per whole week read (the whole week at most once an hour per key, ` +
        `the last 25 hours on the share of runs the fleet's window measured); projected CPU, the measured fleet with this store's week in place of the seeded one's ` +
        `${Object.entries(d.projectedCpuPctOfOneCore).map(([k, v]) => `${k} keys: ${v}% of a core`).join(', ')}\n`,
    );
  }
  process.stdout.write(`\nJSON: ${args.json}\n`);
}

/**
 * The floor (decompose.ts `bare floor --together`): what the least form of the probe cycle's pieces
 * costs against the bare loop, both at once, each with its own simulator, in a process of its own.
 */
async function benchFloor(args: Args, work: string): Promise<FloorSummary> {
  log(`${args.probeCycleKeys} keys: the floor and the bare loop at once, ${args.floorRounds} rounds of 30 s warm-up and ${args.seconds} s`);
  const json = join(work, 'floor.json');
  const script = fileURLToPath(new URL('./decompose.js', import.meta.url));
  const argv = ['bare', 'floor', '--together', '--rounds', String(args.floorRounds), '--keys', String(args.probeCycleKeys)];
  argv.push('--warmup', '30', '--seconds', String(args.seconds), '--json', json);
  await new Promise<void>((resolveExit, reject) => {
    const child = fork(script, argv, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.once('exit', (code) => (code === 0 ? resolveExit() : reject(new Error(`decompose exited ${code}`))));
  });
  return floorSummary(JSON.parse(readFileSync(json, 'utf8')) as DecomposeResult[]);
}

/** One fleet: the whole daemon, or (`without`) the daemon without those parts, with its baseline. */
async function benchFleet(n: number, args: Args, work: string, cache: string, without: readonly Part[] = []): Promise<FleetResult> {
  const intervalMs = args.intervalS * 1000;
  const rate = n / args.intervalS;
  const what = without.length > 0 ? ` (probe cycle: without ${without.join(', ')})` : '';
  log(`${n} keys every ${args.intervalS} s (${round(rate, 1)} key runs/s)${what}: preparing a store with a week of history`);
  const seeded = buildStartupStore(cache, { keys: n, days: 7, rawHours: 1, intervalS: args.intervalS, now: Date.now() });
  const storePath = join(work, `fleet-${n}.db`);
  workingCopy(seeded.file, storePath, intervalMs, Date.now());
  const sim = await forkSim(n);
  const configFile = join(work, `fleet-${n}.yaml`);
  // Two requests per key run; twice that as the cap leaves room for catching up after a stall.
  const cap = Math.max(50, Math.ceil(rate * 2 * 2));
  writeFileSync(configFile, benchConfigYaml({ simUrl: sim.url, storePath, keys: n, intervalS: args.intervalS, maxRequestsPerSecond: cap }));

  // The daemon runs in a process of its own (daemon-process.ts), as `keywatch run` would: its CPU
  // and memory are measured there, not mixed with what this process allocates.
  const daemon = await forkDaemon(configFile, without.length > 0 ? { BENCH_WITHOUT: without.join(',') } : {});
  // The probe cycle's bare loop at once with the daemon's window (its own simulator, started so that
  // its warm-up ends as the window opens), besides the one after it.
  const plan =
    without.length > 0 && !args.skip.has('baseline')
      ? atOncePlan({ keys: n, intervalS: args.intervalS, seconds: args.seconds, warmupS: args.warmupS, modelsIntervalS: benchModelsIntervalS(args.intervalS) })
      : undefined;
  const simAtOnce = plan !== undefined ? await forkSim(n) : undefined;
  let atOnce: Promise<BaselineResult> | undefined;
  try {
    log(`${n} keys: warm-up ${args.warmupS} s`);
    if (plan === undefined || simAtOnce === undefined) await sleep(args.warmupS * 1000);
    else {
      await sleep(plan.leadS * 1000);
      log(`${n} keys: the bare loop at once with the window: ${plan.warmupRuns} runs of warm-up, then ${plan.runs} runs at ${round(rate, 1)}/s (own process and simulator)`);
      atOnce = runBaselineProcess(loopOptions(simAtOnce.url, n, rate, plan.runs, plan.modelsShare, plan.warmupRuns));
      // Handled here too, so a failure while the window is measured is not an unhandled rejection.
      atOnce.catch(() => undefined);
      await sleep((args.warmupS - plan.leadS) * 1000);
    }

    // Phase A: probing only.
    await sim.reset();
    log(`${n} keys: measuring ${args.seconds} s`);
    await daemon.openWindow();
    await sleep(args.seconds * 1000);
    const a = await daemon.closeWindow();
    const simA = await sim.stats();
    const baselineAtOnce = atOnce !== undefined ? await atOnce : undefined;

    // Five scrapes at the end, one after another, as Prometheus gets them (the whole body over HTTP,
    // from the simulator's process): their time, and their memory counted as probing (a 60 s scrape
    // interval sees one of them a minute). One scrape before them is not counted: it is the first
    // this process and the scraper's ever make (cold code on both sides, 290-310 ms where the next
    // took 160-250), and a running daemon is scraped from its start. A process's first scrape is
    // what the start-up phase measures. All six are in scrapesMs, the uncounted one first.
    await daemon.openWindow();
    const scraped = await sim.scrapeTimes(`${daemon.url}/metrics`, 6);
    const counted = scraped.ms.slice(1);
    const metrics = {
      renderMs: round(percentile(counted, 50), 1),
      renderMsMax: round(Math.max(...counted), 1),
      scrapesMs: scraped.ms.map((ms) => round(ms, 1)),
      bytes: scraped.bytes,
      series: scraped.series,
    };
    const r = await daemon.closeWindow();

    // Phase B: scrape /metrics every second; does probing stay on time?
    log(`${n} keys: scraping /metrics every second for ${args.scrapeSeconds} s`);
    await daemon.openWindow();
    const { ms: scrapeMs } = await sim.scrape(`${daemon.url}/metrics`, args.scrapeSeconds);
    const b = await daemon.closeWindow();
    await daemon.close();

    const runs = a.runs;
    let baseline: BaselineResult | undefined;
    if (!args.skip.has('baseline')) {
      log(`${n} keys: baseline, 30 s of warm-up then ${runs} key runs at ${round(rate, 1)}/s with bare undici (own process)`);
      await sim.reset();
      // The same requests keywatch made: /key every run; /models/user on the same share of runs as
      // keywatch asked for it (defaults.modelsInterval skips it while the last list is fresh).
      const modelsPerRun = runs === 0 ? 0 : Math.min(1, (simA.byPath['/api/v1/models/user'] ?? 0) / runs);
      // Warmed up as keywatch is (30 s at the same pace), then measured over the same number of runs.
      baseline = await runBaselineProcess(loopOptions(sim.url, n, rate, runs, modelsPerRun, Math.round(rate * 30)));
    }
    const cpuMsPerRun = runs === 0 ? 0 : (a.cpuS / runs) * 1000;
    const atPeak = b.peakRssMb >= Math.max(a.peakRssMb, r.peakRssMb) ? b.memoryAtPeak : a.peakRssMb >= r.peakRssMb ? a.memoryAtPeak : r.memoryAtPeak;
    return {
      keys: n,
      without: [...without],
      intervalS: args.intervalS,
      equivalentKeysAt60s: Math.round((n * 60) / args.intervalS),
      targetRunsPerS: round(rate, 1),
      runsPerS: round(runs / a.wallS, 1),
      runs,
      requests: simA.requests,
      requestsPerRun: runs === 0 ? 0 : round(simA.requests / runs, 2),
      cpuS: round(a.cpuS, 2),
      systemS: a.systemS,
      cpuPctOfOneCore: round((a.cpuS / a.wallS) * 100, 1),
      cpuMsPerRun: round(cpuMsPerRun, 3),
      peakRssMb: b.lifetimeMaxRssMb,
      steadyPeakRssMb: Math.max(a.peakRssMb, r.peakRssMb),
      memoryAtPeak: atPeak,
      cpuByThread: a.cpuByThread,
      historyReadsPerRun: runs === 0 ? 0 : round(a.historyReads / runs, 3),
      samplesPerHistoryRead: a.historyReads === 0 ? 0 : round(a.historySamples / a.historyReads, 1),
      lateness: a.lateness,
      eventLoopDelay: a.loopDelay,
      metrics,
      scraping: {
        seconds: args.scrapeSeconds,
        scrapes: scrapeMs.length,
        scrapeMsP50: round(percentile(scrapeMs, 50), 1),
        scrapeMsMax: round(Math.max(...scrapeMs), 1),
        // Cumulative figures: the max covers phase B too; p99 mixes A and B.
        latenessP99Ms: b.lateness.p99Ms,
        latenessMaxMs: b.lateness.maxMs,
        eventLoopDelayP99Ms: b.loopDelay.p99Ms,
        eventLoopDelayMaxMs: b.loopDelay.maxMs,
        cpuPctOfOneCore: round((b.cpuS / b.wallS) * 100, 1),
        peakRssMb: b.peakRssMb,
      },
      failures: a.failures,
      violations: simA.violations,
      ...(baseline !== undefined ? { baseline, ratioToBaseline: round(cpuMsPerRun / baseline.cpuPerRunMs, 2) } : {}),
      ...(baselineAtOnce !== undefined ? { baselineAtOnce, ratioAtOnce: round(cpuMsPerRun / baselineAtOnce.cpuPerRunMs, 2) } : {}),
    };
  } finally {
    await daemon.close().catch(() => undefined);
    await sim.close();
    await simAtOnce?.close();
  }
}

/**
 * The bare loop's options, after the window or at once with it: the requests keywatch makes for an
 * OpenRouter key run (/key every run, /models/user on `modelsShare` of them), at its concurrency,
 * started on the same ticks as keywatch's scheduler starts its runs.
 */
function loopOptions(url: string, keys: number, rate: number, runs: number, modelsShare: number, warmupRuns: number): BaselineOptions {
  return { url, keys, runs, rate, concurrency: 16, paths: ['/key'], occasional: { path: '/models/user', share: modelsShare }, warmupRuns, tickMs: TICK_MS };
}

let seededCost: number | undefined;
/** history() + analysis per run on the seeded fleet stores (7 days of rollups, 1 h of raw): with eager rollups, the same reads as steady state. */
function measureHistoryDepthCached(work: string, intervalS: number): number {
  if (seededCost === undefined) {
    const f = measureHistoryDepth(work, { intervalS, rawRetentionH: 1 }, analyzeKey);
    seededCost = f.historyMs + f.analyzeMs;
  }
  return seededCost;
}

/** One account (management key) instead of N configured keys: requests and CPU per cycle. */
async function benchDiscovery(n: number, work: string): Promise<DiscoveryResult> {
  log(`fleet discovery: ${n} keys through one management key`);
  const sim = await forkSim(n);
  const storePath = join(work, 'discovery.db');
  const configFile = join(work, 'discovery.yaml');
  writeFileSync(configFile, benchConfigYaml({ simUrl: sim.url, storePath, keys: n, intervalS: 60, maxRequestsPerSecond: 50, account: true }));
  const daemon = await startDaemon({ configFile, registry, log: silentLogger(), listen: '127.0.0.1:0', watchConfig: false, schedule: false, ...wiring() });
  try {
    await daemon.runOnce(); // warm-up: the first cycle also creates every key's state
    await sim.reset();
    const cycles = 3;
    const cpu = cpuWindow();
    for (let i = 0; i < cycles; i++) await daemon.runOnce();
    const { cpuS, wallS } = cpu.stop();
    const s = await sim.stats();
    return {
      keys: n,
      discovered: daemon.states.size,
      requestsPerCycle: round(s.requests / cycles, 1),
      requestsPerCycleIndividually: n * 2,
      cpuMsPerCycle: round((cpuS / cycles) * 1000, 1),
      cpuMsPerKey: round(((cpuS / cycles) * 1000) / Math.max(1, daemon.states.size), 4),
      cycleMs: round((wallS / cycles) * 1000, 0),
    };
  } finally {
    await daemon.stop();
    await sim.close();
  }
}

/**
 * Spawn -> listening -> first complete /metrics, on a store with `days` of history for N keys:
 * `startupRuns` times (a fresh process on a fresh copy of the store each time), the median
 * reported. One run is a poor estimate on this VM: the same code measured 1.4-2.7 s.
 */
async function benchStartup(args: Args, work: string, cache: string): Promise<StartupResult> {
  const n = args.startupKeys;
  log(`start-up: building (or reusing) a store with ${args.startupDays} days of history for ${n} keys`);
  const built = buildStartupStore(cache, { keys: n, days: args.startupDays, rawHours: 48, intervalS: 300, now: Date.now() });
  const storePath = join(work, 'startup.db');
  const sim = await forkSim(n);
  const configFile = join(work, 'startup.yaml');
  writeFileSync(configFile, benchConfigYaml({ simUrl: sim.url, storePath, keys: n, intervalS: 300, maxRequestsPerSecond: 200 }));
  const runs: StartupRun[] = [];
  let storeMb = 0;
  try {
    for (let i = 0; i < Math.max(1, args.startupRuns); i++) {
      workingCopy(built.file, storePath, 300_000, Date.now());
      storeMb = round(statSync(storePath).size / 1048576, 0);
      log(`start-up: store ${storeMb} MB; spawning keywatch (run ${i + 1} of ${args.startupRuns})`);
      runs.push(await startOnce(configFile));
    }
  } finally {
    await sim.close();
  }
  const median = percentile(
    runs.map((r) => r.spawnToMetricsMs),
    50,
  );
  const mid = runs.find((r) => r.spawnToMetricsMs === median)!;
  return {
    keys: n,
    days: args.startupDays,
    storeMb,
    historyRows: built.cached ? 'cached' : built.rows,
    spawnToListeningMs: mid.spawnToListeningMs,
    spawnToMetricsMs: mid.spawnToMetricsMs,
    metricsBytes: mid.metricsBytes,
    keysServed: Math.min(...runs.map((r) => r.keysServed)),
    runs: runs.map((r) => ({ spawnToListeningMs: r.spawnToListeningMs, spawnToMetricsMs: r.spawnToMetricsMs })),
  };
}

/** One start-up's times, and what its first /metrics held. */
type StartupRun = StartupResult['runs'][number] & { metricsBytes: number; keysServed: number };

/** One start-up: spawn the daemon on the config, time listening and the first complete /metrics. */
async function startOnce(configFile: string): Promise<StartupRun> {
  const script = fileURLToPath(new URL('./startup-process.js', import.meta.url));
  const t0 = performance.now();
  const child = fork(script, [], { env: { ...process.env, BENCH_CONFIG: configFile }, execArgv: daemonFlags(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const msg = await new Promise<{ url: string; keys: number }>((res, rej) => {
      child.once('message', (m) => res(m as { url: string; keys: number }));
      child.once('exit', (code) => rej(new Error(`start-up process exited (${code})`)));
    });
    const listening = performance.now() - t0;
    const scraped = await scrapeOnce(`${msg.url}/metrics`);
    const served = performance.now() - t0;
    const text = scraped.body().toString('utf8');
    return {
      spawnToListeningMs: round(listening, 0),
      spawnToMetricsMs: round(served, 0),
      metricsBytes: Buffer.byteLength(text),
      keysServed: text.split('\n').filter((l) => l.startsWith('keywatch_key_info{')).length,
    };
  } finally {
    if (child.connected) child.disconnect();
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
  }
}

function report(fleets: FleetResult[], d?: DiscoveryResult, s?: StorageFigures & { hourlyPrune: Record<string, HourlyPrune> }, st?: StartupResult): string {
  const out: string[] = [];
  const cols = ['keys', 'interval', 'runs/s', 'CPU ms/run', 'CPU % core', 'RSS MB probing (peak)', 'late p99 ms', 'late max ms', '/metrics ms', '/metrics KB', 'baseline ms/run', 'ratio'];
  const rows = fleets.map((f) => [
    label(f),
    `${f.intervalS}s`,
    `${f.runsPerS}/${f.targetRunsPerS}`,
    String(f.cpuMsPerRun),
    String(f.cpuPctOfOneCore),
    `${f.steadyPeakRssMb} (${f.peakRssMb})`,
    String(f.lateness.p99Ms),
    String(f.lateness.maxMs),
    String(f.metrics.renderMs),
    String(Math.round(f.metrics.bytes / 1024)),
    f.baseline ? String(round(f.baseline.cpuPerRunMs, 3)) : '-',
    f.ratioToBaseline !== undefined ? `${f.ratioToBaseline}x` : '-',
  ]);
  out.push(table(cols, rows));
  for (const f of fleets) {
    out.push(
      `${label(f)} keys: ${f.runs} runs, ${f.requestsPerRun} requests/run, ${f.historyReadsPerRun} history reads/run (${f.samplesPerHistoryRead} samples each), ${f.failures} failed runs, ${f.violations} read-only violations; ` +
        `event-loop delay p99 ${f.eventLoopDelay.p99Ms} ms (max ${f.eventLoopDelay.maxMs}); ` +
        `while scraping every 1 s: scrape p50 ${f.scraping.scrapeMsP50} ms (max ${f.scraping.scrapeMsMax}), lateness max ${f.scraping.latenessMaxMs} ms, loop delay max ${f.scraping.eventLoopDelayMaxMs} ms, CPU ${f.scraping.cpuPctOfOneCore}%, RSS peak ${f.scraping.peakRssMb} MB; ` +
        `/metrics ${f.metrics.series} series; memory at the RSS peak (MB): ${JSON.stringify(f.memoryAtPeak)}; CPU s by thread while probing: ${JSON.stringify(f.cpuByThread)} (${f.systemS} s of ${f.cpuS} in the kernel${f.baseline ? `; baseline ${round(f.baseline.systemS, 2)} s of ${round(f.baseline.cpuS, 2)}` : ''})`,
    );
    if (f.baselineAtOnce !== undefined) {
      out.push(
        `${label(f)} keys, the bare loop at once with the window (own process and simulator): ${round(f.baselineAtOnce.cpuPerRunMs, 3)} ms CPU/run over ${f.baselineAtOnce.runs} runs ` +
          `(${round(f.baselineAtOnce.systemS, 2)} s of ${round(f.baselineAtOnce.cpuS, 2)} in the kernel), ${f.baselineAtOnce.failures} failed; ratio at once ${f.ratioAtOnce}x`,
      );
    }
  }
  if (d !== undefined) {
    out.push(
      `fleet discovery: ${d.discovered} keys, ${d.requestsPerCycle} requests/cycle (vs ${d.requestsPerCycleIndividually} configured one by one), ` +
        `${d.cpuMsPerCycle} ms CPU/cycle (${d.cpuMsPerKey} ms/key), cycle ${d.cycleMs} ms`,
    );
  }
  if (s !== undefined) {
    out.push(
      `store: ${s.rollupBytesPerKeyDay} B/key/day after rollups (file ${s.fileBytesPerKeyDay}); raw ${s.rawBytesPerRun} B/run; ` +
        `write ${s.writeUsPerRun} µs CPU/run (raw row + eager rollup) in ${s.flushes} batched transactions; prune ${s.pruneMsPer1000Rows} ms/1000 rows, ` +
        `steps sized toward 20 ms (up to ${s.pruneStepRows} rows), the longest ${s.pruneStepMaxMs} ms ` +
        `(hourly job at ${Object.entries(s.hourlyPrune).map(([k, v]) => `${k} keys: ${v.rows} rows, ${v.steps} steps, ${v.totalMs} ms in all`).join('; ')})`,
    );
  }
  if (st !== undefined) {
    out.push(
      `start-up: ${st.keys} keys, ${st.days} days of history (${st.storeMb} MB store), median of ${st.runs.length} runs: listening after ${st.spawnToListeningMs} ms, ` +
        `/metrics (${st.keysServed} keys, ${Math.round(st.metricsBytes / 1024)} KB) after ${st.spawnToMetricsMs} ms from spawn ` +
        `(every run: ${st.runs.map((r) => `${r.spawnToMetricsMs}`).join(', ')} ms)`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** A fleet's name in the table: its keys, and `probe cycle` for the daemon without judging. */
function label(f: FleetResult): string {
  return f.without.length > 0 ? `${f.keys} probe cycle` : String(f.keys);
}

function table(cols: string[], rows: string[][]): string {
  const w = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(w[i] ?? 0)).join(' | ')} |`;
  return [line(cols), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
