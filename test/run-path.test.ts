/**
 * The pieces of a key run's path that stand in for slower, plainer code: each must give what the
 * plain code gives. mergeFactsShared is share(prev, mergeFacts(prev, next)); withoutFacts is the
 * outcome less its facts; the run queue's probes text is JSON.stringify of the stored outcome
 * objects, and its columns give back the rows pushed into it; sameAsSaved is "the signatures are
 * equal".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeFacts, mergeFactsShared } from '../src/runner.js';
import { share } from '../src/share.js';
import { withoutFacts, type KeyState } from '../src/state.js';
import { openStore, sameAsSaved, savedMark, stateSignature } from '../src/store/index.js';
import type { RawFields } from '../src/store/rollup.js';
import { RunQueue, type RunRow } from '../src/store/run-queue.js';
import type { KeyFacts, ProbeOutcome } from '../probes/types.js';
import type { KeyAnalysis } from '../src/analysis/types.js';
import { rng } from './helpers/rng.js';
import { keyState } from './helpers/state.js';

const identity = { provider: 'openrouter', confidence: 0.9, matchesClaim: true, evidence: [{ signal: 'host', provider: 'openrouter', weight: 0.9 }] };

/** Facts as runs make them: some fields set, some absent, a few explicitly undefined, numbers from a few values. */
function randomFacts(r: () => number): KeyFacts {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = (p = 0.5) => r() < p;
  const f: Record<string, unknown> = {};
  if (maybe()) f.valid = pick([true, false, undefined]);
  if (maybe()) f.currency = pick(['USD', 'CNY']);
  if (maybe()) {
    const u: Record<string, unknown> = {};
    for (const w of ['total', 'daily', 'weekly', 'monthly']) if (maybe()) u[w] = pick([0, 1, 2.5, undefined]);
    f.usage = u;
  }
  if (maybe(0.3)) f.byokUsage = { total: pick([0, 1]) };
  if (maybe()) f.limit = pick([null, 10, 20]);
  if (maybe()) f.limitRemaining = pick([null, 1, 5]);
  if (maybe()) f.limitReset = pick([null, 'daily', 'monthly']);
  if (maybe(0.3)) f.label = pick(['a', 'b']);
  if (maybe(0.3)) f.rateLimits = { free_daily: { limit: 50, remaining: pick([1, 2]) }, ...(maybe() ? { requests: { limit: 5 } } : {}) };
  if (maybe(0.4)) f.identity = pick([identity, { ...identity, evidence: [...identity.evidence] }, { ...identity, confidence: 0.5 }]);
  if (maybe(0.3)) f.models = { count: pick([1, 2]), source: 'user', access: { a: pick([true, false]) }, pricingKnown: {} };
  return f as KeyFacts;
}

/** Which parts of `x` are (===) the same objects as `y`'s, as a tree of booleans. */
function sharing(x: unknown, y: unknown): unknown {
  if (typeof x !== 'object' || x === null) return x === y;
  if (x === y) return 'same';
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x)) out[k] = sharing((x as Record<string, unknown>)[k], (y as Record<string, unknown> | undefined)?.[k]);
  return out;
}

describe('mergeFactsShared', () => {
  it('is share(prev, mergeFacts(prev, next)): the same value, keys in the same order, the same parts shared', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const r = rng(seed);
      const prev = randomFacts(r);
      const next = randomFacts(r);
      const want = share(prev, mergeFacts(prev, next));
      const got = mergeFactsShared(prev, next);
      expect(got, `seed ${seed}`).toStrictEqual(want);
      expect(Object.keys(got), `seed ${seed}`).toEqual(Object.keys(want));
      expect(got === prev, `seed ${seed}`).toBe(want === prev);
      expect(sharing(got, prev), `seed ${seed}`).toEqual(sharing(want, prev));
    }
  });

  it('returns the previous facts when the run changed nothing, and only new parts where it did', () => {
    const prev: KeyFacts = { valid: true, currency: 'USD', usage: { total: 1, daily: 1 }, identity, limit: 10 };
    expect(mergeFactsShared(prev, { valid: true, usage: { daily: 1 }, identity: { ...identity, evidence: [...identity.evidence] } })).toBe(prev);

    const got = mergeFactsShared(prev, { usage: { daily: 2 }, identity: { ...identity } });
    expect(got).toEqual({ valid: true, currency: 'USD', usage: { total: 1, daily: 2 }, identity, limit: 10 });
    expect(got.identity).toBe(prev.identity);
    expect(prev.usage).toEqual({ total: 1, daily: 1 });
  });

  it('treats a field the run set to undefined as a change (as the merged copy has it)', () => {
    const prev: KeyFacts = { valid: true };
    const got = mergeFactsShared(prev, { label: undefined });
    expect(got).not.toBe(prev);
    expect(Object.hasOwn(got, 'label')).toBe(true);
  });
});

