/**
 * The bench's seeded store and its simulator tell one story: a daemon started on the store and
 * probing the simulator finds each key spending at the rate its history says, as a restarted daemon
 * would. Until session 13 the history spent 0.01 USD an hour for every key, so the first hour of every
 * bench run had every key's 1h rate off (and, with spendDrifted, its history read again and again).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { benchKey, benchKeyName, benchKeyValue, benchMoney, benchSimKeys } from '../bench/keys.js';
import { buildStartupStore } from '../bench/store-bench.js';
import { analyzeKey } from '../src/analysis/index.js';
import { openStore } from '../src/store/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';

const HOUR = 3_600_000;
let sim: OpenRouterSim | undefined;
let dir: string | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A seeded store of `keys` keys with two days of history up to `now`, opened (close it). */
function seededStore(keys: number, now: number) {
  dir = mkdtempSync(join(tmpdir(), 'keywatch-seed-'));
  return openStore(buildStartupStore(dir, { keys, days: 2, rawHours: 1, intervalS: 60, now }).file);
}

describe('bench seed', () => {
  it('benchMoney is what the simulator answers, from its start on', async () => {
    const clock = { now: Date.UTC(2026, 2, 31, 22, 30) };
    const start = clock.now;
    sim = await startOpenRouterSim({ keys: benchSimKeys(8), now: () => clock.now });
    // Across a day's and a month's reset.
    for (const later of [0, 1, 3]) {
      clock.now = start + later * HOUR;
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${sim.url}/key`, { headers: { authorization: `Bearer ${benchKeyValue(i)}` } });
        const { data } = (await res.json()) as { data: Record<string, unknown> };
        const m = benchMoney(i, clock.now, start);
        expect(data.usage, `key ${i} +${later}h`).toBeCloseTo(m.total, 8);
        expect(data.usage_daily).toBeCloseTo(m.daily, 8);
        expect(data.usage_weekly).toBeCloseTo(m.weekly, 8);
        expect(data.usage_monthly).toBeCloseTo(m.monthly, 8);
        expect(data.limit).toBe(m.limit);
        expect(data.limit_reset).toBe(m.limitReset);
        if (m.limitRemaining === null) expect(data.limit_remaining).toBeNull();
        else expect(data.limit_remaining).toBeCloseTo(m.limitRemaining, 8);
      }
    }
  });

  it("a seeded store's history spends at each key's rate, so the live runs do not drift from its figures", () => {
    const now = Date.now();
    const store = seededStore(6, now);
    try {
      const states = store.loadStates();
      for (let i = 0; i < 6; i++) {
        const state = states.get(benchKeyName(i))!;
        const figures = analyzeKey.figures({ state, history: store.history(benchKeyName(i), now - 7 * 24 * HOUR), now, stabilityWindowMs: 24 * HOUR });
        for (const w of ['1h', '24h'] as const) {
          expect(figures.burn.rates.find((r) => r.window === w)?.perHour, `key ${i} ${w}`).toBeCloseTo(benchKey(i).usagePerHour, 9);
        }
        // Ten minutes later the simulator (started now) has the key spend at that rate.
        const m = benchMoney(i, now + 10 * 60_000, now);
        const later = { ...state, lastRunAt: now + 10 * 60_000, facts: { ...state.facts, usage: { total: m.total, daily: m.daily, weekly: m.weekly, monthly: m.monthly } } };
        expect(analyzeKey.drifted!(figures, later), `key ${i}`).toBe(false);
      }
    } finally {
      store.close();
    }
  });

  it("a seeded store's states are as the daemon stores them: judged by analyzeKey from their history, probes without facts", () => {
    const now = Date.now();
    const store = seededStore(3, now);
    try {
      const states = store.loadStates();
      for (let i = 0; i < 3; i++) {
        const state = states.get(benchKeyName(i))!;
        const { analysis, ...bare } = state;
        const judged = analyzeKey({ state: bare, history: store.history(state.name, now - 7 * 24 * HOUR), now, thresholds: {}, stabilityWindowMs: 24 * HOUR, readinessHorizonMs: 7 * 24 * HOUR });
        expect(analysis, `key ${i}`).toEqual(JSON.parse(JSON.stringify(judged)));
        // Every readiness check the judge makes, with its text, and the 7d rate from the stored week.
        expect(new Set((analysis?.readiness?.checks ?? []).map((c) => c.check))).toEqual(
          new Set(['provider', 'key_valid', 'key_type', 'identity', 'expiry', 'runway', 'limit_headroom', 'models', 'stability']),
        );
        expect((analysis?.burnRates ?? []).map((r) => r.window)).toContain('7d');
        for (const o of Object.values(state.probes)) expect(o).not.toHaveProperty('facts');
      }
    } finally {
      store.close();
    }
  });
});
