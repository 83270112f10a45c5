/**
 * The OpenRouter adapter reads the usual GET /key answer without zod when a plain check passes
 * (isPlainCurrentKeyResponse), and hands anything else to zod. The plain check must never accept
 * what zod rejects, and the facts must be the same either way.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isPlainCurrentKeyResponse, keyFacts } from '../providers/openrouter/index.js';
import { CurrentKeyResponse } from '../providers/openrouter/schema.js';

const T = Date.parse('2026-03-02T10:00:00Z');
const fixture = (name: string): { data: Record<string, unknown> } =>
  JSON.parse(readFileSync(new URL(`../providers/openrouter/fixtures/${name}`, import.meta.url), 'utf8')) as { data: Record<string, unknown> };

const VALID = [fixture('key.observed.json'), fixture('key.spec-example.json')];

/** Every field of a valid answer set to values of other types, null, removed, and odd numbers. */
function mutations(base: { data: Record<string, unknown> }): unknown[] {
  const out: unknown[] = [];
  const odd = [null, undefined, 'x', '1.5', true, 0, -1, 1.25, Number.POSITIVE_INFINITY, Number.NaN, {}, [], { limit: 1, remaining: 1 }, { limit: '1', remaining: 1 }];
  for (const k of [...Object.keys(base.data), 'free_model_daily_requests', 'unknown_field']) {
    for (const v of odd) {
      const data = { ...base.data };
      if (v === undefined) delete data[k];
      else data[k] = v;
      out.push({ data });
    }
  }
  out.push(null, [], 'x', {}, { data: null }, { data: [] }, { data: 'x' });
  return out;
}

describe('OpenRouter /key: the plain check agrees with zod', () => {
  it('takes the plain path for the answers OpenRouter gives', () => {
    for (const body of VALID) expect(isPlainCurrentKeyResponse(body)).toBe(true);
  });

  it('never accepts what zod rejects, and gives the same facts as zod where it accepts', () => {
    let plain = 0;
    for (const body of VALID.flatMap(mutations)) {
      if (!isPlainCurrentKeyResponse(body)) continue;
      plain++;
      const parsed = CurrentKeyResponse.safeParse(body);

      expect(parsed.success, JSON.stringify(body)).toBe(true);
      expect(keyFacts(body.data, T)).toStrictEqual(keyFacts(parsed.data!.data, T));
    }
    expect(plain).toBeGreaterThan(20);
  });
});
