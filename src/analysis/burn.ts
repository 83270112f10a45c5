/**
 * Burn rate: spend per hour over the last 1h / 24h / 7d, per currency, reset-aware.
 *
 * History is turned into spend segments (start, end, amount) between consecutive samples, from the
 * best signal each pair of samples has:
 *  1. the monotonic all-time usage (`usage`): the delta; a drop means the counter was replaced, so
 *     that pair tells nothing (never negative spend);
 *  2. the usage windows (`usage_windows`): the delta of the smallest window both samples share a
 *     UTC period of; when every window crossed its reset, the later value is the spend since the
 *     reset, so the segment starts at the boundary (a drop across a boundary is a reset);
 *  3. the balance (`balance`): the decrease; an increase is a top-up, so that pair tells nothing.
 * A window's rate is the time-weighted mean of the segments overlapping it, each clipped to the
 * window. Raw runs and hourly rollups work alike: a rollup carries the last values of its hour.
 */
import type { Currency, LimitReset } from '../../probes/types.js';
import { HOUR_MS, periodStart } from './periods.js';
import type { BurnRate, BurnWindow, HistorySample } from './types.js';
import { BURN_WINDOWS } from './types.js';

export const WINDOW_MS: Record<BurnWindow, number> = { '1h': HOUR_MS, '24h': 24 * HOUR_MS, '7d': 7 * 24 * HOUR_MS };

/** A pair of samples implying more than this per hour is a glitch (key swapped, counter garbage). */
export const MAX_PLAUSIBLE_PER_HOUR = 1e6;

export type SpendSource = BurnRate['source'];

export interface Segment {
  start: number;
  end: number;
  amount: number;
  currency: Currency;
  source: SpendSource;
  /** Index of the later sample, to count distinct samples. */
  sample: number;
}

const WINDOW_FIELDS: readonly { period: LimitReset; field: 'usageDaily' | 'usageWeekly' | 'usageMonthly' }[] = [
  { period: 'daily', field: 'usageDaily' },
  { period: 'weekly', field: 'usageWeekly' },
  { period: 'monthly', field: 'usageMonthly' },
];

