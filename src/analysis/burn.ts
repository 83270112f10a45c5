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
  /** `at` of the earlier of its two samples: a history read from after it does not hold this pair. */
  from: number;
  /**
   * The samples its later one stands for, when more than one: a current hour read as its rollup
   * (HistorySample.detailSamples), whose runs a detailed read would have counted one by one.
   */
  samples?: number;
}

const WINDOW_FIELDS: readonly { period: LimitReset; field: 'usageDaily' | 'usageWeekly' | 'usageMonthly' }[] = [
  { period: 'daily', field: 'usageDaily' },
  { period: 'weekly', field: 'usageWeekly' },
  { period: 'monthly', field: 'usageMonthly' },
];

function num(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

// The segment builders below allocate the Segment itself and nothing else (no intermediate objects,
// closures or filtered arrays): they run for every pair of samples of a week of history, each time a
// key's history figures are read again.

/** Spend the key itself made between samples a and b, from usage or usage windows. */
function usageSegment(a: HistorySample, b: HistorySample, currency: Currency): Segment | undefined {
  const from = a.at;
  if (num(a.usageTotal) && num(b.usageTotal)) {
    const d = b.usageTotal - a.usageTotal;
    return d >= 0 ? plausible({ start: a.at, end: b.at, amount: d, source: 'usage', currency, from }) : undefined;
  }
  // The smallest window both samples have and share a UTC period of; else the first they both have.
  let first: (typeof WINDOW_FIELDS)[number] | undefined;
  for (const w of WINDOW_FIELDS) {
    const before = a[w.field];
    const after = b[w.field];
    if (!num(before) || !num(after)) continue;
    first ??= w;
    if (periodStart(w.period, a.at) === periodStart(w.period, b.at)) {
      const d = after - before;
      return d >= 0 ? plausible({ start: a.at, end: b.at, amount: d, source: 'usage_windows', currency, from }) : undefined;
    }
  }
  if (first === undefined) return undefined;
  const before = a[first.field] as number;
  const after = b[first.field] as number;
  if (after >= before) {
    // No drop although a reset passed: the provider's cached figure has not reset yet
    // (OpenRouter may lag up to a minute), so it is still the old period's running total.
    return plausible({ start: a.at, end: b.at, amount: after - before, source: 'usage_windows', currency, from });
  }
  // Reset between the two: `after` is exactly what was spent since the boundary.
  return plausible({ start: periodStart(first.period, b.at), end: b.at, amount: after, source: 'usage_windows', currency, from });
}

function balanceSegment(a: HistorySample, b: HistorySample, currency: Currency): Segment | undefined {
  if (!num(a.balance) || !num(b.balance)) return undefined;
  const d = a.balance - b.balance;
  // An increase is a top-up: the spend inside that pair is unknowable, so it is left out.
  return d >= 0 ? plausible({ start: a.at, end: b.at, amount: d, source: 'balance', currency, from: a.at }) : undefined;
}

/** The segment, or undefined when it is not plausible spend (no time, not finite, or too fast). */
function plausible(s: Segment): Segment | undefined {
  const dt = s.end - s.start;
  return dt > 0 && Number.isFinite(s.amount) && s.amount >= 0 && (s.amount / dt) * HOUR_MS <= MAX_PLAUSIBLE_PER_HOUR ? s : undefined;
}

function hasUsage(s: HistorySample): boolean {
  return num(s.usageTotal) || num(s.usageDaily) || num(s.usageWeekly) || num(s.usageMonthly);
}

/**
 * Spend segments from history (oldest first), split by what they measure: the key's own usage,
 * and the account balance (which falls with every key of the account). `before` holds the samples
 * that precede the history (see FarBurn): the newest with usage and the newest with a balance.
 */
export function spendSegments(
  history: readonly HistorySample[],
  now: number,
  fallbackCurrency: Currency,
  before: { usage?: HistorySample | undefined; balance?: HistorySample | undefined } = {},
): { usage: Segment[]; balance: Segment[] } {
  const usage: Segment[] = [];
  const balance: Segment[] = [];
  // The last sample with usage and the last with a balance.
  let prev = before.usage;
  let prevBalance = before.balance;
  for (let i = 0; i < history.length; i++) {
    const s = history[i]!;
    if (!(s.at <= now)) continue;
    const currency = s.currency ?? fallbackCurrency;
    if (hasUsage(s)) {
      if (prev !== undefined && (prev.currency ?? fallbackCurrency) === currency && s.at > prev.at) {
        const seg = usageSegment(prev, s, currency);
        if (seg !== undefined) usage.push(standsFor(seg, s));
      }
      prev = s;
    }
    if (num(s.balance)) {
      if (prevBalance !== undefined && (prevBalance.currency ?? fallbackCurrency) === currency && s.at > prevBalance.at) {
        const seg = balanceSegment(prevBalance, s, currency);
        if (seg !== undefined) balance.push(standsFor(seg, s));
      }
      prevBalance = s;
    }
  }
  return { usage, balance };
}

/** A window's running sums for one currency (what rateOver adds up). */
export interface SpendSum {
  spend: number;
  covered: number;
  segments: number;
  usage: boolean;
  windows: boolean;
}

/**
 * The spend segments of a key's history before a cut, kept for the 7d window while the history
 * after the cut is read again (see farBurn): the segments that are whole in the window until
 * `validUntil`, summed, and the few near the window's start, as segments.
 */
export interface FarSpend {
  /** Segments whose earlier sample leaves the read range (now - 7d) before validUntil. */
  edge: Segment[];
  /** Sums of the other segments, per currency, in the order the currencies first appear. */
  interior: Map<Currency, SpendSum>;
  /** The newest sample before the cut with this signal: the first later sample pairs with it. */
  last: HistorySample | undefined;
}

export interface FarBurn {
  /** Samples from here on are not in it (they are read again each time). */
  cut: number;
  validUntil: number;
  usage: FarSpend;
  balance: FarSpend;
}

/**
 * The burn part of `history` (the samples older than `cut`, oldest first, of a week read from
 * `t0 - 7d` on) for any `now` in [t0, validUntil): with burnRates(near, now, fallback, far) over
 * the samples from `cut` on, the rates are those of burnRates over the whole week read at `now`
 * (sums in another order). Only the 7d window reaches before the cut: the caller keeps `cut` at
 * least 24 h before t0.
 */
export function farBurn(history: readonly HistorySample[], cut: number, validUntil: number, fallbackCurrency: Currency): FarBurn {
  const segs = spendSegments(history, cut, fallbackCurrency);
  const part = (segments: Segment[], signal: (s: HistorySample) => boolean): FarSpend => {
    const edge: Segment[] = [];
    const interior = new Map<Currency, SpendSum>();
    // Whole in the 7d window as long as its earlier sample is in the read range (from >= now - 7d).
    const whole = validUntil - WINDOW_MS['7d'];
    for (const seg of segments) {
      if (seg.from < whole) edge.push(seg);
      else add(interior, seg, seg.end - seg.start, seg.amount);
    }
    let last: HistorySample | undefined;
    for (let i = history.length - 1; i >= 0 && last === undefined; i--) if (signal(history[i]!)) last = history[i];
    return { edge, interior, last };
  };
  return { cut, validUntil, usage: part(segs.usage, hasUsage), balance: part(segs.balance, (s) => num(s.balance)) };
}

/** The segment, counting the samples its later one stands for (see Segment.samples). */
function standsFor(seg: Segment, later: HistorySample): Segment {
  if (later.detailSamples !== undefined && later.detailSamples > 1) seg.samples = later.detailSamples;
  return seg;
}

function add(acc: Map<Currency, SpendSum>, seg: Segment, overlap: number, spend: number): void {
  let a = acc.get(seg.currency);
  if (a === undefined) {
    a = { spend: 0, covered: 0, segments: 0, usage: false, windows: false };
    acc.set(seg.currency, a);
  }
  a.spend += spend;
  a.covered += overlap;
  a.segments += seg.samples ?? 1;
  if (seg.source === 'usage') a.usage = true;
  else if (seg.source === 'usage_windows') a.windows = true;
}

/**
 * Time-weighted spend per hour of the segments overlapping [now - windowMs, now], per currency.
 * With `far`, its segments come first (they are older): those whose earlier sample is at or after
 * `since` (the start of the history read now), then its sums.
 */
export function rateOver(
  segments: readonly Segment[],
  window: BurnWindow,
  now: number,
  far?: FarSpend,
  since = -Infinity,
): Map<Currency, BurnRate> {
  const from = now - WINDOW_MS[window];
  // Each segment ends on a different sample, so counting segments counts samples.
  const acc = new Map<Currency, SpendSum>();
  const overlapping = (seg: Segment): void => {
    const lo = seg.start > from ? seg.start : from;
    const hi = seg.end < now ? seg.end : now;
    const overlap = hi - lo;
    if (overlap > 0) add(acc, seg, overlap, seg.amount * (overlap / (seg.end - seg.start)));
  };
  if (far !== undefined) {
    for (const seg of far.edge) if (seg.from >= since) overlapping(seg);
    for (const [currency, f] of far.interior) {
      const a = acc.get(currency);
      if (a === undefined) acc.set(currency, { ...f });
      else {
        a.spend += f.spend;
        a.covered += f.covered;
        a.segments += f.segments;
        a.usage ||= f.usage;
        a.windows ||= f.windows;
      }
    }
  }
  for (const seg of segments) overlapping(seg);
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

/**
 * Burn rates from history read from `since` on. With `far` (farBurn), `history` holds only the
 * samples from far.cut on and `far` the rest of the week.
 */
export function burnRates(history: readonly HistorySample[], now: number, fallbackCurrency: Currency, far?: FarBurn, since = -Infinity): BurnAnalysis {
  const before = (s: HistorySample | undefined): HistorySample | undefined => (s !== undefined && s.at >= since ? s : undefined);
  const segs = spendSegments(history, now, fallbackCurrency, far === undefined ? {} : { usage: before(far.usage.last), balance: before(far.balance.last) });
  const rates: BurnRate[] = [];
  const balanceRates: BurnRate[] = [];
  for (const window of BURN_WINDOWS) {
    const reachesFar = far !== undefined && now - WINDOW_MS[window] < far.cut;
    const fromUsage = rateOver(segs.usage, window, now, reachesFar ? far.usage : undefined, since);
    const fromBalance = rateOver(segs.balance, window, now, reachesFar ? far.balance : undefined, since);
    balanceRates.push(...fromBalance.values());
    rates.push(...fromUsage.values());
    for (const [currency, r] of fromBalance) if (!fromUsage.has(currency)) rates.push(r);
  }
  return { rates, balanceRates };
}