describe('withoutFacts', () => {
  const plain = (o: ProbeOutcome): ProbeOutcome => {
    const { facts: _f, ...rest } = o;
    return rest;
  };
  it('gives the outcome less its facts, whatever it carries', () => {
    const outcomes: ProbeOutcome[] = [
      { probe: 'current_key', ok: true, durationMs: 3, at: 5, facts: { valid: true } },
      { probe: 'models', ok: true, durationMs: 3, at: 5, facts: {}, status: 200 },
      { probe: 'current_key', ok: false, errorKind: 'upstream', status: 502, message: 'bad gateway', durationMs: 1, at: 2, retryAfterMs: 10, facts: { valid: true } },
      { probe: 'balance_snapshot', ok: false, errorKind: 'timeout', durationMs: 1, at: 2 },
    ];
    for (const o of outcomes) {
      const got = withoutFacts(o);
      expect(got).toStrictEqual(plain(o));
      expect(Object.hasOwn(got, 'facts')).toBe(false);
    }
    // An outcome without facts is kept as it is (outcomes are never mutated).
    expect(withoutFacts(outcomes[3]!)).toBe(outcomes[3]);
  });
});

describe('RunQueue', () => {
  const plain = (outcomes: readonly ProbeOutcome[]): string =>
    JSON.stringify(
      outcomes.map((o) => ({
        probe: o.probe,
        ok: o.ok,
        ...(o.errorKind !== undefined ? { kind: o.errorKind } : {}),
        ...(o.status !== undefined ? { status: o.status } : {}),
        ms: Math.round(o.durationMs),
      })),
    );
  const queued = (outcomes: ProbeOutcome[]): string => {
    const q = new RunQueue();
    q.push(randomRaw(rng(1)), 'openrouter', null, outcomes);
    return q.probesJson(0);
  };

  it('writes the probes text JSON.stringify wrote of the stored outcome objects', () => {
    const cases: ProbeOutcome[][] = [
      [],
      [{ probe: 'current_key', ok: true, durationMs: 3.4, at: 1 }],
      [
        { probe: 'current_key', ok: true, durationMs: 2.5, at: 1, facts: { valid: true } },
        { probe: 'models', ok: false, errorKind: 'rate_limited', status: 429, durationMs: 12.51, at: 1, retryAfterMs: 5 },
        { probe: 'balance_snapshot', ok: false, errorKind: 'timeout', durationMs: Number.NaN, at: 1 },
        { probe: 'identity', ok: false, errorKind: 'bad_response', status: 200, message: 'x"y', durationMs: -0.4, at: 1 },
      ],
    ];
    for (const c of cases) {
      expect(queued(c)).toBe(plain(c));
      expect(JSON.parse(queued(c))).toEqual(JSON.parse(plain(c)));
    }
  });

  it('gives back every pushed run, column for column, across growing and clearing', () => {
    const r = rng(7);
    const q = new RunQueue();
    for (const count of [300, 5, 0, 70]) {
      const pushed: { row: RawFields; provider: string; failed: string | null; outcomes: ProbeOutcome[] }[] = [];
      for (let i = 0; i < count; i++) {
        const row = randomRaw(r);
        const provider = r() < 0.5 ? 'openrouter' : 'deepseek';
        const failed = r() < 0.3 ? 'models' : null;
        const outcomes = randomOutcomes(r);
        // The pushed object is refilled by the caller (recordRun does): the queue must not keep it.
        const scratch = { ...row };
        q.push(scratch, provider, failed, outcomes);
        Object.assign(scratch, randomRaw(r));
        pushed.push({ row, provider, failed, outcomes });
      }
      expect(q.length).toBe(count);
      const rows: RunRow[] = [];
      q.each((w) => rows.push([...w] as RunRow));
      expect(rows).toEqual(
        pushed.map(({ row: p, provider, failed, outcomes }): RunRow => [
          p.at, p.key, provider, p.ok, failed, p.error_kind, p.duration_ms, p.valid, p.currency, p.usage_total, p.usage_daily,
          p.usage_weekly, p.usage_monthly, p.limit_value, p.limit_remaining, p.unlimited, p.balance, plain(outcomes),
        ]),
      );
      pushed.forEach(({ row }, i) => {
        expect(q.fields(i)).toEqual(row);
        expect(q.keyOf(i)).toBe(row.key);
        expect(q.atOf(i)).toBe(row.at);
      });
      q.clear();
      expect(q.length).toBe(0);
    }
  });
});