function num(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Spend the key itself made between two samples, from usage or usage windows. */
function usageSegment(a: HistorySample, b: HistorySample): Omit<Segment, 'currency' | 'sample'> | undefined {
  if (num(a.usageTotal) && num(b.usageTotal)) {
    const d = b.usageTotal - a.usageTotal;
    return d >= 0 ? { start: a.at, end: b.at, amount: d, source: 'usage' } : undefined;
  }
  const both = WINDOW_FIELDS.filter(({ field }) => num(a[field]) && num(b[field]));
  for (const { period, field } of both) {
    if (periodStart(period, a.at) === periodStart(period, b.at)) {
      const d = (b[field] as number) - (a[field] as number);
      return d >= 0 ? { start: a.at, end: b.at, amount: d, source: 'usage_windows' } : undefined;
    }
  }
  const first = both[0];
  if (first === undefined) return undefined;
  const before = a[first.field] as number;
  const after = b[first.field] as number;
  if (after >= before) {
    // No drop although a reset passed: the provider's cached figure has not reset yet
    // (OpenRouter may lag up to a minute), so it is still the old period's running total.
    return { start: a.at, end: b.at, amount: after - before, source: 'usage_windows' };
  }
  // Reset between the two: `after` is exactly what was spent since the boundary.
  return { start: periodStart(first.period, b.at), end: b.at, amount: after, source: 'usage_windows' };
}

function balanceSegment(a: HistorySample, b: HistorySample): Omit<Segment, 'currency' | 'sample'> | undefined {
  if (!num(a.balance) || !num(b.balance)) return undefined;
  const d = a.balance - b.balance;
  // An increase is a top-up: the spend inside that pair is unknowable, so it is left out.
  return d >= 0 ? { start: a.at, end: b.at, amount: d, source: 'balance' } : undefined;
}

function plausible(s: Omit<Segment, 'currency' | 'sample'>): boolean {
  const dt = s.end - s.start;
  return dt > 0 && Number.isFinite(s.amount) && s.amount >= 0 && (s.amount / dt) * HOUR_MS <= MAX_PLAUSIBLE_PER_HOUR;
}

// Built field by field: an object spread plus extra fields is many times slower in V8 and this
// runs once per sample per analysis (the daemon analyses every key after every run).
function segment(s: Omit<Segment, 'currency' | 'sample'>, currency: Currency, sample: number): Segment {
  return { start: s.start, end: s.end, amount: s.amount, source: s.source, currency, sample };
}

/**
 * Spend segments from history (oldest first), split by what they measure: the key's own usage,
 * and the account balance (which falls with every key of the account).
 */
export function spendSegments(
  history: readonly HistorySample[],
  now: number,
  fallbackCurrency: Currency,
): { usage: Segment[]; balance: Segment[] } {
  const usage: Segment[] = [];
  const balance: Segment[] = [];
  let prev: { s: HistorySample; i: number } | undefined;
  let prevBalance: { s: HistorySample; i: number } | undefined;
  for (let i = 0; i < history.length; i++) {
    const s = history[i]!;
    if (!(s.at <= now)) continue;
    const currency = s.currency ?? fallbackCurrency;
    const hasUsage = num(s.usageTotal) || WINDOW_FIELDS.some(({ field }) => num(s[field]));
    if (hasUsage) {
      if (prev !== undefined && (prev.s.currency ?? fallbackCurrency) === currency && s.at > prev.s.at) {
        const seg = usageSegment(prev.s, s);
        if (seg !== undefined && plausible(seg)) usage.push(segment(seg, currency, i));
      }
      prev = { s, i };
    }
    if (num(s.balance)) {
      if (prevBalance !== undefined && (prevBalance.s.currency ?? fallbackCurrency) === currency && s.at > prevBalance.s.at) {
        const seg = balanceSegment(prevBalance.s, s);
        if (seg !== undefined && plausible(seg)) balance.push(segment(seg, currency, i));
      }
      prevBalance = { s, i };
    }
  }
  return { usage, balance };
}

/** Time-weighted spend per hour of the segments overlapping [now - windowMs, now], per currency. */
export function rateOver(
  segments: readonly Segment[],
  window: BurnWindow,
  now: number,
): Map<Currency, BurnRate> {
  const from = now - WINDOW_MS[window];
  // Each segment ends on a different sample, so counting segments counts samples.
  const acc = new Map<Currency, { spend: number; covered: number; segments: number; usage: boolean; windows: boolean }>();
  for (const seg of segments) {
    const lo = seg.start > from ? seg.start : from;
    const hi = seg.end < now ? seg.end : now;
    const overlap = hi - lo;
    if (overlap <= 0) continue;
    let a = acc.get(seg.currency);
    if (a === undefined) {
      a = { spend: 0, covered: 0, segments: 0, usage: false, windows: false };
      acc.set(seg.currency, a);
    }
    a.spend += seg.amount * (overlap / (seg.end - seg.start));
    a.covered += overlap;
    a.segments++;
    if (seg.source === 'usage') a.usage = true;
    else if (seg.source === 'usage_windows') a.windows = true;
  }
  const out = new Map<Currency, BurnRate>();
  for (const [currency, a] of acc) {
    if (a.covered <= 0) continue;
    out.set(currency, {
      window,
      currency,
      perHour: Math.max(0, (a.spend / a.covered) * HOUR_MS),
      source: a.usage ? 'usage' : a.windows ? 'usage_windows' : 'balance',
      spanMs: a.covered,
      // A segment joins two samples; n segments in a row rest on n + 1 samples.
      samples: a.segments + 1,
    });
  }
  return out;
}

export interface BurnAnalysis {
  /** One per window and currency: the key's own usage when known, else the balance. */
  rates: BurnRate[];
  /** Balance-derived rates (account-wide spend), for runway against the balance. */
  balanceRates: BurnRate[];
}

export function burnRates(history: readonly HistorySample[], now: number, fallbackCurrency: Currency): BurnAnalysis {
  const segs = spendSegments(history, now, fallbackCurrency);
  const rates: BurnRate[] = [];
  const balanceRates: BurnRate[] = [];
  for (const window of BURN_WINDOWS) {
    const fromUsage = rateOver(segs.usage, window, now);
    const fromBalance = rateOver(segs.balance, window, now);
    balanceRates.push(...fromBalance.values());
    rates.push(...fromUsage.values());
    for (const [currency, r] of fromBalance) if (!fromUsage.has(currency)) rates.push(r);
  }
  return { rates, balanceRates };
}
