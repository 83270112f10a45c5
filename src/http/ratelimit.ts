/**
 * Rate-limit header parsers shared by the provider adapters. Providers disagree on how they say
 * "when does this window reset": OpenAI and Groq send Go durations relative to now (`6m0s`,
 * `2m59.56s`), Anthropic sends RFC 3339 timestamps, OpenRouter and xAI send epoch numbers (seconds
 * or milliseconds), Together and Mistral send delta seconds. Everything leaves as epoch SECONDS.
 * Unparseable values are dropped (undefined), never guessed.
 */
import type { RateLimitWindow, RateLimits } from '../../probes/types.js';

export type ResetFormat = 'duration' | 'rfc3339' | 'epoch' | 'delta_seconds' | 'auto';

const GO_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };

/**
 * A Go `time.Duration` string (`6m0s`, `2m59.56s`, `1h30m`, `12ms`, `0s`) in milliseconds.
 * A bare number is not a Go duration (Go prints `0s`, never `0`), so it returns undefined.
 */
export function parseGoDuration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '' || !/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(v)) return undefined;
  let total = 0;
  for (const part of v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
    total += Number(part[1]) * (GO_UNITS[part[2] as string] ?? 0);
  }
  return total;
}

/** An RFC 3339 / ISO 8601 timestamp (`2025-08-21T12:40:59Z`) as epoch seconds. */
export function parseRfc3339(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/**
 * An epoch number as seconds, whichever unit it came in. OpenRouter echoes `1790812800000`
 * (milliseconds) where others send seconds; anything above 1e11 cannot be seconds (year 5138).
 */
export function parseEpoch(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value.trim());
  if (!Number.isFinite(n) || n <= 0 || (typeof value === 'string' && value.trim() === '')) return undefined;
  return n > 1e11 ? n / 1000 : n;
}

/** A reset header value as epoch seconds, read the way `format` says. */
export function parseReset(value: string | undefined, format: ResetFormat, nowMs: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  switch (format) {
    case 'duration': {
      const ms = parseGoDuration(v);
      return ms === undefined ? undefined : (nowMs + ms) / 1000;
    }
    case 'rfc3339':
      return parseRfc3339(v);
    case 'epoch':
      return parseEpoch(v);
    case 'delta_seconds': {
      if (!/^\d+(\.\d+)?$/.test(v)) return undefined;
      return nowMs / 1000 + Number(v);
    }
    case 'auto': {
      const go = parseGoDuration(v);
      if (go !== undefined) return (nowMs + go) / 1000;
      const date = parseRfc3339(v);
      if (date !== undefined) return date;
      if (!/^\d+(\.\d+)?$/.test(v)) return undefined;
      const n = Number(v);
      // Big numbers are instants; small ones are "seconds from now" (a window is never 30 years).
      return n > 1e9 ? parseEpoch(v) : nowMs / 1000 + n;
    }
  }
}

function num(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '' || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

function window(limit: string | undefined, remaining: string | undefined, reset: number | undefined): RateLimitWindow | undefined {
  const w: RateLimitWindow = {};
  const l = num(limit);
  const r = num(remaining);
  if (l !== undefined && l >= 0) w.limit = l;
  if (r !== undefined && r >= 0) w.remaining = r;
  if (reset !== undefined) w.resetAt = reset;
  return Object.keys(w).length > 0 ? w : undefined;
}

/** Normalises a header's dimension suffix: `input-tokens` -> `input_tokens`. */
function dimensionName(raw: string): string {
  return raw.toLowerCase().replace(/-/g, '_');
}

/**
 * `x-ratelimit-{limit|remaining|reset}-{dimension}` (OpenAI, Groq, xAI). Dimensions are whatever
 * the provider sends (`requests`, `tokens`, `tokens_usage_based`).
 */
export function suffixRateLimits(
  headers: Record<string, string>,
  opts: { prefix?: string; reset?: ResetFormat; now: number },
): RateLimits {
  const prefix = opts.prefix ?? 'x-ratelimit-';
  const dims = new Set<string>();
  for (const name of Object.keys(headers)) {
    const m = new RegExp(`^${escape(prefix)}(limit|remaining|reset)-(.+)$`).exec(name);
    if (m?.[2]) dims.add(m[2]);
  }
  const out: RateLimits = {};
  for (const d of dims) {
    const w = window(
      headers[`${prefix}limit-${d}`],
      headers[`${prefix}remaining-${d}`],
      parseReset(headers[`${prefix}reset-${d}`], opts.reset ?? 'auto', opts.now),
    );
    if (w) out[dimensionName(d)] = w;
  }
  return out;
}

/** `anthropic-ratelimit-{dimension}-{limit|remaining|reset}` with RFC 3339 resets. */
export function infixRateLimits(
  headers: Record<string, string>,
  opts: { prefix: string; reset?: ResetFormat; now: number },
): RateLimits {
  const dims = new Set<string>();
  for (const name of Object.keys(headers)) {
    const m = new RegExp(`^${escape(opts.prefix)}(.+)-(limit|remaining|reset)$`).exec(name);
    if (m?.[1]) dims.add(m[1]);
  }
  const out: RateLimits = {};
  for (const d of dims) {
    const w = window(
      headers[`${opts.prefix}${d}-limit`],
      headers[`${opts.prefix}${d}-remaining`],
      parseReset(headers[`${opts.prefix}${d}-reset`], opts.reset ?? 'auto', opts.now),
    );
    if (w) out[dimensionName(d)] = w;
  }
  return out;
}

/**
 * One window without a dimension in the header name (`x-ratelimit-limit`, `x-ratelimit-remaining`,
 * `x-ratelimit-reset`: Moonshot, Together, OpenRouter's 429s), filed under `dimension`.
 */
export function plainRateLimit(
  headers: Record<string, string>,
  opts: { prefix?: string; dimension: string; reset?: ResetFormat; now: number },
): RateLimits {
  const prefix = opts.prefix ?? 'x-ratelimit-';
  const w = window(
    headers[`${prefix}limit`],
    headers[`${prefix}remaining`],
    parseReset(headers[`${prefix}reset`], opts.reset ?? 'auto', opts.now),
  );
  return w ? { [opts.dimension]: w } : {};
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
