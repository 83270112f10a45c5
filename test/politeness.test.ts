/**
 * Politeness: however many keys fall due at once, one provider never sees more than its request-rate
 * cap (plus the one-second burst the limiter allows). Counted where it matters: at the provider
 * (the simulator records the arrival time of every request).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedKey } from '../src/config/load.js';
import { HttpClient } from '../src/http/client.js';
import { runKey } from '../src/runner.js';
import { createScheduler, type Job } from '../src/scheduler.js';
import { Secret } from '../src/secret.js';
import { openrouter } from '../providers/openrouter/index.js';
import { startOpenRouterSim, type OpenRouterSim, type SimKey } from '../providers/openrouter/sim.js';

const KEYS = 500;
const registry = new Map([[openrouter.id, openrouter]]);

function fakeKey(i: number): string {
  return `sk-or-v1-test-polite-${String(i).padStart(5, '0')}`;
}

let sim: OpenRouterSim;
const http = new HttpClient({ connectionsPerOrigin: 32 });

beforeAll(async () => {
  const keys: SimKey[] = Array.from({ length: KEYS }, (_, i) => ({ key: fakeKey(i), limit: 10, usage: 1 }));
  sim = await startOpenRouterSim({ keys, maxRecorded: 100_000 });
});
afterAll(async () => {
  await sim.close();
  await http.close();
});

function jobsFor(count: number, target: OpenRouterSim = sim, adminKey?: string): Job[] {
  return Array.from({ length: count }, (_, i): Job => {
    const key: ResolvedKey = {
      name: `polite-${i}`,
      provider: 'openrouter',
      key: new Secret(fakeKey(i)),
      ...(adminKey !== undefined ? { adminKey: new Secret(adminKey) } : {}),
      baseUrl: target.url,
      intervalMs: 3_600_000,
      timeoutMs: 5000,
      labels: {},
      watchModels: [],
      thresholds: {},
    };
    return {
      id: key.name,
      provider: 'openrouter',
      intervalMs: key.intervalMs,
      run: async (ctx) => {
        const r = await runKey({ key }, { registry, http, acquire: ctx.acquire });
        return { failed: r.allFailed };
      },
    };
  });
}

/** Largest number of arrivals inside any window of `windowMs` (sliding, anchored at each arrival). */
function maxInWindow(times: readonly number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while ((t[hi] as number) - (t[lo] as number) >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('per-provider request-rate cap under a burst', () => {
  // Each OpenRouter key run without a management key makes 2 requests (/key, /models/user).
  it.each([
    { keys: 60, cap: 40 },
    { keys: 500, cap: 250 },
  ])('$keys keys due at once, cap $cap req/s', async ({ keys, cap }) => {
    sim.server.reset();
    const scheduler = createScheduler({ jitter: 0, limits: () => ({ concurrency: 64, maxRequestsPerSecond: cap }) });
    scheduler.set(jobsFor(keys));

    await scheduler.runOnce();

    const times = sim.server.requests.map((r) => r.at);
    const total = keys * 2;
    expect(times).toHaveLength(total);
    expect(sim.server.violations).toEqual([]);
    // GCRA: a burst of `cap` tokens, then `cap` per second. So at most 2*cap in any one second
    // (the burst plus the refill); a few extra for arrivals bunched by loopback scheduling.
    const slack = Math.ceil(cap * 0.05) + 2;
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(2 * cap + slack);
    // Over 2 s: burst + 2 s of refill; well below what 64 concurrent runs could send unthrottled.
    expect(maxInWindow(times, 2000)).toBeLessThanOrEqual(3 * cap + slack);
    // And it took as long as the cap demands: (total - burst) / cap seconds at least.
    const spanMs = Math.max(...times) - Math.min(...times);
    expect(spanMs).toBeGreaterThanOrEqual(((total - cap) / cap) * 1000 * 0.9);
    await scheduler.stop();
  });

  it('without a cap the same burst arrives far faster (the test can tell the difference)', async () => {
    sim.server.reset();
    const scheduler = createScheduler({ jitter: 0, limits: () => ({ concurrency: 64, maxRequestsPerSecond: 1e6 }) });
    scheduler.set(jobsFor(100));

    await scheduler.runOnce();

    expect(maxInWindow(sim.server.requests.map((r) => r.at), 1000)).toBeGreaterThan(2 * 50 + 10);
    await scheduler.stop();
  });

  // Was a known bug (the runner took one token per probe, not per request); fixed in src/runner.ts,
  // which now acquires before every request.
  it('counts every request, not every probe: a probe that makes two requests takes two tokens', async () => {
    // An adminKey that is an ordinary key, on a deployment whose /credits answers {0,0} to it: the
    // balance probe must confirm with a second request (/key), so each key run makes 4 requests.
    const trap = await startOpenRouterSim({
      keys: Array.from({ length: 50 }, (_, i) => ({ key: fakeKey(i), limit: 10, usage: 1 })),
      creditsTrap: 'zeros',
    });
    const cap = 50;
    const scheduler = createScheduler({ jitter: 0, limits: () => ({ concurrency: 64, maxRequestsPerSecond: cap }) });
    scheduler.set(jobsFor(50, trap, fakeKey(0)));

    await scheduler.runOnce();

    const times = trap.server.requests.map((r) => r.at);
    await scheduler.stop();
    await trap.close();
    expect(times).toHaveLength(200);
    const slack = Math.ceil(cap * 0.05) + 2;
    expect(maxInWindow(times, 2000)).toBeLessThanOrEqual(3 * cap + slack);
    const spanMs = Math.max(...times) - Math.min(...times);
    expect(spanMs).toBeGreaterThanOrEqual(((200 - cap) / cap) * 1000 * 0.9);
  });
});
