/**
 * The yardstick: a bare undici loop making the same requests keywatch makes for an OpenRouter key
 * run (GET /key, then GET /models/user, with the key as bearer), to the same simulator, at the same
 * rate, with the same concurrency, the same number of times. No parsing, no store, no metrics:
 * what is left is the irreducible cost of the HTTP itself, so keywatch's CPU per key run divided by
 * this one is the overhead keywatch adds.
 */
import { Agent, request } from 'undici';
import { flagList } from './child.js';
import { cpuWindow } from './measure.js';
import { benchKeyValue } from './keys.js';

export interface BaselineOptions {
  /** Base URL including /api/v1. */
  url: string;
  keys: number;
  /** Key runs to make in total. */
  runs: number;
  /** Key runs started per second (the same pacing keywatch's schedule gives). */
  rate: number;
  concurrency: number;
  /** Paths per key run, in order. */
  paths: readonly string[];
  /** A path requested after `paths` on this share of the runs, spread evenly (keywatch's models probe every modelsInterval). */
  occasional?: { path: string; share: number };
  /**
   * Key runs made first, at the same pace, and not measured: keywatch is measured after a warm-up,
   * so the loop is too (its connections opened and its code optimized). Unwarmed, the fixed start-up
   * cost (~0.5 s of CPU) was spread over the measured runs: 0.35-0.40 ms per run over 5,000 runs,
   * 0.25 ms over 10,000.
   */
  warmupRuns?: number;
  /**
   * Runs start on ticks this many ms apart, each tick starting every run due by then: the pacing of
   * keywatch's scheduler (its timer slack, src/daemon.ts TICK_MS), so both make the same requests at
   * the same moments. 0 (the default) starts each run at its own due time.
   */
  tickMs?: number;
}

export interface BaselineResult {
  runs: number;
  requests: number;
  failures: number;
  cpuS: number;
  systemS: number;
  wallS: number;
  cpuPerRunMs: number;
}

/** Runs the baseline in a forked process (baseline-process.ts) and returns its figures. */
export async function runBaselineProcess(o: BaselineOptions): Promise<BaselineResult> {
  const { fork } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  // BENCH_BASELINE_ARGS: node flags for the loop's process (none by default: a loop as anyone would run it).
  const execArgv = flagList(process.env.BENCH_BASELINE_ARGS);
  const child = fork(fileURLToPath(new URL('./baseline-process.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { result: BaselineResult }) => resolve(m.result));
    child.once('exit', (code) => reject(new Error(`baseline process exited (${code}) without a result`)));
    child.send(o);
  });
}

export async function runBaseline(o: BaselineOptions): Promise<BaselineResult> {
  const agent = new Agent({ connections: o.concurrency, keepAliveTimeout: 30_000, pipelining: 1 });
  let requests = 0;
  let failures = 0;
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    while (inFlight >= o.concurrency) await new Promise<void>((r) => waiters.push(r));
    inFlight++;
  };
  const release = (): void => {
    inFlight--;
    waiters.shift()?.();
  };

  const oneRun = async (i: number): Promise<void> => {
    const auth = `Bearer ${benchKeyValue(i % o.keys)}`;
    try {
      const occasional = o.occasional !== undefined && Math.floor((i + 1) * o.occasional.share) > Math.floor(i * o.occasional.share);
      for (const path of occasional ? [...o.paths, o.occasional!.path] : o.paths) {
        requests++;
        const res = await request(`${o.url}${path}`, {
          method: 'GET',
          dispatcher: agent,
          headers: { authorization: auth, accept: 'application/json', 'user-agent': 'keywatch-bench-baseline' },
        });
        await res.body.text();
        if (res.statusCode !== 200) failures++;
      }
    } catch {
      failures++;
    } finally {
      release();
    }
  };

  const pace = async (from: number, count: number): Promise<void> => {
    const t0 = performance.now();
    const all: Promise<void>[] = [];
    const tick = o.tickMs ?? 0;
    for (let i = 0; i < count; i++) {
      const offset = (i * 1000) / o.rate;
      const due = t0 + (tick > 0 ? Math.ceil(offset / tick) * tick : offset);
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      await slot();
      all.push(oneRun(from + i));
    }
    await Promise.all(all);
  };

  const warmup = o.warmupRuns ?? 0;
  if (warmup > 0) {
    await pace(0, warmup);
    requests = 0;
    failures = 0;
  }
  const cpu = cpuWindow();
  await pace(warmup, o.runs);
  const { cpuS, wallS, systemS } = cpu.stop();
  await agent.close();
  return { runs: o.runs, requests, failures, cpuS, systemS, wallS, cpuPerRunMs: (cpuS / o.runs) * 1000 };
}

/**
 * When and how much the at-once bare loop runs: started `leadS` into the daemon's warm-up, it warms
 * up for the last `warmupRuns` of it (30 s at the fleet's rate, or the whole warm-up if shorter),
 * then makes as many runs as the window's length at that rate, so its measured runs fall in the
 * window. It asks for the model list on the share of runs the daemon does (once a modelsInterval).
 */
export function atOncePlan(o: { keys: number; intervalS: number; seconds: number; warmupS: number; modelsIntervalS: number }): {
  leadS: number;
  warmupRuns: number;
  runs: number;
  modelsShare: number;
} {
  const rate = o.keys / o.intervalS;
  const warmS = Math.min(30, o.warmupS);
  return {
    leadS: o.warmupS - warmS,
    warmupRuns: Math.round(rate * warmS),
    runs: Math.max(1, Math.round(rate * o.seconds)),
    modelsShare: Math.min(1, o.intervalS / o.modelsIntervalS),
  };
}
