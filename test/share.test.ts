/**
 * share(prev, next): next's data, with every part that is the same as prev's taken from prev, and
 * new containers only on the paths to what changed. Neither input is ever written.
 */
import { describe, expect, it } from 'vitest';
import { share } from '../src/share.js';

const deepFreeze = <T>(o: T): T => {
  if (typeof o === 'object' && o !== null) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
};

const analysis = (remaining: number, checks = 3) => ({
  verdict: 'ready',
  checks: Array.from({ length: checks }, (_, i) => ({ check: `c${i}`, status: 'pass', detail: i === 1 ? `${remaining} USD left` : 'fine' })),
  matrix: { rows: [{ model: 'a/b', access: true }], count: 1 },
  identity: { provider: 'openrouter', evidence: ['header', 'path'] },
});

describe('share', () => {
  it('returns prev itself when all of it is the same data', () => {
    const prev = deepFreeze(analysis(5));

    expect(share(prev, analysis(5))).toBe(prev);
  });

  it('builds new containers only on the paths to what changed; everything else is prev', () => {
    const prev = deepFreeze(analysis(5));
    const next = deepFreeze(analysis(4));

    const out = share(prev, next);

    expect(out).toStrictEqual(next);
    expect(JSON.stringify(out)).toBe(JSON.stringify(next));
    expect(out).not.toBe(prev);
    expect(out.checks).not.toBe(prev.checks);
    expect(out.checks[1]).toBe(next.checks[1]);
    expect(out.checks[0]).toBe(prev.checks[0]);
    expect(out.checks[2]).toBe(prev.checks[2]);
    expect(out.matrix).toBe(prev.matrix);
    expect(out.identity).toBe(prev.identity);
  });

  it('keeps next where nothing of prev matches, and never writes either (both frozen here)', () => {
    const prev = deepFreeze({ a: { x: 1 }, b: [1, 2] });
    const next = deepFreeze({ a: { x: 2 }, b: [3] });

    expect(share(prev, next)).toBe(next);
  });

  it.each([
    ['a key more', { a: 1 }, { a: 1, b: 2 }],
    ['a key less', { a: 1, b: 2 }, { a: 1 }],
    ['an undefined key more', { a: 1 }, { a: 1, b: undefined }],
    ['a longer array', { a: [1] }, { a: [1, 2] }],
    ['a shorter array', { a: [1, 2] }, { a: [1] }],
    ['array vs object', { a: [] }, { a: {} }],
    ['null vs object', { a: null }, { a: {} }],
    ['a changed string', { a: { b: 'x' } }, { a: { b: 'y' } }],
    ['NaN stays next', { a: Number.NaN }, { a: Number.NaN }],
  ] as [string, object, object][])('%s: the result is next\'s data, not prev', (_what, prev, next) => {
    const out = share(deepFreeze(prev), deepFreeze(next));

    expect(out).not.toBe(prev);
    expect(out).toStrictEqual(next);
  });

  it('compares class instances by identity only', () => {
    class Box {
      constructor(readonly v: number) {}
    }
    const prev = { box: new Box(1), n: 1 };
    const next = { box: new Box(1), n: 1 };

    const out = share(prev, next);

    expect(out.box).toBe(next.box);
    expect(out).toStrictEqual(next);
  });
});
