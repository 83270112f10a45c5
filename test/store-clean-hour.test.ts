/**
 * history(key, since, { cleanHourAsRollupAt }): the daemon's figures read a key's current hour, when
 * every run of it succeeded and its previous hour's last run is within the hour before, as its
 * rollup held in memory instead of its raw runs out of SQLite. What that may change and what it
 * must not: the same rollups before it, the hour's counts and last values in one sample, an hour
 * with a failure, a first hour or one after a gap still in detail, and the same figures (burn
 * rates, stability, last money) as the detailed read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { analyzeKey } from '../src/analysis/index.js';
import { HOUR_MS, openStore, type RunRecord, type Store, type HistoryOptions } from '../src/store/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { keyState } from './helpers/state.js';

const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const MIN = 60_000;

let dir: string;
let store: Store | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-clean-hour-'));
});
afterEach(() => {
  store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function run(at: number, usage: number, ok = true, durationMs = 100): RunRecord {
  if (!ok) return { at, key: 'k', provider: 'openrouter', ok: false, failedProbe: 'current_key', errorKind: 'timeout', durationMs, facts: {}, outcomes: [] };
  return { at, key: 'k', provider: 'openrouter', ok: true, durationMs, facts: { valid: true, currency: 'USD', usage: { total: usage }, limit: 100, limitRemaining: 100 - usage }, outcomes: [] };
}

/** Three whole hours of a run a minute spending 0.01 a minute, then `minutes` of the fourth. */
function fill(s: Store, minutes: number, fail?: number): number {
  let at = T0;
  for (let m = 0; m < 3 * 60 + minutes; m++, at += MIN) s.recordRun(run(at + 7_000, 1 + m * 0.01, m !== fail, 100 + (m % 9)));
  return at;
}

