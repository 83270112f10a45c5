/**
 * A steady run written into the key's state in place (src/steady.ts): it must come out as the state
 * the usual merge builds, and every run that is not steady must leave the state untouched.
 */
import { describe, expect, it } from 'vitest';
import { figuresMoved } from '../src/daemon.js';
import { mergeFacts, type RunResult } from '../src/runner.js';
import { withoutFacts, type KeyState } from '../src/state.js';
import { updateInPlace } from '../src/steady.js';
import type { Identity, KeyFacts, ModelAccess, ProbeOutcome } from '../probes/types.js';
import { keyState } from './helpers/state.js';

const T0 = Date.UTC(2026, 11, 5, 12);
const identity: Identity = { provider: 'openrouter', confidence: 1, matchesClaim: true, evidence: [{ signal: 'a test', provider: 'openrouter', weight: 1 }] };
const models: ModelAccess = { count: 2, source: 'user', access: { 'm/a': true }, pricingKnown: { 'm/a': true } };

/** A key after a good run at T0, as the daemon's states hold it. */
function previous(over: Partial<KeyState> = {}): KeyState {
  return keyState('k', {
    labels: { team: 'blue' },
    watchModels: ['m/a'],
    facts: {
      valid: true,
      currency: 'USD',
      usage: { total: 10, daily: 1, weekly: 2, monthly: 3 },
      byokUsage: { total: 0 },
      limit: 100,
      limitRemaining: 90,
      limitReset: null,
      isFreeTier: false,
      identity,
      models,
    },
    probes: {
      current_key: { probe: 'current_key', ok: true, durationMs: 3, at: T0 },
      models: { probe: 'models', ok: true, durationMs: 5, at: T0 - 1000 },
    },
    lastSuccessAt: { current_key: T0, models: T0 - 1000 },
    lastRunAt: T0,
    ...over,
  });
}

/** A run a minute on whose /key answer says `facts` (a fresh object each time, as an adapter's is). */
function run(facts: KeyFacts, over: Partial<RunResult> = {}, outcome: Partial<ProbeOutcome> = {}): RunResult {
  const at = T0 + 60_000;
  const o: ProbeOutcome = { probe: 'current_key', ok: true, durationMs: 4, at, facts, ...outcome };
  return { key: 'k', claimedProvider: 'openrouter', provider: 'openrouter', startedAt: at, durationMs: 4, outcomes: [o], facts, ok: true, allFailed: false, rateLimited: false, ...over };
}

/** The next /key answer's facts: the previous ones spent on, in new objects (an identity of the same data). */
const steadyFacts = (): KeyFacts => {
  const { models: _models, ...facts } = structuredClone(previous().facts);
  return { ...facts, usage: { total: 10.5, daily: 1.5, weekly: 2.5, monthly: 3.5 }, limitRemaining: 89.5 };
};

/** The state the daemon builds for a run that is not written in place (src/daemon.ts apply1). */
function merged(prev: KeyState, r: RunResult, meta: Pick<KeyState, 'labels' | 'watchModels'>): KeyState {
  const probes: KeyState['probes'] = { ...prev.probes };
  const lastSuccessAt = { ...prev.lastSuccessAt };
  for (const o of r.outcomes) {
    probes[o.probe] = withoutFacts(o);
    if (o.ok) lastSuccessAt[o.probe] = o.at;
  }
  return {
    ...prev,
    claimedProvider: r.claimedProvider,
    provider: r.provider,
    labels: meta.labels,
    watchModels: meta.watchModels,
    facts: mergeFacts(prev.facts, r.facts),
    probes,
    lastSuccessAt,
    lastRunAt: r.startedAt,
    consecutiveFailures: r.allFailed ? prev.consecutiveFailures + 1 : 0,
  };
}

