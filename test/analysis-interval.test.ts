/**
 * defaults.analysisInterval: the daemon reads a key's week of history for burn rates and stability
 * at most that often (the costly part of analysis), at once when a run moves them, and judges the
 * live state (exhaustion, limits, readiness) on every run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { analyzeKey, SPEND_DRIFT, spendDrifted } from '../src/analysis/index.js';
import type { HistoryFigures } from '../src/analysis/types.js';
import { figuresMoved } from '../src/daemon.js';
import type { KeyState } from '../src/state.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { parseMetrics, startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { keyState } from './helpers/state.js';

const KEY = 'sk-or-v1-test-analysis-interval-000000000000000000000000000000000000';
const T0 = Date.parse('2026-03-02T10:00:00Z');
const MIN = 60_000;

let sim: OpenRouterSim | undefined;
let td: TestDaemon | undefined;
afterEach(async () => {
  await td?.cleanup();
  await sim?.close();
  td = undefined;
  sim = undefined;
});

/** The key's state after a run at `min` minutes, with its analysis as the daemon serves it (the live state holds none). */
const yamlOf = (analysisInterval: string, url: string, labels = '{}') => `
defaults: { interval: 1m, analysisInterval: ${analysisInterval} }
providers:
  openrouter: { baseUrl: ${url} }
keys:
  - { name: k, provider: openrouter, key: "\${KEY}", labels: ${labels} }
`;

async function fleet(analysisInterval: string): Promise<{ at: (min: number, usage: number) => Promise<KeyState>; clock: { now: number } }> {
  sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 100, limitReset: null, usage: 10 }] });
  const clock = { now: T0 };
  td = await startTestDaemon({
    yaml: yamlOf(analysisInterval, sim.url),
    env: { KEY },
    analyze: analyzeKey,
    now: () => clock.now,
  });
  return {
    at: async (min, usage) => {
      clock.now = T0 + min * MIN;
      sim!.setKey(KEY, { usage });
      await td!.daemon.runOnce();
      return { ...td!.daemon.states.get('k')!, analysis: td!.daemon.analysis('k') };
    },
    clock,
  };
}

const hourly = (s: KeyState) => s.analysis?.burnRates.find((b) => b.window === '1h')?.perHour;

describe('analysisInterval', () => {
  it('keeps burn rates for the interval while every run judges the live limit', async () => {
    const f = await fleet('5m');
    await f.at(0, 10);
    expect(hourly(await f.at(1, 11))).toBeUndefined(); // the figures of the first run (one sample) stand
    const first = hourly(await f.at(5, 15)); // 5 minutes on: read again

    const next = await f.at(6, 20); // read now, the 1h rate would be 100

    expect(first).toBeCloseTo(60, 5);
    expect(hourly(next)).toEqual(first);
    expect(next.analysis?.limitMatrix).toContainEqual(expect.objectContaining({ remaining: 80 }));
    expect(next.analysis?.exhaustion.seconds).toBeCloseTo((80 / 60) * 3600, 0); // this run's remaining at the kept rate
    expect(hourly(await f.at(10, 25))).toBeCloseTo(90, 5); // 15 USD in 10 minutes
  });

  it("spreads the keys: a key's first figures live a random part of the interval, later ones all of it", async () => {
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 100, limitReset: null, usage: 10 }] });
    const clock = { now: T0 };
    td = await startTestDaemon({ yaml: yamlOf('10m', sim.url), env: { KEY }, analyze: analyzeKey, now: () => clock.now, random: () => 0.5 });
    const reads: number[] = [];
    const store = td.daemon.store;
    const history = store.history.bind(store);
    store.history = (key, since, o) => (reads.push((clock.now - T0) / MIN), history(key, since, o));

    // Spending nothing, so nothing drifts (see 'spend that drifts' below).
    for (let min = 0; min <= 26; min++) {
      clock.now = T0 + min * MIN;
      await td.daemon.runOnce();
    }

    // Read at the first run, then half of 10 minutes later, then every 10 minutes.
    expect(reads).toEqual([0, 5, 15, 25]);
  });

  it('with 0 reads the history on every run', async () => {
    const f = await fleet('0s');
    await f.at(0, 10);
    await f.at(1, 11);

    const s = await f.at(2, 13);

    expect(hourly(s)).toBeCloseTo(90, 5); // 3 USD in 2 minutes
  });

  it('reads the history at once after a failed run', async () => {
    const f = await fleet('1h');
    await f.at(0, 10);
    await f.at(1, 11);
    expect((await f.at(2, 12)).analysis?.stability.ratio).toBe(1);

    sim!.setKey(KEY, { fault: '500' });
    const failed = await f.at(3, 12);

    expect(failed.analysis?.stability.ratio).toBeCloseTo(3 / 4, 5);
    expect(failed.analysis?.stability.consecutiveFailures).toBe(1);
  });
});

