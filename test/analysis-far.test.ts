/**
 * farFigures + nearFigures: the daemon keeps the part of a key's week before the last 25 hours and
 * reads only those hours again. The figures must be those of the whole week read at the same
 * moment, for every moment the kept part serves, whatever the history holds: resets, top-ups,
 * currency changes, gaps, failures, missing signals.
 */
import { describe, expect, it } from 'vitest';
import { FAR_LIFETIME_MS, farFigures, historyFigures, NEAR_HISTORY_MS, nearFigures } from '../src/analysis/index.js';
import type { HistoryFigures, HistorySample } from '../src/analysis/types.js';
import type { KeyState } from '../src/state.js';
import { keyState } from './fixtures/alerting/harness.js';
import { rng } from './helpers/rng.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEK = 7 * 24 * HOUR;
const DAY_WINDOW = 24 * HOUR;

/**
 * A key's timeline as the store hands it: hourly rollups (the last run of each hour) for nine days
 * before `t0`'s hour, then a run a minute until an hour after t0. The signals it carries and the
 * events in it depend on the seed.
 */
function timeline(seed: number, t0: number): HistorySample[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const mode = pick(['total', 'windows', 'balance', 'all', 'sparse'] as const);
  const currencies = r() < 0.2 ? (['USD', 'CNY'] as const) : (['USD'] as const);
  let currency: 'USD' | 'CNY' | undefined = r() < 0.1 ? undefined : 'USD';
  let total = r() * 50;
  let balance = 100 + r() * 100;
  let daily = 0;
  let weekly = 0;
  const limit = pick([undefined, null, 200] as const);
  // Some keys stopped reporting money a day ago (the last money is older than the cut), some a week
  // ago (it leaves the week while the kept part serves).
  const moneyUntil = seed % 4 === 0 ? t0 - 30 * HOUR : seed % 8 === 1 ? t0 - WEEK + 40 * MIN : Infinity;
  const out: HistorySample[] = [];
  const hourOf = (t: number) => Math.floor(t / HOUR) * HOUR;
  const push = (at: number, runs: number): void => {
    // Spend, with a reset of the counter, a top-up or a currency change now and then.
    const spend = r() < 0.3 ? 0 : r() * (runs > 1 ? 2 : 0.05);
    total += spend;
    balance -= spend * (1 + r());
    daily += spend;
    weekly += spend;
    if (r() < 0.02) total = r() * 5;
    if (r() < 0.02) balance += 50;
    if (r() < 0.01) currency = pick(currencies);
    const prevAt = out.length > 0 ? out[out.length - 1]!.at : at;
    if (new Date(prevAt).getUTCDate() !== new Date(at).getUTCDate()) daily = spend;
    if (r() < 0.005) weekly = 0;
    const okRuns = r() < 0.1 ? Math.floor(r() * runs) : runs;
    const s: HistorySample = { at, runs, okRuns, latencyMs: 100 + r() * 900 };
    if (okRuns < runs) s.failures = { [pick(['timeout', '429', 'invalid', 'bad_response'])]: runs - okRuns };
    if (r() < 0.95) s.valid = okRuns > 0 || r() < 0.5;
    if (currency !== undefined) s.currency = currency;
    // Some keys reported no spend between a week and a day ago: the first recent sample pairs with
    // one that leaves the week while the kept part serves.
    const gap = seed % 8 === 5 && at > t0 - WEEK + 30 * MIN && at < t0 - 24 * HOUR;
    const has = (p: number) => !gap && (mode !== 'sparse' || r() < p);
    if ((mode === 'total' || mode === 'all' || mode === 'sparse') && has(0.6)) s.usageTotal = total;
    if ((mode === 'windows' || mode === 'all' || mode === 'sparse') && has(0.6)) {
      s.usageDaily = daily;
      s.usageWeekly = weekly;
    }
    if ((mode === 'balance' || mode === 'all' || mode === 'sparse') && has(0.5) && at < moneyUntil) s.balance = balance;
    if (limit !== undefined && has(0.7) && at < moneyUntil) {
      s.limit = limit;
      s.limitRemaining = limit === null ? null : limit - daily;
    }
    out.push(s);
  };
  const rawFrom = hourOf(t0);
  for (let h = rawFrom - 9 * 24 * HOUR; h < rawFrom; h += HOUR) {
    if (r() < 0.03) continue; // an hour with no run (the daemon was down)
    push(h + Math.floor(r() * HOUR), 60);
  }
  for (let t = rawFrom + Math.floor(r() * MIN); t < t0 + FAR_LIFETIME_MS + HOUR; t += MIN) {
    if (r() < 0.02) continue;
    push(t, 1);
  }
  return out;
}

/** What the store returns for history(key, since) at `now`: every sample from `since` up to now. */
const read = (samples: readonly HistorySample[], since: number, now: number) => samples.filter((s) => s.at >= since && s.at <= now);

function state(now: number, seed: number): KeyState {
  const s = keyState({ consecutiveFailures: seed % 3 });
  return { ...s, lastRunAt: now, facts: { ...s.facts, currency: 'USD' } };
}

