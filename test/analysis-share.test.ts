/**
 * judgeKey lends the previous analysis' parts to the new one where they came out the same, so what
 * a key's state keeps is mostly what it already held; the data must be exactly what a fresh
 * judgement gives.
 */
import { describe, expect, it } from 'vitest';
import { analyzeKey } from '../src/analysis/index.js';
import { share } from '../src/share.js';
import { keyState, T0 } from './fixtures/alerting/harness.js';

const figures = (now: number) => analyzeKey.figures({ state: keyState(), history: [], now, stabilityWindowMs: 86_400_000 });
const input = (state: ReturnType<typeof keyState>, now: number) => ({ state, now, thresholds: {}, stabilityWindowMs: 86_400_000, readinessHorizonMs: 7 * 86_400_000 });

describe('judgeKey structural sharing', () => {
  it('returns the previous analysis when nothing changed, and equal data to a fresh one', () => {
    const f = figures(T0);
    const first = analyzeKey.judge(input(keyState(), T0), f);

    const again = analyzeKey.judge(input({ ...keyState(), analysis: first }, T0), f);

    expect(again).toBe(first);
    expect(JSON.stringify(again)).toBe(JSON.stringify(analyzeKey.judge(input(keyState(), T0), f)));
  });

  it('shares the unchanged parts and builds the changed ones', () => {
    const f = figures(T0);
    const first = analyzeKey.judge(input(keyState(), T0), f);
    const moved = keyState({ facts: { limitRemaining: 5 } });

    const next = analyzeKey.judge(input({ ...moved, analysis: first }, T0), f);

    expect(next).not.toBe(first);
    expect(next.modelMatrix).toBe(first.modelMatrix);
    expect(next.limitMatrix).not.toBe(first.limitMatrix);
    expect(JSON.stringify(next)).toBe(JSON.stringify(analyzeKey.judge(input(moved, T0), f)));
  });

  it.each([
    [{ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] }, true],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [{ a: [1] }, { a: [1, 2] }, false],
    [{ a: { b: 'x' } }, { a: { b: 'y' } }, false],
    [[], {}, false],
  ])('share(%j, %j) keeps the previous: %s', (prev, next, kept) => {
    expect(share(prev, next) === prev).toBe(kept);
  });
});
