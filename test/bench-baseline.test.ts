/**
 * The bench's yardstick (bench/baseline.ts): the warm-up runs are made but not counted, so the
 * measured figures cover exactly the runs asked for (an unwarmed loop spread its start-up cost over
 * them and flattered every ratio).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runBaseline } from '../bench/baseline.js';
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