describe('the week before the last 25 hours, kept', () => {
  it('is read whole once an hour; the figures read in between are those of the whole week', async () => {
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 1000, limitReset: null, usage: 10 }] });
    const clock = { now: T0 };
    td = await startTestDaemon({ yaml: yamlOf('5m', sim.url), env: { KEY }, analyze: analyzeKey, now: () => clock.now });
    const store = td.daemon.store;
    const history = store.history.bind(store);
    const reads: { at: number; span: number }[] = [];
    store.history = (key, since, o) => (reads.push({ at: clock.now, span: clock.now - since }), history(key, since, o));
    const run = async (at: number, usage: number) => {
      clock.now = at;
      sim!.setKey(KEY, { usage });
      await td!.daemon.runOnce();
    };

    // Eight days of hourly runs, spend rising and falling by the hour, then a run every 5 minutes.
    let usage = 10;
    for (let h = 0; h < 8 * 24; h++) await run(T0 + h * 60 * MIN, (usage += 1 + (h % 7) * 0.5));
    const from = T0 + 8 * 24 * 60 * MIN;
    reads.length = 0;
    let compared = 0;
    for (let m = 0; m <= 150; m += 5) {
      await run(from + m * MIN + 1_234, (usage += 0.1 + (m % 3) * 0.2));
      const served = td.daemon.analysis('k')!;
      const state = td.daemon.states.get('k')!;
      const whole = analyzeKey.figures({ state, history: history('k', clock.now - 7 * 24 * 60 * MIN), now: clock.now, stabilityWindowMs: 24 * 60 * MIN });
      for (const w of ['1h', '24h', '7d'] as const) {
        const want = whole.burn.rates.find((r) => r.window === w)!;
        const got = served.burnRates.find((r) => r.window === w)!;
        expect(got.perHour, `${w} at +${m} min`).toBeCloseTo(want.perHour, 9);
        expect(got.samples, `${w} at +${m} min`).toBe(want.samples);
      }
      expect(served.stability).toEqual(whole.stability);
      compared++;
    }
    expect(compared).toBe(31);
    // One read a run, 31 in 150 minutes: the whole week (7 days back) three times, once an hour; the
    // others from 25 hours back.
    expect(reads).toHaveLength(31);
    expect(reads.filter((r) => r.span === 7 * 24 * 60 * MIN).map((r) => (r.at - from) / MIN)).toEqual([0, 60, 120].map((m) => m + 1_234 / MIN));
    expect(reads.filter((r) => r.span >= 25 * 60 * MIN && r.span < 26 * 60 * MIN)).toHaveLength(28);
  });
});

describe('the kept week, spread', () => {
  it("a key's first kept week serves a random part of the hour, later ones all of it", async () => {
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 1000, limitReset: null, usage: 10 }] });
    const clock = { now: T0 };
    td = await startTestDaemon({ yaml: yamlOf('5m', sim.url), env: { KEY }, analyze: analyzeKey, now: () => clock.now, random: () => 0.5 });
    const store = td.daemon.store;
    const history = store.history.bind(store);
    const week: number[] = [];
    store.history = (key, since, o) => (clock.now - since === 7 * 24 * 60 * MIN && week.push((clock.now - T0) / MIN), history(key, since, o));
    for (let m = 0; m <= 160; m += 5) {
      clock.now = T0 + m * MIN;
      sim.setKey(KEY, { usage: 10 + m });
      await td.daemon.runOnce();
    }
    // The first figures live 2.5 minutes (half of 5), so the runs read at 0, 5, 10, ...; the first
    // kept week serves 30 minutes (half of the hour), the next ones 60.
    expect(week).toEqual([0, 30, 90, 150]);
  });
});

