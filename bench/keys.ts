/**
 * The benchmark's key fleet, the same in the bench process and the simulator process: key i is
 * `sk-or-v1-test-bench-<i>` (obviously fake), named `bench-<i>`. A mix like a real fleet: some
 * keys with a monthly or daily limit, some unlimited, all spending slowly.
 */
import type { SimKey } from '../providers/openrouter/sim.js';
import { periodStart } from '../src/analysis/periods.js';
import type { LimitReset } from '../probes/types.js';

export const MANAGEMENT_KEY = 'sk-or-v1-test-bench-management';

export function benchKeyValue(i: number): string {
  return `sk-or-v1-test-bench-${String(i).padStart(6, '0')}`;
}

export function benchKeyName(i: number): string {
  return `bench-${String(i).padStart(6, '0')}`;
}

/**
 * Key i's limit and spending: at `anchor` it had spent `usage` (USD) in all, and it spends
 * `usagePerHour` all the time. The simulator anchors it at its start; the bench's seeded stores
 * (store-bench.ts) at the time they were built, so a daemon started on one and probing the simulator
 * finds each key spending at the rate its history says, as a restarted daemon would (until session 13
 * the history spent 0.01 USD an hour whatever the key, so every key's 1h rate was off for an hour).
 */
export function benchKey(i: number): { limit: number | null; limitReset: LimitReset | null; usage: number; usagePerHour: number } {
  const kind = i % 4;
  return {
    limit: kind === 0 ? null : kind === 1 ? 50 : 200,
    limitReset: kind === 1 ? 'daily' : kind === 2 ? 'monthly' : null,
    // 25 more than the most a key spends in 7 days (0.13 an hour), so a week of history stays above 0.
    usage: 25 + (i % 97) * 1.5,
    usagePerHour: ((i % 13) + 1) * 0.01,
  };
}

/** Key i's money at `t` with benchKey's spending anchored at `anchor`: what the simulator answers. */
export function benchMoney(i: number, t: number, anchor: number): { total: number; daily: number; weekly: number; monthly: number; limit: number | null; limitReset: LimitReset | null; limitRemaining: number | null } {
  const k = benchKey(i);
  const usageAt = (x: number): number => Math.max(0, k.usage + (k.usagePerHour * (x - anchor)) / 3_600_000);
  const total = usageAt(t);
  const daily = total - usageAt(periodStart('daily', t));
  const weekly = total - usageAt(periodStart('weekly', t));
  const monthly = total - usageAt(periodStart('monthly', t));
  const spent = k.limitReset === 'daily' ? daily : k.limitReset === 'monthly' ? monthly : total;
  return { total, daily, weekly, monthly, limit: k.limit, limitReset: k.limitReset, limitRemaining: k.limit === null ? null : Math.max(0, k.limit - spent) };
}

export function benchSimKeys(n: number): SimKey[] {
  const keys: SimKey[] = [];
  for (let i = 0; i < n; i++) keys.push({ key: benchKeyValue(i), name: benchKeyName(i), ...benchKey(i) });
  keys.push({ key: MANAGEMENT_KEY, name: 'management', management: true, listed: false });
  return keys;
}
