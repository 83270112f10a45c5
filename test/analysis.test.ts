import { describe, expect, it } from 'vitest';
import { analyzeKey } from '../src/analysis/index.js';
import { classifyFailure } from '../src/analysis/stability.js';
import type { AnalyzeInput, BurnRate, HistorySample, KeyAnalysis } from '../src/analysis/types.js';
import type { KeyFacts } from '../probes/types.js';
import type { KeyState } from '../src/state.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Wednesday 2026-09-16 12:00 UTC. */
const NOW = Date.UTC(2026, 8, 16, 12, 0, 0);

function state(facts: KeyFacts, extra: Partial<KeyState> = {}): KeyState {
  return {
    name: 'test-key',
    claimedProvider: 'openrouter',
    provider: 'openrouter',
    labels: {},
    watchModels: [],
    fingerprint: 'abcd1234',
    masked: 'sk-or-v1-…test',
    facts,
    probes: {},
    lastSuccessAt: {},
    lastRunAt: NOW,
    consecutiveFailures: 0,
    ...extra,
  };
}

function analyze(facts: KeyFacts, history: HistorySample[], extra: Partial<AnalyzeInput> & { st?: Partial<KeyState> } = {}): KeyAnalysis {
  const { st, ...rest } = extra;
  return analyzeKey({
    state: state(facts, st),
    history,
    now: NOW,
    thresholds: {},
    stabilityWindowMs: DAY,
    readinessHorizonMs: 7 * DAY,
    ...rest,
  });
}

/** Samples every `stepMs` over [NOW - spanMs, NOW], built by `at -> fields`. */
function series(spanMs: number, stepMs: number, fields: (at: number) => Partial<HistorySample>): HistorySample[] {
  const out: HistorySample[] = [];
  for (let at = NOW - spanMs; at <= NOW; at += stepMs) {
    out.push({ at, runs: 1, okRuns: 1, latencyMs: 200, currency: 'USD', ...fields(at) });
  }
  return out;
}

function rate(a: KeyAnalysis, window: BurnRate['window'], currency = 'USD'): BurnRate | undefined {
  return a.burnRates.find((r) => r.window === window && r.currency === currency);
}

const healthy: KeyFacts = { valid: true, currency: 'USD', limit: 100, limitRemaining: 60, limitReset: null, usage: { total: 40 } };

