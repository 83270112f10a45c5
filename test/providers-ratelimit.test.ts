import { describe, expect, it } from 'vitest';
import { infixRateLimits, parseEpoch, parseGoDuration, parseReset, parseRfc3339, plainRateLimit, suffixRateLimits } from '../src/http/ratelimit.js';

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0);

describe('Go durations (OpenAI, Groq)', () => {
  it.each([
    ['6m0s', 360_000],
    ['2m59.56s', 179_560],
    ['7.66s', 7_660],
    ['12ms', 12],
    ['1h30m', 5_400_000],
    ['0s', 0],
  ])('%s = %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 6);
  });

  it.each(['', '6', 'abc', '6m0', '-1s', '1d'])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('instants', () => {
  it('RFC 3339 (Anthropic) to epoch seconds', () => {
    expect(parseRfc3339('2025-08-21T12:40:59Z')).toBe(Date.parse('2025-08-21T12:40:59Z') / 1000);
    expect(parseRfc3339('2025-08-21T14:40:59+02:00')).toBe(Date.parse('2025-08-21T12:40:59Z') / 1000);
    expect(parseRfc3339('tomorrow')).toBeUndefined();
  });

  it('epoch seconds and epoch milliseconds both come out in seconds', () => {
    expect(parseEpoch('1790812800000')).toBe(1790812800);
    expect(parseEpoch('1790812800')).toBe(1790812800);
    expect(parseEpoch('')).toBeUndefined();
    expect(parseEpoch('soon')).toBeUndefined();
  });

  it.each([
    ['6m0s', 'duration', NOW / 1000 + 360],
    ['2025-08-21T12:40:59Z', 'rfc3339', Date.parse('2025-08-21T12:40:59Z') / 1000],
    ['1790812800000', 'epoch', 1790812800],
    ['30', 'delta_seconds', NOW / 1000 + 30],
    ['30', 'auto', NOW / 1000 + 30],
    ['1790812800', 'auto', 1790812800],
    ['1m', 'auto', NOW / 1000 + 60],
  ] as const)('parseReset(%j, %s)', (value, format, expected) => {
    expect(parseReset(value, format, NOW)).toBe(expected);
  });
});

describe('header families', () => {
  it('x-ratelimit-{limit,remaining,reset}-{dimension}', () => {
    const headers = {
      'x-ratelimit-limit-requests': '14400',
      'x-ratelimit-remaining-requests': '14370',
      'x-ratelimit-reset-requests': '2m59.56s',
      'x-ratelimit-limit-tokens': '18000',
      'x-ratelimit-remaining-tokens': '17997',
      'x-ratelimit-reset-tokens': '7.66s',
    };

    const limits = suffixRateLimits(headers, { reset: 'duration', now: NOW });

    expect(limits.requests).toEqual({ limit: 14400, remaining: 14370, resetAt: NOW / 1000 + 179.56 });
    expect(limits.tokens).toEqual({ limit: 18000, remaining: 17997, resetAt: NOW / 1000 + 7.66 });
  });

  it('anthropic-ratelimit-{dimension}-{limit,remaining,reset}, dimensions normalised', () => {
    const headers = {
      'anthropic-ratelimit-input-tokens-limit': '80000',
      'anthropic-ratelimit-input-tokens-remaining': '79000',
      'anthropic-ratelimit-input-tokens-reset': '2025-08-21T12:40:59Z',
    };

    const limits = infixRateLimits(headers, { prefix: 'anthropic-ratelimit-', reset: 'rfc3339', now: NOW });

    expect(limits).toEqual({ input_tokens: { limit: 80000, remaining: 79000, resetAt: Date.parse('2025-08-21T12:40:59Z') / 1000 } });
  });

  it('a plain x-ratelimit-limit/remaining/reset is filed under the given dimension', () => {
    const limits = plainRateLimit({ 'x-ratelimit-limit': '50', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1790812800000' }, {
      dimension: 'requests',
      now: NOW,
    });

    expect(limits).toEqual({ requests: { limit: 50, remaining: 0, resetAt: 1790812800 } });
  });

  it('garbage values are dropped, not guessed', () => {
    const limits = suffixRateLimits({ 'x-ratelimit-limit-requests': 'lots', 'x-ratelimit-reset-requests': 'later' }, { now: NOW });

    expect(limits).toEqual({});
  });
});
