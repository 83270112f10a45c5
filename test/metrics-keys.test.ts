/**
 * Each key's /metrics lines are rendered into one buffer per key, rewritten in place when the key
 * runs again. What must hold: a render never mixes a key's old and new bytes, a key that changed is
 * shown as it is now (also when its lines get longer or shorter), and keys that left are forgotten.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';
import type { KeyState } from '../src/state.js';
import { keyState } from './helpers/state.js';

const usd = (name: string, total: number, extra: Partial<KeyState> = {}): KeyState =>
  keyState(name, { facts: { valid: true, currency: 'USD', usage: { total, daily: total / 10 } }, ...extra });

/** A render of exactly these states by a fresh Metrics (nothing cached). */
async function fresh(states: KeyState[]): Promise<string> {
  return createMetrics({ states: () => states }).render();
}

describe('per-key rendered lines', () => {
  it('shows a key as it is now after it ran again, longer or shorter', async () => {
    const wide = usd('a', 123456.789, {
      watchModels: ['openai/gpt-4o', 'anthropic/claude'],
      facts: { valid: true, currency: 'USD', usage: { total: 123456.789 }, models: { count: 2, source: 'user', access: { 'openai/gpt-4o': true }, pricingKnown: {} } },
    });
    let states = [usd('a', 1), usd('b', 2)];
    const metrics = createMetrics({ states: () => states, cacheMs: 0 });
    await metrics.render();

    states = [wide, usd('b', 2)];
    states.forEach((s) => metrics.prepare(s));
    const longer = await metrics.render();
    const longerStates = states;
    states = [usd('a', 0.5), usd('b', 3)];
    states.forEach((s) => metrics.prepare(s));
    const shorter = await metrics.render();

    expect(longer).toBe(await fresh(longerStates));
    expect(shorter).toBe(await fresh(states));
    expect(shorter).toContain('keywatch_key_usage{key="a",provider="openrouter",currency="USD",window="total"} 0.5');
    expect(shorter).not.toContain('openai/gpt-4o');
  });

  it('a render under way when a key runs again is one consistent exposition', async () => {
    const models = Array.from({ length: 50 }, (_, i) => `vendor/model-${i}`);
    const before = [usd('a', 1)];
    // Key a's lines grow several times over (far past any slack in the output buffer).
    const after = [usd('a', 987654.25, { watchModels: models, facts: { valid: true, currency: 'USD', usage: { total: 987654.25 }, models: { count: 50, source: 'user', access: {}, pricingKnown: {} } } })];
    let states = before;
    const metrics = createMetrics({ states: () => states, cacheMs: 0 });
    await metrics.render(); // every key has its buffer

    // The render starts, then (before it finishes) key a runs and its lines are rendered again.
    const rendering = metrics.render();
    states = after;
    metrics.prepare(after[0]!);
    const text = await rendering;

    expect([await fresh(before), await fresh(after)]).toContain(text);
  });

  it('forgets the lines of keys that are gone', async () => {
    let states = [usd('a', 1), usd('b', 2), usd('c', 3)];
    const metrics = createMetrics({ states: () => states, cacheMs: 0 });
    await metrics.render();
    expect(metrics.stats().cachedKeys).toBe(3);

    states = [usd('b', 2)];
    const text = await metrics.render();

    expect(metrics.stats().cachedKeys).toBe(1);
    expect(text).not.toContain('key="a"');
    expect(text).toBe(await fresh(states));
  });

  it('a provider that changes is in every line of the key', async () => {
    let states = [usd('a', 1)];
    const metrics = createMetrics({ states: () => states, cacheMs: 0 });
    await metrics.render();

    states = [usd('a', 1, { provider: 'openai-compatible' })];
    const text = await metrics.render();

    expect(text).toBe(await fresh(states));
    expect(text).not.toContain('key="a",provider="openrouter"');
  });

  it('two Metrics rendering the same watched model twice keep one line each (first place, last value)', async () => {
    const s = keyState('m', {
      watchModels: ['x/y', 'x/z', 'x/y'],
      facts: { valid: true, models: { count: 2, source: 'user', access: { 'x/y': true }, pricingKnown: {} } },
    });
    const one = createMetrics({ states: () => [s] });
    const two = createMetrics({ states: () => [s] });

    const [a, b] = [await one.render(), await two.render()];

    for (const text of [a, b]) {
      const lines = text.split('\n').filter((l) => l.startsWith('keywatch_key_model_access'));
      expect(lines).toEqual(['keywatch_key_model_access{key="m",provider="openrouter",model="x/y"} 1', 'keywatch_key_model_access{key="m",provider="openrouter",model="x/z"} 0']);
    }
  });

  it('a stream that waits on the client while every key runs again sends whole lines, the later families new', async () => {
    const keys = 1000;
    const fail = (i: number, n: number): KeyState => keyState(`key-${i}`, { consecutiveFailures: n, facts: { valid: true } });
    let states = Array.from({ length: keys }, (_, i) => fail(i, 0));
    const metrics = createMetrics({ states: () => states });
    const chunks: Buffer[] = [];

    await metrics.stream(async (chunk) => {
      chunks.push(chunk);
      if (chunks.length === 1) {
        // While the first chunk is being sent, every key runs: far longer lines than before.
        states = Array.from({ length: keys }, (_, i) => fail(i, 123_456_789 + i));
        for (const s of states) metrics.prepare(s);
        await new Promise((r) => setImmediate(r));
      }
      return true;
    });
    const text = Buffer.concat(chunks).toString('utf8');

    const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines.filter((l) => !/^[a-z_]+(\{[^{}]*\})? -?[0-9.e+-]+$/.test(l))).toEqual([]);
    const failures = lines.filter((l) => l.startsWith('keywatch_key_consecutive_failures{'));
    expect(failures).toHaveLength(keys);
    failures.forEach((l, i) => expect(l).toBe(`keywatch_key_consecutive_failures{key="key-${i}",provider="openrouter"} ${123_456_789 + i}`));
  });
});
