/**
 * bench/floor.ts, decompose.ts's `floor`: the least a run does of what the 1.5x target names beyond
 * the request and its parse must still do it -- every run a raw row in keywatch's own table, every
 * key's lines with the run's numbers -- or `floor` would price nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { floorSink, floorSummary, type DecomposeResult, type FloorSink } from '../bench/floor.js';

let sink: FloorSink | undefined;

afterEach(() => {
  sink?.close();
  sink = undefined;
});

describe('decompose floor sink', () => {
  it('stores a raw row per run on top of the prefilled history', () => {
    sink = floorSink(['k-a', 'k-b', 'k-c'], { prefillMinutes: 5 });
    expect(sink.rows()).toBe(15);
    const answer = { usage: 1.5, usage_daily: 0.25, usage_weekly: 0.75, usage_monthly: 1, limit: 10, limit_remaining: 8.5, limit_reset: null };
    sink.record(0, Date.now(), 12, answer);
    sink.record(2, Date.now(), 14, answer);
    expect(sink.rows()).toBe(15);
    sink.flush();
    expect(sink.rows()).toBe(17);
  });

  it("writes the key's lines with the run's numbers", () => {
    sink = floorSink(['k-a', 'k-b'], { prefillMinutes: 1 });
    const at = 1_700_000_000_000;
    const n = sink.record(1, at, 250, { usage: 3.25, usage_daily: 0.5, usage_weekly: 1, usage_monthly: 2, limit: 20, limit_remaining: 16.75 });
    const lines = sink.lines(1);
    expect(Buffer.byteLength(lines)).toBe(n);
    expect(lines).toContain('\nkeywatch_key_usage{key="k-b",provider="openrouter",currency="USD",window="total"} 3.25');
    expect(lines).toContain('\nkeywatch_key_limit_remaining{key="k-b",provider="openrouter",currency="USD"} 16.75');
    expect(lines).toContain('\nkeywatch_probe_duration_seconds{key="k-b",provider="openrouter",probe="current_key"} 0.25');
    expect(lines).toContain(`\nkeywatch_key_last_run_timestamp_seconds{key="k-b",provider="openrouter"} ${at / 1000}`);
    expect(sink.lines(0)).toBe('');
    sink.record(0, at, 250, { usage: 1, limit: 20, limit_remaining: 19, limit_reset: 'daily' });
    // 2023-11-14T22:13:20Z: the next UTC midnight.
    expect(sink.lines(0)).toContain(`\nkeywatch_key_limit_reset_timestamp_seconds{key="k-a",provider="openrouter"} ${Date.UTC(2023, 10, 15) / 1000}`);
  });

  it('writes no limit lines for an unlimited key', () => {
    sink = floorSink(['k-a'], { prefillMinutes: 1 });
    sink.record(0, Date.now(), 10, { usage: 1, usage_daily: 0, usage_weekly: 0, usage_monthly: 1, limit: null, limit_remaining: null });
    expect(sink.lines(0)).toContain('keywatch_key_usage{key="k-a"');
    expect(sink.lines(0)).not.toContain('keywatch_key_limit');
  });
});

describe("run.ts's floor row", () => {
  const result = (mode: string, round: number, cpuMsPerRun: number, failures = 0): DecomposeResult => ({
    mode,
    round,
    keys: 10_000,
    runs: 10_000,
    cpuMsPerRun,
    kernelMsPerRun: 0.02,
    failures,
  });

  it("pairs each round's bare loop with its floor, whatever order they reported in", () => {
    const s = floorSummary([result('floor', 1, 0.15), result('bare', 0, 0.1), result('floor', 0, 0.12), result('bare', 1, 0.125, 2)]);
    expect(s.pairs).toEqual([
      { bareMsPerRun: 0.1, floorMsPerRun: 0.12, ratio: 1.2 },
      { bareMsPerRun: 0.125, floorMsPerRun: 0.15, ratio: 1.2 },
    ]);
    expect(s).toMatchObject({ keys: 10_000, bareMsPerRun: 0.113, floorMsPerRun: 0.135, ratio: 1.2, failures: 2 });
  });

  it('refuses a round without both of them', () => {
    expect(() => floorSummary([result('bare', 0, 0.1), result('floor', 0, 0.1), result('bare', 1, 0.1)])).toThrow(/round 1 lacks floor/);
    expect(() => floorSummary([])).toThrow(/no rounds/);
  });
});
