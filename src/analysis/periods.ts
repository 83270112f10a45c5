/**
 * UTC spend periods as providers reset them: the day at 00:00 UTC, the week on Monday 00:00 UTC,
 * the month on the 1st 00:00 UTC (OpenRouter `usage_daily/weekly/monthly` and `limit_reset`).
 */
import type { LimitReset } from '../../probes/types.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export function periodStart(period: LimitReset, t: number): number {
  const day = Math.floor(t / DAY_MS);
  if (period === 'daily') return day * DAY_MS;
  if (period === 'weekly') {
    // 1970-01-01 was a Thursday: (day + 3) % 7 is the number of days since Monday.
    return (day - ((day + 3) % 7)) * DAY_MS;
  }
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The first reset strictly after `t`. */
export function nextPeriodStart(period: LimitReset, t: number): number {
  const start = periodStart(period, t);
  if (period === 'daily') return start + DAY_MS;
  if (period === 'weekly') return start + 7 * DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export function periodLengthMs(period: LimitReset, t: number): number {
  return nextPeriodStart(period, t) - periodStart(period, t);
}