describe('a clean current hour read as its rollup', () => {
  it('is one sample with the hour\'s counts and last values, after the same earlier rollups', () => {
    store = openStore(join(dir, 's.db'), { rollupsAtHourEnd: true, maxBatch: 7 });
    const now = fill(store, 40);

    const detail = store.history('k', T0);
    const coarse = store.history('k', T0, { cleanHourAsRollupAt: now });

    expect(detail).toHaveLength(3 + 40);
    expect(coarse).toHaveLength(3 + 1);
    expect(coarse.slice(0, 3)).toEqual(detail.slice(0, 3));
    const hour = coarse[3]!;
    const last = detail.at(-1)!;
    expect(hour).toMatchObject({ at: last.at, runs: 40, okRuns: 40, usageTotal: last.usageTotal, limitRemaining: last.limitRemaining, currency: 'USD', valid: true });
    expect(hour.failures).toBeUndefined();
    const mean = detail.slice(3).reduce((n, s) => n + s.latencyMs!, 0) / 40;
    expect(hour.latencyMs).toBeCloseTo(mean, 6);
    expect(now).toBeGreaterThan(last.at);
  });

  it('reads an hour with a failure in detail, as without the option', () => {
    store = openStore(join(dir, 's.db'), { rollupsAtHourEnd: true, maxBatch: 7 });
    const now = fill(store, 40, 3 * 60 + 12);

    const coarse = store.history('k', T0, { cleanHourAsRollupAt: now });

    expect(coarse).toEqual(store.history('k', T0));
    expect(coarse).toHaveLength(3 + 40);
    expect(coarse.filter((s) => s.okRuns === 0)).toHaveLength(1);
  });

  it('reads in detail a key that has not run in this process (its hour is not in memory)', () => {
    const file = join(dir, 's.db');
    const first = openStore(file, { rollupsAtHourEnd: true });
    const now = fill(first, 40);
    first.close();
    store = openStore(file, { rollupsAtHourEnd: true });

    expect(store.history('k', T0, { cleanHourAsRollupAt: now })).toHaveLength(3 + 40);
  });

  it("reads in detail a key's first hour, and an hour whose previous sample is over an hour before the time read for", () => {
    store = openStore(join(dir, 's.db'), { rollupsAtHourEnd: true });
    for (let m = 0; m < 40; m++) store.recordRun(run(T0 + m * MIN, 1 + m * 0.01));
    expect(store.history('k', T0, { cleanHourAsRollupAt: T0 + 40 * MIN })).toHaveLength(40);

    // The previous hour's last run at 0:39, this hour's from 1:30: the 1h window at 1:45 starts after 0:39.
    for (let m = 90; m < 105; m++) store.recordRun(run(T0 + m * MIN, 1 + m * 0.01));
    expect(store.history('k', T0, { cleanHourAsRollupAt: T0 + 99 * MIN })).toHaveLength(2);
    expect(store.history('k', T0, { cleanHourAsRollupAt: T0 + 105 * MIN })).toHaveLength(1 + 15);
  });

  it("reads in detail an hour whose money did not only move on (a usage counter that fell, a top-up), and one after an hour that learnt no money", () => {
    const money = (at: number, usage: number | undefined, balance?: number): RunRecord => ({
      at,
      key: 'k',
      provider: 'openrouter',
      ok: true,
      durationMs: 100,
      facts: { valid: true, currency: 'USD', ...(usage !== undefined ? { usage: { total: usage } } : {}), ...(balance !== undefined ? { balance, balanceCurrency: 'USD' as const } : {}) },
      outcomes: [],
    });
    const hourOf = (s: Store, hour: number, runs: (m: number) => RunRecord) => {
      for (let m = 0; m < 60; m++) s.recordRun({ ...runs(m), at: T0 + hour * HOUR_MS + m * MIN });
      return s.history('k', T0, { cleanHourAsRollupAt: T0 + hour * HOUR_MS + 30 * MIN }).length;
    };

    store = openStore(join(dir, 'fell.db'), { rollupsAtHourEnd: true });
    expect(hourOf(store, 0, (m) => money(0, 1 + m))).toBe(60);
    expect(hourOf(store, 1, (m) => money(0, 61 + m))).toBe(2); // moved on: its rollup
    expect(hourOf(store, 2, (m) => money(0, m === 10 ? 0.5 : 121 + m))).toBe(2 + 60); // the counter fell once
    store.close();

    store = openStore(join(dir, 'topup.db'), { rollupsAtHourEnd: true });
    hourOf(store, 0, (m) => money(0, undefined, 200 - m));
    expect(hourOf(store, 1, (m) => money(0, undefined, 140 - m))).toBe(2);
    expect(hourOf(store, 2, (m) => money(0, undefined, m < 15 ? 80 - m : 150 - m))).toBe(2 + 60); // a top-up
    store.close();

    store = openStore(join(dir, 'blind.db'), { rollupsAtHourEnd: true });
    hourOf(store, 0, (m) => money(0, 1 + m));
    hourOf(store, 1, () => money(0, undefined)); // runs that learnt no usage
    expect(hourOf(store, 2, (m) => money(0, 61 + m))).toBe(2 + 60);
  });

  it('after a restart, reads in detail an hour whose runs before it did not only move their money on', () => {
    const at = (m: number) => T0 + HOUR_MS + m * MIN;
    const balanceRun = (m: number, balance: number): RunRecord => ({
      at: at(m),
      key: 'k',
      provider: 'openrouter',
      ok: true,
      durationMs: 100,
      facts: { valid: true, currency: 'USD', balance, balanceCurrency: 'USD' },
      outcomes: [],
    });
    const restartAfter = (name: string, balanceAt: (m: number) => number): Store => {
      const file = join(dir, name);
      const first = openStore(file, { rollupsAtHourEnd: true });
      for (let m = -60; m < 20; m++) first.recordRun(balanceRun(m, balanceAt(m)));
      first.close();
      const again = openStore(file, { rollupsAtHourEnd: true });
      for (let m = 20; m < 30; m++) again.recordRun(balanceRun(m, balanceAt(m)));
      return again;
    };

    store = restartAfter('even.db', (m) => 200 - m);
    expect(store.history('k', T0, { cleanHourAsRollupAt: at(30) })).toHaveLength(2);
    store.close();

    store = restartAfter('topup.db', (m) => (m < 0 || m >= 10 ? 300 - m : 100 - m)); // topped up at 0:10, before the restart
    expect(store.history('k', T0, { cleanHourAsRollupAt: at(30) })).toHaveLength(1 + 30);
  });

  it('gives the figures the detailed read gives: burn rates, stability ratio, last money', () => {
    store = openStore(join(dir, 's.db'), { rollupsAtHourEnd: true, maxBatch: 7 });
    const now = fill(store, 40);
    const state = keyState('k', { lastRunAt: now - MIN + 7_000, facts: { valid: true, currency: 'USD', usage: { total: 1 + 219 * 0.01 } } });
    const figuresOf = (history: ReturnType<Store['history']>) => analyzeKey.figures({ state, history, now, stabilityWindowMs: 24 * HOUR_MS });

    const detail = figuresOf(store.history('k', T0));
    const coarse = figuresOf(store.history('k', T0, { cleanHourAsRollupAt: now }));
    expect(store.history('k', T0, { cleanHourAsRollupAt: now })).toHaveLength(4);

    expect(coarse.burn.rates.length).toBeGreaterThan(0);
    expect(coarse.burn.rates.map((r) => r.window)).toEqual(detail.burn.rates.map((r) => r.window));
    for (const [i, r] of coarse.burn.rates.entries()) {
      expect(r.perHour).toBeCloseTo(detail.burn.rates[i]!.perHour, 9);
      // The samples a rate rests on (the exhaustion's confidence): the hour's runs, as in detail.
      expect(r.samples).toBe(detail.burn.rates[i]!.samples);
      expect(r.spanMs).toBe(detail.burn.rates[i]!.spanMs);
    }
    expect(coarse.burn.rates.find((r) => r.window === '1h')!.samples).toBe(42);
    expect(coarse.burn.rates.find((r) => r.window === '1h')!.perHour).toBeCloseTo(0.6, 9);
    expect(coarse.stability.ratio).toBe(detail.stability.ratio);
    expect(coarse.stability.samples).toBe(detail.stability.samples);
    expect(coarse.stability.flaps).toBe(0);
    expect(coarse.last).toEqual(detail.last);
  });
});