describe('spend that drifts from the kept figures', () => {
  /** A key read every 15 minutes (random 0.99: its first figures live 15 min too), spending `perMin(min)` a minute. */
  async function reads(perMin: (min: number) => number, minutes: number): Promise<number[]> {
    sim = await startOpenRouterSim({ keys: [{ key: KEY, limit: 10_000, limitReset: null, usage: 10 }] });
    const clock = { now: T0 };
    td = await startTestDaemon({ yaml: yamlOf('15m', sim.url), env: { KEY }, analyze: analyzeKey, now: () => clock.now, random: () => 0.01 });
    const out: number[] = [];
    const store = td.daemon.store;
    const history = store.history.bind(store);
    store.history = (key, since, o) => (out.push((clock.now - T0) / MIN), history(key, since, o));
    let usage = 10;
    for (let min = 0; min <= minutes; min++) {
      clock.now = T0 + min * MIN;
      if (min > 0) usage += perMin(min);
      sim.setKey(KEY, { usage });
      await td.daemon.runOnce();
    }
    return out;
  }

  it('a key spending steadily is read once an interval', async () => {
    // Its first figures (one sample) know no rate, and it spends: read again after a third of 15m.
    expect(await reads(() => 1, 50)).toEqual([0, 5, 20, 35, 50]);
  });

  it('a key that triples or stops spending is read a third of the interval after its last read, until its 1h rate has caught up', async () => {
    // Read at 20; from minute 23 on it spends otherwise. Its 1h rate moves over the hour that follows.
    const every5 = [0, 5, 20, 25, 30, 35, 40, 45, 50];
    expect(await reads((m) => (m <= 22 ? 1 : 3), 50)).toEqual(every5);
    await td!.cleanup();
    await sim!.close();
    td = undefined;
    expect(await reads((m) => (m <= 22 ? 1 : 0), 50)).toEqual(every5);
    await td!.cleanup();
    await sim!.close();
    td = undefined;
    // Steady at the new rate from 23 on: once the 1h rate has caught up, 15 minutes apart again.
    const out = await reads((m) => (m <= 22 ? 1 : 3), 130);
    const gaps = out.slice(1).map((r, i) => r - out[i]!);
    expect(gaps.slice(0, 2)).toEqual([5, 15]);
    expect(gaps.slice(-2)).toEqual([15, 15]);
    expect(Math.min(...gaps)).toBe(5);
  });

  it('within the drift, or idle, it is not', async () => {
    expect(await reads((m) => (m % 2 === 0 ? 1.2 : 0.9), 50)).toEqual([0, 5, 20, 35, 50]);
    await td!.cleanup();
    await sim!.close();
    td = undefined;
    expect(await reads(() => 0, 50)).toEqual([0, 15, 30, 45]);
  });

  describe('spendDrifted', () => {
    const t = T0 + 10 * MIN;
    const rate = (perHour: number, window: '1h' | '24h' = '1h', source: 'usage' | 'balance' = 'usage') => ({ window, currency: 'USD' as const, perHour, source, spanMs: 3_600_000, samples: 61 });
    const figures = (over: Partial<HistoryFigures> = {}): HistoryFigures => ({
      at: T0,
      burn: { rates: [rate(60)], balanceRates: [rate(120, '1h', 'balance')] },
      stability: { ratio: 1, windowMs: 86_400_000, samples: 1, consecutiveFailures: 0, flaps: 0, failures: {} },
      last: {},
      samples: 1,
      spend: { at: T0, usage: 100, balance: 50, currency: 'USD' },
      ...over,
    });
    const state = (facts: KeyState['facts'], lastRunAt = t) => keyState('k', { lastRunAt, facts: { currency: 'USD', ...facts } });

    it.each<[string, HistoryFigures, KeyState, boolean]>([
      ['spent what the 1h rate says (10 in 10 min at 60/h)', figures(), state({ usage: { total: 110 } }), false],
      [`off by less than ${SPEND_DRIFT * 100}% of the larger`, figures(), state({ usage: { total: 107.6 } }), false],
      ['spent less: by more than that', figures(), state({ usage: { total: 107.4 } }), true],
      ['spent more: by more than that', figures(), state({ usage: { total: 113.4 } }), true],
      ['spent nothing against a rate', figures(), state({ usage: { total: 100 } }), true],
      ['spent against no 1h rate (only a 24h one)', figures({ burn: { rates: [rate(60, '24h')], balanceRates: [] } }), state({ usage: { total: 100.5 } }), true],
      ['spent nothing against no rate', figures({ burn: { rates: [], balanceRates: [] } }), state({ usage: { total: 100 } }), false],
      ['the usage went down (a replaced counter: figuresMoved)', figures(), state({ usage: { total: 5 } }), false],
      ['no usage total: the balance, against the balance rate', figures(), state({ balance: 30 }), false],
      ['no usage total: the balance fell faster', figures(), state({ balance: 20 }), true],
      ['a top-up (figuresMoved)', figures(), state({ balance: 80 }), false],
      ['another currency (figuresMoved)', figures(), state({ currency: 'CNY', usage: { total: 200 } }), false],
      ['no mark (the figures knew no run)', figures({ spend: undefined }), state({ usage: { total: 200 } }), false],
      ['no run since', figures(), state({ usage: { total: 200 } }, T0), false],
    ])('%s', (_name, f, s, drifted) => {
      expect(spendDrifted(f, s)).toBe(drifted);
    });
  });
});

