/**
 * Time to exhaustion: how long the spend limit's remainder and the account balance last at the
 * current burn rate. A limit with `limit_reset` refills: when the reset comes first the key does not
 * run out this period, so no seconds are reported for it (only, as a hint, when it would run out in
 * the next one).
 */
import type { Currency, KeyFacts, LimitReset } from '../../probes/types.js';
import { formatDuration } from '../config/duration.js';
import { HOUR_MS, nextPeriodStart, periodLengthMs } from './periods.js';
import type { BurnRate, BurnWindow, Confidence, Exhaustion, HistorySample } from './types.js';

/** The rate a projection uses: a day smooths the daily cycle; an hour or a week when that is all there is. */
export const PROJECTION_WINDOWS: readonly BurnWindow[] = ['24h', '1h', '7d'];

/** Beyond this the projection is noise: reported as not running out. */
export const MAX_PROJECTION_MS = 365 * 24 * HOUR_MS;

export function pickRate(rates: readonly BurnRate[], currency: Currency): BurnRate | undefined {
  for (const w of PROJECTION_WINDOWS) {
    const r = rates.find((x) => x.window === w && x.currency === currency);
    if (r !== undefined) return r;
  }
  return undefined;
}

/** How much history backs a rate: its covered span and how many samples it rests on. */
export function confidenceOf(rate: BurnRate | undefined): Confidence {
  if (rate === undefined) return 'none';
  if (rate.spanMs < 30 * 60_000 || rate.samples < 3) return 'low';
  if (rate.spanMs < 6 * HOUR_MS || rate.samples < 12) return 'medium';
  return 'high';
}

export interface Money {
  currency: Currency;
  limit?: number | null;
  limitRemaining?: number | null;
  limitReset?: LimitReset | null;
  /** Epoch ms of the next reset. */
  resetAt?: number;
  balance?: number;
  balanceCurrency: Currency;
}

/** A finite number (money fields may be null, missing or garbage). */
export const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The latest limit, limit remaining and balance the history holds (at or before now). */
export function lastMoney(history: readonly HistorySample[], now: number): LastMoney {
  const out: LastMoney = {};
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i]!;
    if (s.at > now) continue;
    if (!('limit' in out) && s.limit !== undefined) out.limit = s.limit;
    if (!('limitRemaining' in out) && s.limitRemaining !== undefined) out.limitRemaining = s.limitRemaining;
    if (!('balance' in out) && s.balance !== undefined) out.balance = s.balance;
    if ('limit' in out && 'limitRemaining' in out && 'balance' in out) break;
  }
  return out;
}

export interface LastMoney {
  limit?: number | null;
  limitRemaining?: number | null;
  balance?: number;
}

/** Current money facts: the live snapshot, else what the history last had. */
export function moneyOf(facts: KeyFacts, last: LastMoney, now: number, fallback: Currency): Money {
  const currency = facts.currency ?? fallback;
  const money: Money = { currency, balanceCurrency: facts.balanceCurrency ?? currency };
  money.limit = facts.limit !== undefined ? facts.limit : last.limit;
  money.limitRemaining = facts.limitRemaining !== undefined ? facts.limitRemaining : last.limitRemaining;
  money.limitReset = facts.limitReset;
  if (money.limitRemaining === undefined && num(money.limit)) {
    // Some providers report the limit but not what is left: the period's usage says it.
    const spent = facts.limitReset ? facts.usage?.[facts.limitReset] : facts.limitReset === null ? facts.usage?.total : undefined;
    if (num(spent)) money.limitRemaining = Math.max(0, money.limit - spent);
  }
  const balance = facts.balance ?? last.balance;
  if (num(balance)) money.balance = balance;
  if (num(facts.limitResetAt)) money.resetAt = facts.limitResetAt * 1000;
  else if (facts.limitReset) money.resetAt = nextPeriodStart(facts.limitReset, now);
  return money;
}

function fmtMoney(v: number, currency: Currency): string {
  return `${Number(v.toPrecision(4))} ${currency}`;
}