describe('the daemon', () => {
  const KEY = 'sk-or-v1-test-clean-hour-0000000000000000000000000000000000000000000';
  let sim: OpenRouterSim | undefined;
  let td: TestDaemon | undefined;
  afterEach(async () => {
    await td?.cleanup();
    await sim?.close();
    td = sim = undefined;
  });

  it('reads the figures from a clean hour\'s rollup once the key has a previous hour, and in detail once a run failed', async () => {
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 100, limitReset: null, usage: 10 }] });
    const clock = { now: T0 };
    td = await startTestDaemon({
      yaml: `
defaults: { interval: 1m, analysisInterval: 3m }
providers:
  openrouter: { baseUrl: ${sim.url} }
keys:
  - { name: k, provider: openrouter, key: "\${KEY}" }
`,
      env: { KEY },
      analyze: analyzeKey,
      now: () => clock.now,
      random: () => 0,
    });
    const s = td.daemon.store;
    const history = s.history.bind(s);
    const reads: { min: number; opts: HistoryOptions | undefined; samples: number; runs: number }[] = [];
    s.history = (key, since, opts) => {
      const h = history(key, since, opts);
      reads.push({ min: (clock.now - T0) / MIN, opts, samples: h.length, runs: h.reduce((n, x) => n + x.runs, 0) });
      return h;
    };
    const at = async (min: number, over: Parameters<OpenRouterSim['setKey']>[1]) => {
      clock.now = T0 + min * MIN;
      sim!.setKey(KEY, over);
      await td!.daemon.runOnce();
    };
    for (let m = 50; m <= 70; m++) await at(m, { usage: 10 + (m - 50) * 0.5 });

    for (const r of reads) expect(r.opts).toEqual({ cleanHourAsRollupAt: T0 + r.min * MIN });
    const first = reads.filter((r) => r.min < 60);
    const next = reads.filter((r) => r.min >= 60);
    expect(first.length).toBeGreaterThan(0);
    expect(next.length).toBeGreaterThan(1);
    // The key's first hour in detail; from the next on, the first hour's rollup and this one's.
    for (const r of first) expect(r.samples).toBe(r.runs);
    for (const r of next) expect(r).toMatchObject({ samples: 2, runs: r.min - 50 + 1 });
    expect(td.daemon.analysis('k')?.burnRates.find((b) => b.window === '1h')?.perHour).toBeCloseTo(30, 9);

    await at(71, { fault: '500' });

    expect(reads.at(-1)).toMatchObject({ min: 71, samples: 1 + 12, runs: 22 });
    expect(td.daemon.analysis('k')?.stability.ratio).toBeCloseTo(21 / 22, 9);
  });
});