describe('updateInPlace', () => {
  it('writes a steady run into the state: the same objects, and the state the usual merge builds', () => {
    const state = previous();
    const { facts, probes, lastSuccessAt } = state;
    const usage = facts.usage;
    const meta = { labels: state.labels, watchModels: state.watchModels };
    const r = run(steadyFacts());
    const expected = merged(structuredClone(state), r, meta);

    expect(updateInPlace(state, r, meta)).toBe(true);

    expect(state).toEqual(expected);
    expect(state.facts).toBe(facts);
    expect(state.facts.usage).toBe(usage);
    expect(state.probes).toBe(probes);
    expect(state.lastSuccessAt).toBe(lastSuccessAt);
    // The same data in a new object stays the state's own (share's rule); the run's objects are not taken.
    expect(state.facts.identity).toBe(identity);
    expect(state.facts.usage).not.toBe(r.facts.usage);
    expect(state.probes.current_key).not.toBe(r.outcomes[0]);
    expect(state.probes.current_key).toEqual({ probe: 'current_key', ok: true, durationMs: 4, at: T0 + 60_000 });
    // A probe the run did not make (the model list, still fresh) is left as it was.
    expect(state.probes.models).toEqual({ probe: 'models', ok: true, durationMs: 5, at: T0 - 1000 });
    expect(state.facts.models).toBe(models);
  });

  it('a run that learnt nothing new changes only its times', () => {
    const state = previous();
    const facts = structuredClone(state.facts);
    expect(updateInPlace(state, run(structuredClone(facts)), { labels: state.labels, watchModels: state.watchModels })).toBe(true);
    expect(state.facts).toEqual(facts);
    expect(state.lastRunAt).toBe(T0 + 60_000);
  });

  const cases: [string, () => { state: KeyState; result: RunResult; meta?: Pick<KeyState, 'labels' | 'watchModels'> }][] = [
    ["the key's first run (nothing to write into: emptyState)", () => ({ state: keyState('k'), result: run(steadyFacts()) })],
    ['a failed probe', () => ({ state: previous(), result: run({}, { ok: false }, { ok: false, errorKind: 'timeout', message: 'no answer' }) })],
    ['the key refused', () => ({ state: previous(), result: run({ valid: false, validity: 'revoked' }, { ok: false, errorKind: 'invalid' }) })],
    ['every probe failed', () => ({ state: previous(), result: run({}, { ok: false, allFailed: true }, { ok: false, errorKind: 'upstream' }) })],
    ['the first good run after failures', () => ({ state: previous({ consecutiveFailures: 2 }), result: run(steadyFacts()) })],
    [
      'a probe outcome in the state failed last time',
      () => ({ state: previous({ probes: { ...previous().probes, models: { probe: 'models', ok: false, errorKind: 'timeout', durationMs: 9, at: T0 } } }), result: run(steadyFacts()) }),
    ],
    ['a probe the state has no outcome for', () => ({ state: previous(), result: run(steadyFacts(), {}, { probe: 'balance_snapshot' }) })],
    ['a Retry-After on a good answer', () => ({ state: previous(), result: run(steadyFacts(), {}, { retryAfterMs: 1000 }) })],
    ['another provider answering', () => ({ state: previous(), result: run(steadyFacts(), { provider: 'openai' }) })],
    ['another claimed provider', () => ({ state: previous(), result: run(steadyFacts(), { claimedProvider: 'auto' }) })],
    ['new labels (a reload)', () => ({ state: previous(), result: run(steadyFacts()), meta: { labels: { team: 'red' }, watchModels: ['m/a'] } })],
    ['new watched models (a reload)', () => ({ state: previous(), result: run(steadyFacts()), meta: { labels: previous().labels, watchModels: ['m/b'] } })],
    ['a new limit', () => ({ state: previous(), result: run({ ...steadyFacts(), limit: 200 }) })],
    ['the limit removed', () => ({ state: previous(), result: run({ ...steadyFacts(), limit: null }) })],
    ['another limit period', () => ({ state: previous(), result: run({ ...steadyFacts(), limitReset: 'monthly' }) })],
    ['another currency', () => ({ state: previous(), result: run({ ...steadyFacts(), currency: 'CNY' }) })],
    ['a daily reset (a usage window fell)', () => ({ state: previous(), result: run({ ...steadyFacts(), usage: { total: 10.5, daily: 0, weekly: 2.5, monthly: 3.5 } }) })],
    ['a new usage window', () => ({ state: previous({ facts: { ...previous().facts, usage: { total: 10 } } }), result: run(steadyFacts()) })],
    ['a top-up (the balance rose)', () => ({ state: previous({ facts: { ...previous().facts, balance: 5 } }), result: run({ ...steadyFacts(), balance: 50 }) })],
    ['a fact the state did not have', () => ({ state: previous(), result: run({ ...steadyFacts(), expiresAt: T0 + 86_400_000 }) })],
    ['another identity', () => ({ state: previous(), result: run({ ...steadyFacts(), identity: { ...identity, provider: 'openai', matchesClaim: false } }) })],
    ['a new model list', () => ({ state: previous(), result: run({ ...steadyFacts(), models: { ...models, count: 1 } }) })],
    ['a label renamed (a string)', () => ({ state: previous({ facts: { ...previous().facts, label: 'old' } }), result: run({ ...steadyFacts(), label: 'new' }) })],
    ['a number where the state has none', () => ({ state: previous({ facts: { ...previous().facts, limitRemaining: null } }), result: run(steadyFacts()) })],
  ];

  it.each(cases)('%s: not steady, the state is left untouched', (_name, make) => {
    const { state, result, meta } = make();
    const m = meta ?? { labels: state.labels, watchModels: state.watchModels };
    const before = structuredClone(state);
    expect(updateInPlace(state, result, m)).toBe(false);
    expect(state).toEqual(before);
  });

  it('a steady run never moves the history figures (figuresMoved is false for every case above that is written in place)', () => {
    for (const [, make] of cases) {
      const { state, result, meta } = make();
      const m = meta ?? { labels: state.labels, watchModels: state.watchModels };
      const next = merged(state, result, m);
      if (figuresMoved(state, next, result)) expect(updateInPlace(structuredClone(state), result, m)).toBe(false);
    }
    const state = previous();
    const r = run(steadyFacts());
    expect(figuresMoved(state, merged(state, r, state), r)).toBe(false);
  });
});