export function exhaustion(money: Money, rates: readonly BurnRate[], balanceRates: readonly BurnRate[], now: number): Exhaustion {
  const notes: string[] = [];
  let best: { ms: number; against: 'limit' | 'balance'; rate: BurnRate } | undefined;
  let resetsFirst = false;
  let nextPeriodSeconds: number | undefined;
  let used: BurnRate | undefined;

  const keyRate = pickRate(rates, money.currency);
  if (num(money.limitRemaining) && money.limit !== null) {
    const remaining = money.limitRemaining;
    if (remaining <= 0) {
      best = { ms: 0, against: 'limit', rate: keyRate ?? zeroRate(money.currency) };
      notes.push(`spend limit exhausted (remaining ${fmtMoney(remaining, money.currency)})`);
    } else if (keyRate === undefined || keyRate.perHour <= 0) {
      notes.push(keyRate === undefined ? 'no spend history yet' : 'not burning');
    } else {
      used = keyRate;
      const ms = (remaining / keyRate.perHour) * HOUR_MS;
      if (money.resetAt !== undefined && money.resetAt > now && money.resetAt - now <= ms) {
        resetsFirst = true;
        const every = money.limitReset ?? 'period';
        notes.push(`limit resets ${every} in ${formatDuration(money.resetAt - now)}, before it would run out (${formatDuration(ms)} at ${fmtMoney(keyRate.perHour, money.currency)}/h)`);
        if (num(money.limit) && money.limit > 0 && money.limitReset) {
          const perPeriodMs = (money.limit / keyRate.perHour) * HOUR_MS;
          if (perPeriodMs < periodLengthMs(money.limitReset, money.resetAt)) {
            nextPeriodSeconds = Math.round((money.resetAt - now + perPeriodMs) / 1000);
            notes.push(`but the full limit lasts only ${formatDuration(perPeriodMs)} of each ${money.limitReset} period at this rate`);
          }
        }
      } else if (ms <= MAX_PROJECTION_MS) {
        best = { ms, against: 'limit', rate: keyRate };
      } else {
        notes.push('limit lasts more than a year at this rate');
      }
    }
  } else if (money.limit === null || money.limitRemaining === null) {
    notes.push('no spend limit');
  }

  if (num(money.balance)) {
    // The balance falls with the whole account's spend: prefer the balance's own rate.
    const rate = pickRate(balanceRates, money.balanceCurrency) ?? pickRate(rates, money.balanceCurrency);
    if (money.balance <= 0) {
      best = { ms: 0, against: 'balance', rate: rate ?? zeroRate(money.balanceCurrency) };
      notes.push(`balance exhausted (${fmtMoney(money.balance, money.balanceCurrency)})`);
    } else if (rate !== undefined && rate.perHour > 0) {
      const ms = (money.balance / rate.perHour) * HOUR_MS;
      if (ms <= MAX_PROJECTION_MS && (best === undefined || ms < best.ms)) best = { ms, against: 'balance', rate };
      used ??= rate;
    }
  }

  if (best === undefined) {
    return {
      resetsFirst,
      confidence: confidenceOf(used ?? keyRate),
      note: notes.join('; ') || 'not burning',
      ...(nextPeriodSeconds !== undefined ? { nextPeriodSeconds } : {}),
      ...(used !== undefined ? { perHour: used.perHour, window: used.window } : {}),
    };
  }
  const seconds = Math.round(best.ms / 1000);
  const cur = best.against === 'limit' ? money.currency : money.balanceCurrency;
  if (best.ms > 0) {
    notes.unshift(
      `${best.against} runs out in ${formatDuration(best.ms)} at ${fmtMoney(best.rate.perHour, cur)}/h (${best.rate.window} rate)`,
    );
  }
  return {
    seconds,
    against: best.against,
    resetsFirst,
    confidence: best.ms === 0 ? 'high' : confidenceOf(best.rate),
    note: notes.join('; '),
    at: now + seconds * 1000,
    perHour: best.rate.perHour,
    window: best.rate.window,
    ...(nextPeriodSeconds !== undefined ? { nextPeriodSeconds } : {}),
  };
}

function zeroRate(currency: Currency): BurnRate {
  return { window: '24h', currency, perHour: 0, source: 'usage', spanMs: 0, samples: 0 };
}