describe('figuresMoved', () => {
  const base = keyState('k', { facts: { valid: true, currency: 'USD', limit: 100, limitRemaining: 50, usage: { total: 50, daily: 5 }, balance: 20 } });
  const withFacts = (facts: Partial<KeyState['facts']>): KeyState => ({ ...base, facts: { ...base.facts, ...facts } });

  it.each<[string, KeyState, boolean]>([
    ['usage going up', withFacts({ usage: { total: 51, daily: 6 } }), false],
    ['a daily reset', withFacts({ usage: { total: 51, daily: 0 } }), true],
    ['a top-up', withFacts({ balance: 30 }), true],
    ['spending the balance', withFacts({ balance: 19 }), false],
    ['a new limit', withFacts({ limit: 200 }), true],
    ['the key refused', withFacts({ valid: false }), true],
    ['another currency', withFacts({ currency: 'CNY' }), true],
    ['another provider answering', { ...base, provider: 'openai' }, true],
  ])('%s: %s', (_name, next, moved) => {
    expect(figuresMoved(base, next, { ok: true })).toBe(moved);
  });

  it('a failed run, or the first good one after failures, moves them', () => {
    expect(figuresMoved(base, base, { ok: false })).toBe(true);
    expect(figuresMoved({ ...base, consecutiveFailures: 2 }, base, { ok: true })).toBe(true);
    expect(figuresMoved(base, base, { ok: true })).toBe(false);
  });
});