describe('burn rate and exhaustion on synthetic histories', () => {
  it('steady spend: every window sees the true rate; runway is remaining / rate', () => {
    const perHour = 0.5;
    const history = series(8 * DAY, 5 * 60_000, (at) => {
      const usage = 10 + (perHour * (at - (NOW - 8 * DAY))) / HOUR;
      return { usageTotal: usage, limit: 200, limitRemaining: 200 - usage };
    });
    const remaining = history.at(-1)!.limitRemaining as number;

    const a = analyze({ ...healthy, limit: 200, limitRemaining: remaining }, history);

    for (const w of ['1h', '24h', '7d'] as const) {
      expect(rate(a, w)?.perHour).toBeCloseTo(perHour, 9);
      expect(rate(a, w)?.source).toBe('usage');
    }
    expect(rate(a, '24h')?.spanMs).toBe(DAY);
    expect(a.exhaustion.against).toBe('limit');
    expect(a.exhaustion.seconds).toBeCloseTo((remaining / perHour) * 3600, -1);
    expect(a.exhaustion.resetsFirst).toBe(false);
    expect(a.exhaustion.confidence).toBe('high');
  });

  it('a daily reset mid-series (usage_daily only) is a reset, not negative spend', () => {
    const perHour = 2;
    // 20:00 yesterday .. 12:00 today, usage_daily climbing 2/h and falling to 0 at midnight.
    const history = series(16 * HOUR, 10 * 60_000, (at) => {
      const sinceMidnight = at - Math.floor(at / DAY) * DAY;
      return { usageDaily: (perHour * sinceMidnight) / HOUR };
    });

    const a = analyze({ valid: true, currency: 'USD' }, history);

    expect(rate(a, '24h')?.source).toBe('usage_windows');
    expect(rate(a, '24h')?.perHour).toBeCloseTo(perHour, 6);
    expect(rate(a, '1h')?.perHour).toBeCloseTo(perHour, 6);
    for (const r of a.burnRates) expect(r.perHour).toBeGreaterThanOrEqual(0);
  });

  it('across midnight inside one week, the weekly window gives the exact delta', () => {
    // Two samples 23:50 Tue and 00:10 Wed; 1 USD spent between them.
    const t0 = Date.UTC(2026, 8, 15, 23, 50);
    const t1 = Date.UTC(2026, 8, 16, 0, 10);
    const history: HistorySample[] = [
      { at: t0, runs: 1, okRuns: 1, currency: 'USD', usageDaily: 5, usageWeekly: 12 },
      { at: t1, runs: 1, okRuns: 1, currency: 'USD', usageDaily: 0.5, usageWeekly: 13 },
    ];

    const a = analyzeKey({ state: state({ valid: true, currency: 'USD' }), history, now: t1, thresholds: {}, stabilityWindowMs: DAY, readinessHorizonMs: 7 * DAY });

    expect(rate(a, '1h')?.perHour).toBeCloseTo(3, 9); // 1 USD in 20 minutes
  });

  it('a balance top-up is not negative spend: the rate ignores the jump up', () => {
    const perHour = 1;
    const topUpAt = NOW - 6 * HOUR;
    const history = series(DAY, 15 * 60_000, (at) => ({
      balance: 80 - (perHour * (at - (NOW - DAY))) / HOUR + (at >= topUpAt ? 50 : 0),
    }));
    const balance = history.at(-1)!.balance!;

    const a = analyze({ valid: true, currency: 'USD', balance }, history);

    expect(rate(a, '24h')?.source).toBe('balance');
    expect(rate(a, '24h')?.perHour).toBeCloseTo(perHour, 9);
    expect(a.exhaustion.against).toBe('balance');
    expect(a.exhaustion.seconds).toBeCloseTo((balance / perHour) * 3600, -1);
  });

  it('a spend limit that resets before it would run out: resetsFirst, no seconds', () => {
    // Daily limit 10, 9 left at noon, burning 0.25/h: 36h needed, reset in 12h.
    const history = series(6 * HOUR, 10 * 60_000, (at) => ({ usageTotal: 100 + (0.25 * (at - NOW)) / HOUR }));
    const facts: KeyFacts = { valid: true, currency: 'USD', limit: 10, limitRemaining: 9, limitReset: 'daily' };

    const a = analyze(facts, history);

    expect(a.exhaustion.resetsFirst).toBe(true);
    expect(a.exhaustion.seconds).toBeUndefined();
    expect(a.exhaustion.note).toMatch(/resets daily/);
    expect(a.readiness.verdict).toBe('ready');
  });

  it('a resetting limit that runs out before the reset still reports seconds', () => {
    // Daily limit 10, 1 left at noon, burning 1/h: out in 1h, reset in 12h.
    const history = series(6 * HOUR, 10 * 60_000, (at) => ({ usageTotal: 100 + (1 * (at - NOW)) / HOUR }));
    const facts: KeyFacts = { valid: true, currency: 'USD', limit: 10, limitRemaining: 1, limitReset: 'daily' };

    const a = analyze(facts, history);

    expect(a.exhaustion.resetsFirst).toBe(false);
    expect(a.exhaustion.seconds).toBeCloseTo(3600, -1);
    expect(a.risk.reasons.map((r) => r.code)).toContain('short_runway');
    expect(a.readiness.verdict).toBe('review');
  });

  it('a limit without a remaining figure: remaining = limit - the reset period\'s usage', () => {
    const history = series(6 * HOUR, 10 * 60_000, (at) => ({ usageTotal: 100 + (2 * (at - NOW)) / HOUR }));
    const facts: KeyFacts = { valid: true, currency: 'USD', limit: 50, limitReset: 'weekly', usage: { total: 100, weekly: 40 } };

    const a = analyze(facts, history);

    expect(a.limitMatrix[0]).toMatchObject({ dimension: 'spend_limit', limit: 50, remaining: 10 });
    expect(a.exhaustion).toMatchObject({ against: 'limit', seconds: 5 * 3600 });
  });

  it('an unlimited key burns but never runs out; risk names the missing limit', () => {
    const history = series(DAY, 10 * 60_000, (at) => ({ usageTotal: 5 + (3 * (at - NOW)) / HOUR + 72, limit: null, limitRemaining: null }));

    const a = analyze({ valid: true, currency: 'USD', limit: null, limitRemaining: null, limitReset: null }, history);

    expect(rate(a, '24h')?.perHour).toBeCloseTo(3, 9);
    expect(a.exhaustion.seconds).toBeUndefined();
    expect(a.exhaustion.note).toMatch(/no spend limit/);
    expect(a.risk.reasons.map((r) => r.code)).toContain('no_spend_limit');
    expect(a.limitMatrix[0]).toMatchObject({ dimension: 'spend_limit', limit: null, remaining: null });
    expect(a.readiness.verdict).toBe('ready');
  });

  it('sparse history gives low confidence; none gives no rate at all', () => {
    const sparse: HistorySample[] = [
      { at: NOW - 10 * 60_000, runs: 1, okRuns: 1, currency: 'USD', usageTotal: 10 },
      { at: NOW, runs: 1, okRuns: 1, currency: 'USD', usageTotal: 10.1 },
    ];

    const a = analyze({ ...healthy, limitRemaining: 50 }, sparse);
    const none = analyze(healthy, [sparse[1]!]);

    expect(rate(a, '1h')?.perHour).toBeCloseTo(0.6, 9);
    expect(a.exhaustion.confidence).toBe('low');
    expect(none.burnRates).toEqual([]);
    expect(none.exhaustion.seconds).toBeUndefined();
    expect(none.exhaustion.confidence).toBe('none');
  });

  it('hourly rollups give the same rate as raw runs, and stability counts their runs', () => {
    const rollups = series(3 * DAY, HOUR, (at) => ({ runs: 60, okRuns: 57, failures: { rate_limited: 2, bad_response: 1 }, usageTotal: (0.75 * (at - NOW)) / HOUR + 500 }));

    const a = analyze(healthy, rollups);

    expect(rate(a, '24h')?.perHour).toBeCloseTo(0.75, 9);
    expect(rate(a, '7d')?.perHour).toBeCloseTo(0.75, 9);
    expect(a.stability.samples).toBe(24 * 60);
    expect(a.stability.ratio).toBeCloseTo(57 / 60, 9);
    expect(a.stability.failures).toEqual({ transient: 48, unknown_shape: 24 });
  });

  it('currencies are never mixed: each gets its own rate', () => {
    const usd = series(2 * HOUR, 10 * 60_000, (at) => ({ currency: 'USD', usageTotal: (1 * (at - NOW)) / HOUR + 50 }));
    const cny = series(2 * HOUR, 10 * 60_000, (at) => ({ at: at + 1, currency: 'CNY', balance: 100 - (7 * (at - NOW)) / HOUR }));
    const history = [...usd, ...cny].sort((x, y) => x.at - y.at);

    const a = analyze({ valid: true, currency: 'USD' }, history.filter((s) => s.at <= NOW));

    expect(rate(a, '1h', 'USD')?.perHour).toBeCloseTo(1, 6);
    expect(rate(a, '1h', 'CNY')?.perHour).toBeCloseTo(7, 6);
  });

  it('a usage counter that goes backwards (key replaced) is skipped, not negative', () => {
    const history: HistorySample[] = [
      { at: NOW - 2 * HOUR, runs: 1, okRuns: 1, currency: 'USD', usageTotal: 50 },
      { at: NOW - HOUR, runs: 1, okRuns: 1, currency: 'USD', usageTotal: 1 },
      { at: NOW, runs: 1, okRuns: 1, currency: 'USD', usageTotal: 2 },
    ];

    const a = analyze({ valid: true, currency: 'USD' }, history);

    expect(rate(a, '24h')?.perHour).toBeCloseTo(1, 9);
    expect(rate(a, '24h')?.spanMs).toBe(HOUR);
  });
});

