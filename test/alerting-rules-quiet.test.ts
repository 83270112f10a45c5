/**
 * evaluate() asks a rule with no alert record only whether it holds (observeRule with full = false,
 * which builds nothing otherwise). That shortcut must agree with the full observation on every
 * state: a rule it skips must not breach, and what it returns must equal the full observation.
 */
import { describe, expect, it } from 'vitest';
import type { Thresholds } from '../src/config/schema.js';
import { emptyMemory, keyInvalid, observe, observeRule, RULES, updateMemory, type KeyMemory } from '../src/alerting/rules.js';
import { keyState, T0, type StateInput } from './fixtures/alerting/harness.js';

const DAY_S = 86_400;
const ALL: Thresholds = { limitRemainingBelow: 5, limitRemainingRatioBelow: 0.1, balanceBelow: 10, exhaustionWithin: 2 * DAY_S * 1000, stabilityBelow: 0.9, probeFailures: 3 };
const WATCH = ['a/one', 'b/two'];

const states: [string, StateInput][] = [
  ['healthy', { facts: { valid: true, limit: 100, limitRemaining: 50, balance: 40, expiresAt: null } }],
  ['invalid', { facts: { valid: false, validity: 'revoked' } }],
  ['validity unknown', { facts: { valid: undefined } }],
  ['limit low', { facts: { limit: 100, limitRemaining: 3 } }],
  ['limit exactly on the line', { facts: { limit: 100, limitRemaining: 10 } }],
  ['no limit', { facts: { limit: null, limitRemaining: null } }],
  ['balance low', { facts: { balance: 2, balanceCurrency: 'CNY' } }],
  ['expiring', { facts: { expiresAt: T0 / 1000 + 3600 } }],
  ['expired', { facts: { expiresAt: T0 / 1000 - 3600 } }],
  ['far expiry', { facts: { expiresAt: T0 / 1000 + 90 * DAY_S } }],
  ['failing', { consecutiveFailures: 4 }],
  ['unstable', { analysis: { stability: { ratio: 0.5, windowMs: 86_400_000, samples: 10, consecutiveFailures: 0, flaps: 2, failures: {} } } }],
  ['runs out soon', { analysis: { exhaustion: { seconds: 3600, against: 'limit', resetsFirst: false, confidence: 'high', note: '' } } }],
  ['runs out, no confidence', { analysis: { exhaustion: { seconds: 3600, against: 'limit', resetsFirst: false, confidence: 'none', note: '' } } }],
  ['resets first', { analysis: { exhaustion: { seconds: 3600, against: 'limit', resetsFirst: true, confidence: 'high', note: 'resets' } } }],
  ['models lost', { watchModels: WATCH, facts: { models: { count: 2, source: 'user', access: { 'a/one': false, 'b/two': true }, pricingKnown: {} } } as StateInput['facts'] }],
  ['models kept', { watchModels: WATCH, facts: { models: { count: 2, source: 'user', access: { 'a/one': true, 'b/two': true }, pricingKnown: {} } } as StateInput['facts'] }],
  ['identity', { facts: { identity: { provider: 'openai', confidence: 0.9, matchesClaim: false, evidence: [] } } }],
];
const memories: [string, KeyMemory][] = [
  ['empty memory', emptyMemory()],
  ['same provider', { provider: 'openai', hadAccess: ['a/one', 'b/two'] }],
  ['provider changed', { provider: 'openrouter', hadAccess: ['a/one'] }],
  ['changed an hour ago', { provider: 'openai', previousProvider: 'openrouter', providerChangedAt: T0 - 3_600_000, hadAccess: [] }],
  ['changed long ago', { provider: 'openai', previousProvider: 'openrouter', providerChangedAt: T0 - 30 * DAY_S * 1000, hadAccess: [] }],
];
const thresholds: [string, Thresholds][] = [
  ['all thresholds', ALL],
  ['none', {}],
];

describe('observeRule(full = false) agrees with observe()', () => {
  const cases = states.flatMap(([s, st]) => memories.flatMap(([m, memory]) => thresholds.map(([t, th]) => ({ name: `${s}, ${m}, ${t}`, st, memory, th }))));
  it.each(cases)('$name', ({ st, memory, th }) => {
    const ctx = { state: keyState(st), thresholds: th, memory, now: T0 };

    const full = observe(ctx);
    const quiet = RULES.map((rule) => observeRule(rule, ctx, false));

    RULES.forEach((rule, i) => {
      if (full[i]!.breach === true) expect(quiet[i], rule).toEqual(full[i]);
      else expect(quiet[i], rule).toBeUndefined();
    });
    expect(keyInvalid(ctx.state)).toBe(full[0]!.breach === true);
  });
});

describe('updateMemory', () => {
  it('returns the memory itself when the run changes nothing in it', () => {
    const memory: KeyMemory = { provider: 'openrouter', hadAccess: ['a/one'] };
    const state = keyState({ watchModels: WATCH, facts: { identity: { provider: 'openrouter', confidence: 1, matchesClaim: true, evidence: [] }, models: { count: 2, source: 'user', access: { 'a/one': true, 'b/two': false }, pricingKnown: {} } } as StateInput['facts'] });

    expect(updateMemory(memory, state, T0)).toBe(memory);
  });

  it.each([
    ['a new provider', { provider: 'openai', hadAccess: ['a/one'] }],
    ['a model gained', { provider: 'openrouter', hadAccess: [] }],
    ['a model no longer watched', { provider: 'openrouter', hadAccess: ['a/one', 'c/three'] }],
  ])('returns a new memory on %s, leaving the old one as it was', (_, memory: KeyMemory) => {
    const before = JSON.stringify(memory);
    const state = keyState({ watchModels: WATCH, facts: { identity: { provider: 'openrouter', confidence: 1, matchesClaim: true, evidence: [] }, models: { count: 2, source: 'user', access: { 'a/one': true, 'b/two': false }, pricingKnown: {} } } as StateInput['facts'] });

    const next = updateMemory(memory, state, T0);

    expect(next).not.toBe(memory);
    expect(JSON.stringify(memory)).toBe(before);
  });
});
