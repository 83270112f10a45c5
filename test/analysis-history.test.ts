/**
 * The small correctness version of bench/history.ts: the same generated fleet history written
 * through the real store (raw runs rolled up hourly after 48h), read back and analysed. Rates must
 * match what the generator spends, across the rollup/raw boundary. No timing asserts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyseKey, generateHistory, keyName, limitOf, perHour } from '../bench/history.js';
import { openStore, type Store } from '../src/store/index.js';

const DAY = 86_400_000;
const END = Date.UTC(2026, 8, 30, 12, 0, 0);
const DAYS = 4;
const KEYS = 3;

let dir: string;
let store: Store;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-analysis-history-'));
  store = openStore(join(dir, 'history.db'), { maxBatch: 5000, flushIntervalMs: 3_600_000 });
  generateHistory(store, { keys: KEYS, days: DAYS, intervalMs: 5 * 60_000, end: END });
});

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('generated fleet history through the store', () => {
  it('keeps raw runs for 48h and an hourly rollup for every hour (rollups are eager)', () => {
    const oldestRaw = store.db.prepare('SELECT min(at) AS at FROM probe_runs').get() as { at: number };
    const rollups = store.db.prepare('SELECT count(*) AS n FROM rollups WHERE key = ?').get(keyName(0)) as { n: number };

    expect(oldestRaw.at).toBeGreaterThanOrEqual(END - 2 * DAY - 3_600_000);
    expect(rollups.n).toBe(DAYS * 24 + 1); // the last run is at END, on the hour
  });

  it.each(Array.from({ length: KEYS }, (_, i) => i))('key %i: every window gives the generated rate, across rollups and raw', (i) => {
    const { analysis, samples } = analyseKey(store, i, END, END - DAYS * DAY);

    expect(samples).toBeGreaterThan(48);
    for (const window of ['1h', '24h', '7d'] as const) {
      const r = analysis.burnRates.find((b) => b.window === window);
      expect(r?.source).toBe('usage');
      expect(Math.abs(r!.perHour - perHour(i)) / perHour(i)).toBeLessThan(1e-6);
    }
    expect(analysis.burnRates.find((b) => b.window === '7d')!.spanMs).toBeGreaterThan(3.9 * DAY);
    expect(analysis.stability.ratio).toBeGreaterThan(0.95);
    expect(analysis.stability.ratio).toBeLessThan(1);
    expect(analysis.stability.failures).toEqual({ transient: analysis.stability.samples - Math.round(analysis.stability.ratio * analysis.stability.samples) });
  });

  it('the unlimited key never runs out; the limited ones run out when (limit - spend) / rate says', () => {
    const unlimited = analyseKey(store, 0, END, END - DAYS * DAY).analysis;
    const limited = analyseKey(store, 2, END, END - DAYS * DAY).analysis;
    const spent = 5 + perHour(2) * DAYS * 24;

    expect(unlimited.exhaustion.seconds).toBeUndefined();
    expect(limited.exhaustion.against).toBe('limit');
    expect(limited.exhaustion.seconds! / 3600).toBeCloseTo((limitOf(2)! - spent) / perHour(2), 0);
    expect(limited.exhaustion.confidence).toBe('high');
  });
});