describe('stability', () => {
  it.each([
    ['rate_limited', 'transient'],
    ['upstream', 'transient'],
    ['timeout', 'transient'],
    ['429', 'transient'],
    ['503', 'transient'],
    ['quota', 'quota'],
    ['402', 'quota'],
    ['invalid', 'revoked'],
    ['auth', 'revoked'],
    ['401', 'revoked'],
    ['403', 'revoked'],
    ['config', 'config'],
    ['network', 'network'],
    ['bad_response', 'unknown_shape'],
  ])('classifies %s as %s', (kind, cls) => {
    expect(classifyFailure(kind)).toBe(cls);
  });

  it('counts flaps, consecutive failures and latency percentiles over the window only', () => {
    const oks = [1, 1, 0, 1, 0, 0, 0];
    const history: HistorySample[] = oks.map((ok, i) => ({
      at: NOW - (oks.length - 1 - i) * 60_000,
      runs: 1,
      okRuns: ok,
      latencyMs: (i + 1) * 100,
      ...(ok ? {} : { failures: { upstream: 1 } }),
    }));
    const old: HistorySample = { at: NOW - 2 * DAY, runs: 1, okRuns: 0, failures: { network: 1 } };

    const a = analyze({ valid: true }, [old, ...history], { st: { lastRunAt: undefined } });

    expect(a.stability.samples).toBe(7);
    expect(a.stability.ratio).toBeCloseTo(3 / 7, 9);
    expect(a.stability.flaps).toBe(3);
    expect(a.stability.consecutiveFailures).toBe(3);
    expect(a.stability.failures).toEqual({ transient: 4 });
    expect(a.stability.p50Ms).toBe(400);
    expect(a.stability.p95Ms).toBe(700);
    expect(a.risk.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['unstable', 'probe_failing']));
  });

  it('no history: ratio 1, nothing to complain about', () => {
    const a = analyze({ valid: true }, []);

    expect(a.stability).toMatchObject({ ratio: 1, samples: 0, flaps: 0, consecutiveFailures: 0 });
  });
});

