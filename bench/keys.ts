/**
 * The benchmark's key fleet, the same in the bench process and the simulator process: key i is
 * `sk-or-v1-test-bench-<i>` (obviously fake), named `bench-<i>`. A mix like a real fleet: some
 * keys with a monthly or daily limit, some unlimited, all spending slowly.
 */
import type { SimKey } from '../providers/openrouter/sim.js';

export const MANAGEMENT_KEY = 'sk-or-v1-test-bench-management';

export function benchKeyValue(i: number): string {
  return `sk-or-v1-test-bench-${String(i).padStart(6, '0')}`;
}

export function benchKeyName(i: number): string {
  return `bench-${String(i).padStart(6, '0')}`;
}

export function benchSimKeys(n: number): SimKey[] {
  const keys: SimKey[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    keys.push({
      key: benchKeyValue(i),
      name: benchKeyName(i),
      limit: kind === 0 ? null : kind === 1 ? 50 : 200,
      limitReset: kind === 1 ? 'daily' : kind === 2 ? 'monthly' : null,
      usage: (i % 97) * 1.5,
      usagePerHour: ((i % 13) + 1) * 0.01,
    });
  }
  keys.push({ key: MANAGEMENT_KEY, name: 'management', management: true, listed: false });
  return keys;
}