/** A run's columns as recordRun folds them: each nullable one null about a third of the time. */
function randomRaw(r: () => number): RawFields {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const money = (): number | null => pick([null, 0, 1.25, -3, 1e12, 0.1 + 0.2, Math.floor(r() * 1e6) / 100]);
  return {
    at: 1_700_000_000_000 + Math.floor(r() * 1e9),
    key: `key-${Math.floor(r() * 50)}`,
    ok: pick([0, 1]),
    error_kind: pick([null, 'timeout', 'invalid']),
    duration_ms: Math.floor(r() * 5000),
    valid: pick([null, 0, 1]),
    currency: pick([null, 'USD', 'CNY']),
    usage_total: money(),
    usage_daily: money(),
    usage_weekly: money(),
    usage_monthly: money(),
    limit_value: money(),
    limit_remaining: money(),
    unlimited: pick([null, 0, 1]),
    balance: money(),
  };
}

function randomOutcomes(r: () => number): ProbeOutcome[] {
  const out: ProbeOutcome[] = [];
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const ok = r() < 0.7;
    out.push({
      probe: (['current_key', 'balance_snapshot', 'models', 'rate_limits', 'identity'] as const)[i]!,
      ok,
      ...(ok ? {} : { errorKind: r() < 0.5 ? ('upstream' as const) : ('rate_limited' as const) }),
      ...(r() < 0.3 ? { status: Math.floor(r() * 500) } : {}),
      durationMs: r() * 3000,
      at: 1,
    });
  }
  return out;
}