/** Equal, numbers within 1e-9 relative (the kept sums are added in another order). */
function expectClose(got: unknown, want: unknown, path = 'figures'): void {
  if (typeof want === 'number' && typeof got === 'number') {
    const tol = 1e-9 * Math.max(1, Math.abs(want));
    if (Math.abs(got - want) > tol) expect.fail(`${path}: ${got} != ${want}`);
    return;
  }
  if (want === null || typeof want !== 'object') {
    expect(got, path).toBe(want);
    return;
  }
  expect(typeof got, path).toBe('object');
  const g = got as Record<string, unknown>;
  const w = want as Record<string, unknown>;
  expect(Object.keys(g).sort(), path).toEqual(Object.keys(w).sort());
  for (const k of Object.keys(w)) expectClose(g[k], w[k], `${path}.${k}`);
}

describe('history figures from the last 25 hours and the kept week before them', () => {
  it('equal the figures of the whole week, at every minute the kept part serves, over 120 random histories', () => {
    let compared = 0;
    let withRates = 0;
    let oldMoney = 0;
    for (let seed = 1; seed <= 120; seed++) {
      const t0 = Date.parse('2026-03-02T10:00:00Z') + seed * 7 * 60 * MIN + (seed % 13) * 7_919;
      const samples = timeline(seed, t0);
      const far = farFigures({ state: state(t0, seed), history: read(samples, t0 - WEEK, t0), now: t0, stabilityWindowMs: DAY_WINDOW });
      expect(far, `seed ${seed}`).toBeDefined();
      for (let now = t0; now < t0 + FAR_LIFETIME_MS; now += 3 * MIN + 1_234) {
        const st = state(now, seed);
        const whole: HistoryFigures = historyFigures({ state: st, history: read(samples, now - WEEK, now), now, stabilityWindowMs: DAY_WINDOW });
        const near = nearFigures({ state: st, history: read(samples, far!.burn.cut, now), now, stabilityWindowMs: DAY_WINDOW }, far!);
        expect(near, `seed ${seed} at +${now - t0} ms`).toBeDefined();
        expectClose(near, whole, `seed ${seed} at +${now - t0} ms`);
        compared++;
        if (whole.burn.rates.some((x) => x.window === '7d' && x.perHour > 0)) withRates++;
        if (seed % 4 === 0 && (whole.last.balance !== undefined || whole.last.limit !== undefined)) oldMoney++;
      }
    }
    // The cases are not vacuous: most carry a 7d rate that the kept part contributes to.
    expect(compared).toBeGreaterThan(2_000);
    expect(withRates).toBeGreaterThan(compared / 2);
    expect(oldMoney).toBeGreaterThan(200);
  });

  it('the kept part reaches from a week before to 25 hours before its read, and carries the edge of the week', () => {
    const t0 = Date.parse('2026-03-02T10:30:00Z');
    const samples = timeline(7, t0);
    const far = farFigures({ state: state(t0, 7), history: read(samples, t0 - WEEK, t0), now: t0, stabilityWindowMs: DAY_WINDOW })!;
    expect(far.burn.cut).toBe(t0 - NEAR_HISTORY_MS);
    expect(far.burn.validUntil).toBe(t0 + FAR_LIFETIME_MS);
    // About an hour of samples leaves the week while the part serves: they are kept one by one.
    expect(far.edgeAts.length).toBeGreaterThan(0);
    expect(far.edgeAts.length).toBeLessThanOrEqual(2);
    expect(far.wholeSamples).toBeGreaterThan(130);
  });

  it('does not serve outside its hour, for another currency, a longer stability window, or a state without a run', () => {
    const t0 = Date.parse('2026-03-02T10:30:00Z');
    const samples = timeline(3, t0);
    const far = farFigures({ state: state(t0, 3), history: read(samples, t0 - WEEK, t0), now: t0, stabilityWindowMs: DAY_WINDOW })!;
    const near = (now: number, st: KeyState = state(now, 3), windowMs = DAY_WINDOW) =>
      nearFigures({ state: st, history: read(samples, far.burn.cut, now), now, stabilityWindowMs: windowMs }, far);
    expect(near(t0 + FAR_LIFETIME_MS - 1)).toBeDefined();
    expect(near(t0 + FAR_LIFETIME_MS)).toBeUndefined();
    expect(near(t0 - 1)).toBeUndefined();
    const cny = state(t0 + MIN, 3);
    expect(near(t0 + MIN, { ...cny, facts: { ...cny.facts, currency: 'CNY' } })).toBeUndefined();
    expect(near(t0 + MIN, state(t0 + MIN, 3), 48 * HOUR)).toBeUndefined();
    const { lastRunAt: _, ...never } = state(t0 + MIN, 3);
    expect(near(t0 + MIN, never)).toBeUndefined();
    // A stability window reaching before the cut: no kept part at all.
    expect(farFigures({ state: state(t0, 3), history: read(samples, t0 - WEEK, t0), now: t0, stabilityWindowMs: 48 * HOUR })).toBeUndefined();
  });
});