describe('risk and readiness', () => {
  const ok = series(2 * HOUR, 10 * 60_000, () => ({ usageTotal: 40 }));

  it('a healthy key is ready with every check passing', () => {
    const a = analyze(healthy, ok);

    expect(a.readiness.verdict).toBe('ready');
    expect(a.readiness.nextActions).toEqual([]);
    expect(a.readiness.checks?.every((c) => c.status === 'pass')).toBe(true);
    expect(a.risk.score).toBeLessThan(0.2);
  });

  it.each<[string, KeyFacts, Partial<KeyState>, 'ready' | 'review' | 'blocked', string, string]>([
    ['revoked', { valid: false, validity: 'revoked' }, {}, 'blocked', 'send_to_human_review', 'key_valid'],
    ['spend limit used up', { ...healthy, limitRemaining: 0 }, {}, 'blocked', 'send_to_human_review', 'limit_headroom'],
    ['near its limit', { ...healthy, limitRemaining: 4 }, {}, 'review', 'send_to_human_review', 'limit_headroom'],
    ['never probed', {}, { lastRunAt: undefined }, 'review', 'add_monitoring', 'key_valid'],
    ['provider unknown', healthy, { provider: 'auto', claimedProvider: 'auto' }, 'review', 'add_provider_config', 'provider'],
    [
      'identity mismatch',
      { ...healthy, identity: { provider: 'openai-compatible', confidence: 0.9, matchesClaim: false, evidence: [] } },
      {},
      'review',
      'send_to_human_review',
      'identity',
    ],
    ['management key', { ...healthy, isManagementKey: true }, {}, 'review', 'send_to_human_review', 'key_type'],
    ['expiring within the horizon', { ...healthy, expiresAt: NOW / 1000 + 2 * 86400 }, {}, 'review', 'send_to_human_review', 'expiry'],
    ['watched models, list unknown', healthy, { watchModels: ['openrouter/auto'] }, 'review', 'import_inventory', 'models'],
    [
      'watched model unavailable',
      { ...healthy, models: { count: 300, source: 'user', access: { 'openrouter/auto': false }, pricingKnown: {} } },
      { watchModels: ['openrouter/auto'] },
      'review',
      'set_route',
      'models',
    ],
    [
      'watched model without pricing',
      { ...healthy, models: { count: 300, source: 'user', access: { 'openrouter/auto': true }, pricingKnown: { 'openrouter/auto': false } } },
      { watchModels: ['openrouter/auto'] },
      'review',
      'fill_pricing',
      'models',
    ],
  ])('%s', (_name, facts, st, verdict, action, check) => {
    const history = facts.valid === undefined ? [] : ok;

    const a = analyze(facts, history, { st });

    expect(a.readiness.verdict).toBe(verdict);
    expect(a.readiness.nextActions.map((n) => n.action)).toContain(action);
    expect(a.readiness.checks?.find((c) => c.check === check && c.status !== 'pass')).toBeDefined();
    expect(a.readiness.reasons.some((r) => r.startsWith(`${check}:`))).toBe(true);
  });

  it('an invalid key scores 1 and the reasons name it, without calling its failed runs instability', () => {
    const refused = series(2 * HOUR, 10 * 60_000, () => ({ okRuns: 0, failures: { invalid: 1 }, valid: false }));

    const a = analyze({ valid: false, validity: 'revoked' }, refused, { st: { lastRunAt: undefined } });

    expect(a.risk.score).toBe(1);
    expect(a.risk.reasons.map((r) => r.code)).toEqual(['invalid']);
    expect(a.stability.failures).toEqual({ revoked: 13 });
    expect(a.readiness.checks?.filter((c) => c.status !== 'pass').map((c) => c.check)).toEqual(['key_valid']);
  });

  it('weak reasons add up without passing 1', () => {
    const a = analyze({ ...healthy, limit: null, limitRemaining: null, isFreeTier: true, isManagementKey: true }, ok);

    expect(a.risk.reasons.map((r) => r.code).sort()).toEqual(['free_tier', 'management_key', 'no_spend_limit']);
    expect(a.risk.score).toBeCloseTo(1 - 0.8 * 0.85 * 0.7, 3);
  });

  it('the limit matrix lists spend limit, balance and rate limits; the model matrix every watched model', () => {
    const facts: KeyFacts = {
      ...healthy,
      limitReset: 'monthly',
      balance: 12,
      rateLimits: { requests: { limit: 20, remaining: 19 }, free_daily: { limit: 50, remaining: 50, resetAt: 1790812800 } },
      models: { count: 2, source: 'user', access: { a: true, b: false }, pricingKnown: { a: true } },
    };

    const a = analyze(facts, ok, { st: { watchModels: ['a', 'b'] } });

    expect(a.limitMatrix.map((r) => r.dimension)).toEqual(['spend_limit', 'balance', 'free_daily', 'requests']);
    expect(a.limitMatrix[0]).toMatchObject({ reset: 'monthly', resetAt: Date.UTC(2026, 9, 1) / 1000, unit: 'USD' });
    expect(a.modelMatrix).toEqual({ count: 2, rows: [{ model: 'a', access: true, pricingKnown: true }, { model: 'b', access: false }] });
  });
});