describe('what a run keeps', () => {
  it('a steady run (its usage went up) is written into the key state: the same objects, the new numbers, in /metrics and the store', async () => {
    const f = await fleet('5m');
    await f.at(0, 10);
    await f.at(1, 11);
    const before = td!.daemon.states.get('k')!;
    const { facts, probes } = before;
    const { usage, identity } = facts;

    await f.at(2, 12);
    const after = td!.daemon.states.get('k')!;

    expect(after).toBe(before);
    expect(after.facts).toBe(facts);
    expect(after.facts.usage).toBe(usage);
    expect(after.facts.identity).toBe(identity);
    expect(after.probes).toBe(probes);
    expect(after.facts.usage?.total).toBe(12);
    expect(after.lastRunAt).toBe(T0 + 2 * MIN);
    expect(after.probes.current_key?.at).toBe(T0 + 2 * MIN);
    expect(after.lastSuccessAt.current_key).toBe(T0 + 2 * MIN);
    expect(after.analysedAt).toBe(T0 + 2 * MIN);
    const metrics = parseMetrics(await td!.metricsText());
    expect(metrics.get('keywatch_key_usage{key="k",provider="openrouter",currency="USD",window="total"}')).toBe(12);
    expect(metrics.get('keywatch_key_last_run_timestamp_seconds{key="k",provider="openrouter"}')).toBe((T0 + 2 * MIN) / 1000);
    expect(td!.daemon.analysis('k')!.limitMatrix).toContainEqual(expect.objectContaining({ remaining: 88 }));
    expect(td!.daemon.store.loadStates().get('k')?.facts.usage?.total).toBe(12);
  });

  it('a run that is not steady (the usage fell: a new counter) builds a new state, keeping the previous objects for every part that did not change', async () => {
    const f = await fleet('5m');
    await f.at(0, 10);
    await f.at(1, 11);
    const before = td!.daemon.states.get('k')!;
    const { usage, identity } = before.facts;

    await f.at(2, 3);
    const after = td!.daemon.states.get('k')!;

    expect(after).not.toBe(before);
    expect(after.facts.usage).not.toBe(usage);
    expect(usage?.total).toBe(11); // the previous state's objects are left as they were
    expect(after.facts.usage?.total).toBe(3);
    expect(after.facts.identity).toBeDefined();
    expect(after.facts.identity).toBe(identity);
  });

  it('keeps no analysis in the live state: it is judged again, the same, for the API, /metrics and the store', async () => {
    const f = await fleet('5m');
    await f.at(0, 10);
    await f.at(5, 15);
    const judged = await f.at(6, 20);
    f.clock.now += 30 * MIN; // judged again later, it is still the run's judgement

    const live = td!.daemon.states.get('k')!;
    const again = td!.daemon.analysis('k');
    const api = (await td!.get('/api/keys/k')).json();
    const metrics = parseMetrics(await td!.metricsText());
    const stored = td!.daemon.store.loadStates().get('k'); // flushes the state held back by stateSaveInterval

    expect(live.analysis).toBeUndefined();
    expect(again).toEqual(judged.analysis);
    expect(again!.limitMatrix).toContainEqual(expect.objectContaining({ remaining: 80 }));
    expect(again!.exhaustion.seconds).toBeCloseTo((80 / 60) * 3600, 0);
    expect(api.analysis).toEqual(JSON.parse(JSON.stringify(again)));
    expect(metrics.get('keywatch_key_exhaustion_seconds{key="k",provider="openrouter"}')).toBe(again!.exhaustion.seconds);
    expect(metrics.get('keywatch_key_risk_score{key="k",provider="openrouter"}')).toBe(again!.risk.score);
    expect(stored?.analysis).toEqual(JSON.parse(JSON.stringify(again)));
    expect(stored?.facts.usage?.total).toBe(20);
  });

  it('a reload that replaces the live state without a run keeps the analysis in /metrics', async () => {
    const f = await fleet('5m');
    await f.at(0, 10);
    await f.at(5, 15);
    await f.at(6, 20);
    const before = parseMetrics(await td!.metricsText());

    td!.writeConfig(yamlOf('5m', sim!.url, '{ team: blue }'));
    expect((await td!.daemon.reload()).ok).toBe(true);
    td!.daemon.metrics.invalidate();
    const after = parseMetrics(await td!.metricsText());

    expect(td!.daemon.states.get('k')!.labels).toEqual({ team: 'blue' });
    for (const name of ['keywatch_key_exhaustion_seconds', 'keywatch_key_risk_score', 'keywatch_key_stability']) {
      const series = `${name}{key="k",provider="openrouter"}`;
      expect(before.get(series)).toBeDefined();
      expect(after.get(series)).toBe(before.get(series));
    }
    // Within the 5m interval, but the reload made the figures stale: the next run reads them again.
    expect(hourly(await f.at(7, 30))).toBeCloseTo((20 / 7) * 60, 3);
  });
});
