import { afterEach, describe, expect, it } from 'vitest';
import { createRateLimiter, createScheduler, MinHeap, type Job, type Scheduler } from '../src/scheduler.js';
import { startFakeServer } from '../src/sim/fake-server.js';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic [0,1) numbers so spread assertions cannot flake. */
function seeded(seed = 42): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) % 2 ** 32;
    return s / 2 ** 32;
  };
}

function job(id: string, over: Partial<Job> = {}): Job {
  return { id, provider: 'p', intervalMs: 60_000, run: async () => ({ failed: false }), ...over };
}

let sched: Scheduler | undefined;
afterEach(async () => {
  await sched?.stop(1000);
  sched = undefined;
});

describe('scheduler', () => {
  it('spreads first runs over the interval (jitter) instead of firing them together', () => {
    sched = createScheduler({ now: () => T0, jitter: 1, random: seeded() });

    sched.set(Array.from({ length: 1000 }, (_, i) => job(`k${i}`)));
    const buckets = new Array(10).fill(0) as number[];
    for (let i = 0; i < 1000; i++) buckets[Math.floor((sched.nextDue(`k${i}`)! - T0) / 6000)]!++;

    // Every tenth of the minute gets a share; no second gets them all.
    for (const b of buckets) expect(b).toBeGreaterThan(60);
    for (const b of buckets) expect(b).toBeLessThan(140);
  });

  it('starts everything at once with jitter 0, and keeps the cadence of a restarted key', () => {
    sched = createScheduler({ now: () => T0, jitter: 0 });

    sched.set([job('a'), job('b', { lastRunAt: T0 - 20_000 })]);

    expect(sched.nextDue('a')).toBe(T0);
    expect(sched.nextDue('b')).toBe(T0 + 40_000);
  });

  it('computes due times of a croner schedule', () => {
    sched = createScheduler({ now: () => T0, jitter: 0 });

    sched.set([job('c', { schedule: '*/10 * * * * *' })]);

    expect(sched.nextDue('c')).toBe(T0 + 7000);
  });

  it('runOnce runs every job and resolves when all have finished', async () => {
    sched = createScheduler({ jitter: 0 });
    const done: string[] = [];
    sched.set(['a', 'b', 'c'].map((id) => job(id, { run: async () => (await sleep(20), done.push(id), { failed: false }) })));

    await sched.runOnce();

    expect(done.sort()).toEqual(['a', 'b', 'c']);
    expect(sched.stats()).toMatchObject({ runs: 3, running: 0, queued: 0 });
  });

  it('caps concurrency per provider, independently for each provider', async () => {
    const live: Record<string, number> = { a: 0, b: 0 };
    let bothAtOnce = 0;
    const work = (p: string) => async () => {
      live[p]!++;
      bothAtOnce = Math.max(bothAtOnce, live.a! + live.b!);
      await sleep(15);
      live[p]!--;
      return { failed: false };
    };
    sched = createScheduler({ jitter: 0, limits: (p) => ({ concurrency: p === 'a' ? 3 : 2, maxRequestsPerSecond: 1000 }) });
    sched.set([
      ...Array.from({ length: 12 }, (_, i) => job(`a${i}`, { provider: 'a', run: work('a') })),
      ...Array.from({ length: 8 }, (_, i) => job(`b${i}`, { provider: 'b', run: work('b') })),
    ]);

    await sched.runOnce();

    expect(sched.stats().peakConcurrency).toEqual({ a: 3, b: 2 });
    expect(bothAtOnce).toBe(5);
    expect(sched.stats().runs).toBe(20);
  });

  it('the rate limiter allows one second of burst, then one request per 1/rate seconds', async () => {
    let t = 0;
    const limiter = createRateLimiter(10, { now: () => t, sleep: async (ms) => void (t += ms) });
    const at: number[] = [];

    for (let i = 0; i < 25; i++) {
      await limiter.acquire();
      at.push(t);
    }

    expect(at.slice(0, 10)).toEqual(new Array(10).fill(0));
    expect(at.slice(10)).toEqual(Array.from({ length: 15 }, (_, i) => (i + 1) * 100));
  });

  it('caps the request rate to a provider across all its keys', async () => {
    const fake = await startFakeServer({ '/x': () => ({ body: {} }) });
    const granted: number[] = [];
    sched = createScheduler({ jitter: 0, limits: () => ({ concurrency: 100, maxRequestsPerSecond: 20 }) });
    sched.set(
      Array.from({ length: 30 }, (_, i) =>
        job(`k${i}`, {
          run: async ({ acquire }) => {
            await acquire();
            granted.push(Date.now());
            await fetch(`${fake.url}/x`);
            return { failed: false };
          },
        }),
      ),
    );
    const t0 = Date.now();

    await sched.runOnce();
    await fake.close();

    // One second of burst (20), then one grant per 50 ms: grant i (0-based) comes no sooner than
    // (i - 19) * 50 ms after the start. A loaded machine can only make grants later, never sooner.
    expect(fake.requests).toHaveLength(30);
    granted.sort((a, b) => a - b);
    granted.forEach((at, i) => expect(at - t0).toBeGreaterThanOrEqual(Math.max(0, (i - 19) * 50) - 2));
    expect(granted[29]! - t0).toBeGreaterThanOrEqual(498);
  });

  it('never overlaps two runs of one key, even when a run outlasts the interval', async () => {
    let live = 0;
    let peak = 0;
    let runs = 0;
    sched = createScheduler({ jitter: 0 });
    sched.set([
      job('slow', {
        intervalMs: 10,
        run: async () => {
          live++;
          peak = Math.max(peak, live);
          await sleep(60);
          live--;
          runs++;
          return { failed: false };
        },
      }),
    ]);

    sched.start();
    const extra = sched.runOnce(); // a manual run on top of the timer's must wait its turn
    await sleep(250);
    await extra;

    expect(peak).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(3);
  });

  it('after a 429 waits at least as long as Retry-After asked', async () => {
    const t = T0;
    sched = createScheduler({ now: () => t, jitter: 0 });
    sched.set([job('k', { intervalMs: 5000, run: async () => ({ failed: true, retryAfterMs: 30_000 }) })]);

    await sched.runOnce();

    expect(sched.nextDue('k')).toBe(T0 + 30_000);
  });

  it('backs off exponentially after consecutive failures, capped, and recovers on success', async () => {
    const t = T0;
    let fail = true;
    sched = createScheduler({ now: () => t, jitter: 0, maxBackoffMs: 5000 });
    sched.set([job('k', { intervalMs: 1000, run: async () => ({ failed: fail }) })]);
    const delays: number[] = [];

    for (let i = 0; i < 5; i++) {
      await sched.runOnce();
      delays.push(sched.nextDue('k')! - t);
    }
    fail = false;
    await sched.runOnce();
    delays.push(sched.nextDue('k')! - t);

    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000, 1000]);
  });

  it('runs jobs on the timer, reports lateness, and honours set() changes', async () => {
    const counts = new Map<string, number>();
    const counting = (id: string) => async () => (counts.set(id, (counts.get(id) ?? 0) + 1), { failed: false });
    sched = createScheduler({ jitter: 1 });
    sched.set(Array.from({ length: 50 }, (_, i) => job(`k${i}`, { intervalMs: 100, run: counting(`k${i}`) })));

    sched.start();
    await sleep(350);
    sched.set([job('k0', { intervalMs: 100, run: counting('k0') }), job('new', { intervalMs: 100, run: counting('new') })]);
    const removedBefore = counts.get('k1') ?? 0;
    await sleep(300);

    for (let i = 0; i < 50; i++) expect(counts.get(`k${i}`) ?? 0).toBeGreaterThanOrEqual(2);
    expect(counts.get('k1')).toBe(removedBefore);
    expect(counts.get('new') ?? 0).toBeGreaterThanOrEqual(1);
    const stats = sched.stats();
    expect(stats.jobs).toBe(2);
    expect(stats.lateness.count).toBeGreaterThan(100);
    expect(stats.lateness.maxMs).toBeGreaterThanOrEqual(stats.lateness.p50Ms);
  });

  it('with tickMs, wakes at most once a tick and starts every run due by then together', async () => {
    const startsWith = async (tickMs: number | undefined): Promise<{ starts: number[]; maxLateMs: number }> => {
      const starts: number[] = [];
      sched = createScheduler({ jitter: 1, random: seeded(), ...(tickMs !== undefined ? { tickMs } : {}) });
      sched.set(Array.from({ length: 40 }, (_, i) => job(`k${i}`, { intervalMs: 1000, run: async () => (starts.push(Date.now()), { failed: false }) })));
      sched.start();
      await sleep(1100);
      const maxLateMs = sched.stats().lateness.maxMs;
      await sched.stop(1000);
      return { starts, maxLateMs };
    };

    const coalesced = await startsWith(200);
    // One wake-up's runs start within a few ms of each other (the clock can tick while it starts them).
    const wakeUps: number[] = [];
    for (const t of [...coalesced.starts].sort((a, b) => a - b)) if (wakeUps.length === 0 || t - wakeUps.at(-1)! > 50) wakeUps.push(t);
    expect(coalesced.starts.length).toBeGreaterThanOrEqual(40);
    expect(wakeUps.length).toBeLessThanOrEqual(8);
    for (let i = 1; i < wakeUps.length; i++) expect(wakeUps[i]! - wakeUps[i - 1]!).toBeGreaterThanOrEqual(190);
    // A run waits at most one tick for its turn, and some did wait.
    expect(coalesced.maxLateMs).toBeLessThan(300);
    expect(coalesced.maxLateMs).toBeGreaterThan(50);

    // Without it, the same jobs wake the scheduler at (nearly) each one's own due time.
    const own = await startsWith(undefined);
    expect(new Set(own.starts).size).toBeGreaterThan(20);
  });

  it('stop() stops scheduling and waits for runs in flight', async () => {
    let finished = 0;
    sched = createScheduler({ jitter: 0 });
    sched.set([job('k', { intervalMs: 10, run: async () => (await sleep(50), finished++, { failed: false }) })]);
    sched.start();
    await sleep(20);

    const ok = await sched.stop(1000);
    const after = finished;
    await sleep(100);

    expect(ok).toBe(true);
    expect(after).toBe(1);
    expect(finished).toBe(1);
    expect(sched.running).toBe(false);
  });
});

describe('MinHeap', () => {
  it('pops in order', () => {
    const h = new MinHeap<number>((a, b) => a - b);
    const values = Array.from({ length: 500 }, seeded(7)).map((x) => Math.floor(x * 1000));

    for (const v of values) h.push(v);
    const out: number[] = [];
    while (h.size > 0) out.push(h.pop()!);

    expect(out).toEqual([...values].sort((a, b) => a - b));
  });
});
