/**
 * End to end through the real pieces: the OpenRouter simulator spends at a known rate, the runner
 * probes it a few times at injected times, the store records the runs in SQLite, and analysis reads
 * them back. The burn rate and the time to exhaustion must land within 10% of the truth.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registry } from '../providers/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { analyzeKey } from '../src/analysis/index.js';
import type { ResolvedKey } from '../src/config/load.js';
import { HttpClient } from '../src/http/client.js';
import { runKey, runRecordOf, type RunResult } from '../src/runner.js';
import { Secret } from '../src/secret.js';
import type { KeyState } from '../src/state.js';
import { openStore, type Store } from '../src/store/index.js';

const KEY = `sk-or-v1-test-${'e'.repeat(51)}`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2026-09-14 09:00 UTC. */
const T0 = Date.UTC(2026, 8, 14, 9, 0, 0);

let dir: string;
let store: Store;
let sim: OpenRouterSim;
let http: HttpClient;
let t = T0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-analysis-sim-'));
  store = openStore(join(dir, 'kw.db'));
  http = new HttpClient();
  t = T0;
});

afterEach(async () => {
  store.close();
  await sim.close();
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

function resolved(baseUrl: string): ResolvedKey {
  return { name: 'sim', provider: 'openrouter', key: new Secret(KEY), baseUrl, intervalMs: 60_000, timeoutMs: 5000, labels: {}, watchModels: [], thresholds: {} };
}

async function probe(key: ResolvedKey): Promise<RunResult> {
  const r = await runKey({ key }, { registry, http, now: () => t });
  store.recordRun(runRecordOf(r));
  return r;
}

function stateOf(r: RunResult): KeyState {
  return {
    name: r.key,
    claimedProvider: r.claimedProvider,
    provider: r.provider,
    labels: {},
    watchModels: [],
    fingerprint: '00000000',
    masked: 'sk-or-v1-…eeee',
    facts: r.facts,
    probes: {},
    lastSuccessAt: {},
    lastRunAt: r.startedAt,
    consecutiveFailures: 0,
  };
}

describe('burn rate and exhaustion against the simulator', () => {
  it.each([
    { perHour: 0.6, limit: 50, usage: 10, probes: 4, every: 5 * 60_000 },
    { perHour: 12, limit: 400, usage: 150, probes: 3, every: 60_000 },
    { perHour: 0.05, limit: 5, usage: 1, probes: 6, every: 10 * 60_000 },
  ])('$perHour USD/h on a $limit USD limit, $probes probes every $every ms: within 10%', async ({ perHour, limit, usage, probes, every }) => {
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit, usage, usagePerHour: perHour }], now: () => t });
    const key = resolved(sim.url);
    let last: RunResult | undefined;
    for (let i = 0; i < probes; i++) {
      t = T0 + i * every;
      last = await probe(key);
    }

    const a = analyzeKey({ state: stateOf(last!), history: store.history('sim', 0), now: t, thresholds: {}, stabilityWindowMs: DAY, readinessHorizonMs: 7 * DAY });

    const remaining = limit - sim.usageOf(KEY);
    const trueSeconds = (remaining / perHour) * 3600;
    const r1h = a.burnRates.find((r) => r.window === '1h');
    expect(last!.ok).toBe(true);
    expect(r1h?.currency).toBe('USD');
    expect(Math.abs(r1h!.perHour - perHour) / perHour).toBeLessThan(0.1);
    expect(a.exhaustion.against).toBe('limit');
    expect(Math.abs(a.exhaustion.seconds! - trueSeconds) / trueSeconds).toBeLessThan(0.1);
    expect(a.stability).toMatchObject({ ratio: 1, samples: probes });
  });

  it('a daily-reset limit the key will not exhaust today says resetsFirst, not a countdown', async () => {
    // 09:00 Monday; daily limit 10, burning 0.2/h: the 1.8 spent today leaves 8.2, which would last 41h.
    t = T0 - 9 * HOUR; // the key started spending at midnight
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 10, limitReset: 'daily', usage: 0, usagePerHour: 0.2 }], now: () => t });
    const key = resolved(sim.url);
    let last: RunResult | undefined;
    for (let i = 0; i < 4; i++) {
      t = T0 + i * 10 * 60_000;
      last = await probe(key);
    }

    const a = analyzeKey({ state: stateOf(last!), history: store.history('sim', 0), now: t, thresholds: {}, stabilityWindowMs: DAY, readinessHorizonMs: 7 * DAY });

    expect(a.burnRates.find((r) => r.window === '1h')?.perHour).toBeCloseTo(0.2, 2);
    expect(a.exhaustion.resetsFirst).toBe(true);
    expect(a.exhaustion.seconds).toBeUndefined();
    expect(a.readiness.verdict).toBe('ready');
  });
});