describe('sameAsSaved', () => {
  const labels = { team: 'x' };
  const watchModels = ['a'];
  const models = { count: 2, source: 'user' as const, access: { a: true, b: false }, pricingKnown: {} };
  const ok = (probe: ProbeOutcome['probe']): ProbeOutcome => ({ probe, ok: true, durationMs: 3, at: 1 });
  const base = keyState('k', {
    labels,
    watchModels,
    lastRunAt: 1,
    facts: { valid: true, currency: 'USD', usage: { total: 1 }, limit: 10, limitReset: 'daily', identity, models },
    probes: { current_key: ok('current_key'), models: ok('models') },
  });
  const verdict = (v: string): KeyAnalysis => ({ readiness: { verdict: v } }) as unknown as KeyAnalysis;

  it('says the same as comparing signatures, for parts shared or copied, equal or not', () => {
    const variants: [string, KeyState, KeyAnalysis?][] = [
      ['figures only', { ...base, lastRunAt: 2, facts: { ...base.facts, usage: { total: 9 }, limitRemaining: 3 } }],
      ['new probe outcomes, same verdicts', { ...base, probes: { current_key: ok('current_key'), models: ok('models') } }],
      ['a copy of the labels', { ...base, labels: { ...labels } }],
      ['other labels', { ...base, labels: { team: 'y' } }],
      ['a copy of the model list', { ...base, facts: { ...base.facts, models: { ...models, access: { ...models.access } } } }],
      ['a model lost', { ...base, facts: { ...base.facts, models: { ...models, access: { a: false, b: false } } } }],
      ['the probes in another order', { ...base, probes: { models: ok('models'), current_key: ok('current_key') } }],
      ['a probe failing', { ...base, probes: { ...base.probes, models: { ...ok('models'), ok: false, errorKind: 'upstream' } } }],
      ['a probe failing otherwise', { ...base, probes: { ...base.probes, models: { ...ok('models'), ok: true, errorKind: 'upstream' } } }],
      ['a probe more', { ...base, probes: { ...base.probes, balance_snapshot: ok('balance_snapshot') } }],
      ['a probe less', { ...base, probes: { current_key: ok('current_key') } }],
      ['refused', { ...base, facts: { ...base.facts, valid: false } }],
      ['unlimited', { ...base, facts: { ...base.facts, limit: null } }],
      ['limit unknown', { ...base, facts: { ...base.facts, limit: undefined } }],
      ['another reset', { ...base, facts: { ...base.facts, limitReset: 'monthly' } }],
      ['an expiry', { ...base, facts: { ...base.facts, expiresAt: 5 } }],
      ['another currency', { ...base, facts: { ...base.facts, currency: 'CNY' } }],
      ['another identity', { ...base, facts: { ...base.facts, identity: { ...identity, provider: 'openai' } } }],
      ['failing', { ...base, consecutiveFailures: 2 }],
      ['another provider', { ...base, provider: 'openai' }],
      ['claimed otherwise', { ...base, claimedProvider: 'auto' }],
      ['rotated', { ...base, fingerprint: 'ffffffff' }],
      ['discovered', { ...base, account: 'team' }],
      ['other watched models', { ...base, watchModels: ['a', 'b'] }],
      ['a copy of the watched models', { ...base, watchModels: [...watchModels] }],
      ['a verdict', base, verdict('ready')],
    ];
    const mark = savedMark(base, undefined, 1);
    for (const [name, s, analysis] of variants) {
      expect(sameAsSaved(mark, s, analysis), name).toBe(stateSignature(s, analysis) === stateSignature(base));
    }
    expect(sameAsSaved(savedMark(base, verdict('ready'), 1), base, verdict('ready'))).toBe(true);
    expect(sameAsSaved(savedMark(base, verdict('ready'), 1), base, verdict('blocked'))).toBe(false);
  });

  it('takes the state`s own analysis when none is given, as stateSignature does', () => {
    const judged = { ...base, analysis: verdict('ready') };
    const mark = savedMark(judged);
    expect(sameAsSaved(mark, judged)).toBe(true);
    expect(sameAsSaved(mark, { ...judged, analysis: verdict('blocked') })).toBe(false);
  });
});

describe('a recorded run', () => {
  it('lands in probe_runs with every column in its place (the row is bound by position)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-row-'));
    const store = openStore(join(dir, 'kw.db'));
    try {
      const at = Date.UTC(2026, 0, 10, 12, 0, 0);
      const outcomes: ProbeOutcome[] = [
        { probe: 'current_key', ok: true, durationMs: 7.4, at, facts: { valid: true } },
        { probe: 'models', ok: false, errorKind: 'upstream', status: 503, durationMs: 11.6, at },
      ];
      store.recordRun({
        at,
        key: 'kw-row-key',
        provider: 'openrouter',
        ok: false,
        failedProbe: 'models',
        errorKind: 'upstream',
        durationMs: 19.2,
        facts: { valid: true, currency: 'USD', usage: { total: 1.5, daily: 2.5, weekly: 3.5, monthly: 4.5 }, limit: 10, limitRemaining: 6.5, balance: 7.5 },
        outcomes,
      });
      store.flush();
      const row = store.db.prepare('SELECT * FROM probe_runs').get() as Record<string, unknown>;
      const { id: _id, ...columns } = row;
      expect(columns).toEqual({
        at,
        key: 'kw-row-key',
        provider: 'openrouter',
        ok: 0,
        failed_probe: 'models',
        error_kind: 'upstream',
        duration_ms: 19,
        valid: 1,
        currency: 'USD',
        usage_total: 1.5,
        usage_daily: 2.5,
        usage_weekly: 3.5,
        usage_monthly: 4.5,
        limit_value: 10,
        limit_remaining: 6.5,
        unlimited: 0,
        balance: 7.5,
        probes: '[{"probe":"current_key","ok":true,"ms":7},{"probe":"models","ok":false,"kind":"upstream","status":503,"ms":12}]',
      });
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
