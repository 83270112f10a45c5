/**
 * The bench's yardstick (bench/baseline.ts): the warm-up runs are made but not counted, so the
 * measured figures cover exactly the runs asked for (an unwarmed loop spread its start-up cost over
 * them and flattered every ratio).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { atOncePlan, runBaseline } from '../bench/baseline.js';
import { benchConfigYaml, benchModelsIntervalS } from '../bench/daemon-config.js';
import { parseConfig } from '../src/config/load.js';
import { benchSimKeys } from '../bench/keys.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';

let sim: OpenRouterSim | undefined;

afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('baseline loop', () => {
  it('makes its warm-up runs first and measures only the runs asked for', async () => {
    sim = await startOpenRouterSim({ keys: benchSimKeys(4) });

    const r = await runBaseline({ url: sim.url, keys: 4, runs: 20, rate: 1000, concurrency: 4, paths: ['/key'], warmupRuns: 12 });

    const keyRequests = sim.server.requests.filter((q) => q.path.endsWith('/key')).length;
    expect(keyRequests).toBe(32);
    expect(r).toMatchObject({ runs: 20, requests: 20, failures: 0 });
    expect(r.cpuPerRunMs).toBeCloseTo((r.cpuS / 20) * 1000, 6);
  });

  it('with tickMs, starts its runs on ticks, as the scheduler of keywatch does', async () => {
    sim = await startOpenRouterSim({ keys: benchSimKeys(4) });

    // 30 runs at 100/s: due over 290 ms, started on 100 ms ticks (0, 100, 200, 300 ms).
    const r = await runBaseline({ url: sim.url, keys: 4, runs: 30, rate: 100, concurrency: 30, paths: ['/key'], tickMs: 100 });

    expect(r).toMatchObject({ runs: 30, requests: 30, failures: 0 });
    const groups: number[] = [];
    for (const t of sim.server.requests.map((q) => q.at).sort((a, b) => a - b)) if (groups.length === 0 || t - groups.at(-1)! > 50) groups.push(t);
    expect(groups.length).toBe(4);
  });

  it('without a warm-up measures every run it makes', async () => {
    sim = await startOpenRouterSim({ keys: benchSimKeys(4) });

    const r = await runBaseline({ url: sim.url, keys: 4, runs: 10, rate: 1000, concurrency: 2, paths: ['/key'], occasional: { path: '/models/user', share: 0.5 } });

    expect(sim.server.requests.length).toBe(15);
    expect(r).toMatchObject({ runs: 10, requests: 15, failures: 0 });
  });
});

describe('the probe cycle\'s bare loop at once with the window (atOncePlan)', () => {
  it('warms up for the end of the daemon\'s warm-up and measures as many runs as the window holds', () => {
    const o = { keys: 10_000, intervalS: 60, seconds: 60, warmupS: 125, modelsIntervalS: 900 };
    const plan = atOncePlan(o);
    const rate = o.keys / o.intervalS;

    expect(plan).toMatchObject({ leadS: 95, warmupRuns: 5000, runs: 10_000 });
    // Its warm-up ends as the window opens, its measured runs last as long as the window.
    expect(plan.leadS + plan.warmupRuns / rate).toBeCloseTo(o.warmupS, 6);
    expect(plan.runs / rate).toBeCloseTo(o.seconds, 6);
  });

  it('with a warm-up under 30 s, warms up for all of it', () => {
    const plan = atOncePlan({ keys: 200, intervalS: 10, seconds: 20, warmupS: 12, modelsIntervalS: 900 });
    expect(plan).toMatchObject({ leadS: 0, warmupRuns: 240, runs: 400 });
  });

  it('asks for the model list as often as the bench\'s daemon does (once a modelsInterval)', () => {
    const cfg = parseConfig(benchConfigYaml({ simUrl: 'http://127.0.0.1:1/api/v1', storePath: ':memory:', keys: 3, intervalS: 60, maxRequestsPerSecond: 50 }));
    const modelsIntervalS = benchModelsIntervalS(60);
    // What the bench gives the plan is what its daemon's keys run with.
    for (const k of cfg.keys) expect(k.modelsIntervalMs).toBe(modelsIntervalS * 1000);
    for (const intervalS of [6, 60, 900, 3600]) {
      expect(atOncePlan({ keys: 10, intervalS, seconds: 60, warmupS: 125, modelsIntervalS }).modelsShare).toBeCloseTo(Math.min(1, intervalS / modelsIntervalS), 9);
    }
  });
});
