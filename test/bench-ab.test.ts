/**
 * bench/ab.ts: two builds measured at once. What it reads of the benchmark's JSON (checked against
 * the committed bench/results/latest.json, so a renamed field fails here, not in a long run) and the
 * pairs' summary.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { armRun, envOf, formatSummary, slotsOf, summarize, type ArmRun } from '../bench/ab.js';

describe('ab', () => {
  it("reads an arm's measures from the benchmark's JSON: CPU per run, main thread, V8's workers, RSS, lateness", () => {
    const json = JSON.parse(readFileSync(new URL('../bench/results/latest.json', import.meta.url), 'utf8'));
    const fleet = json.fleets[0];

    const arm = armRun(json);

    expect(arm).toEqual({
      cpuMsPerRun: fleet.cpuMsPerRun,
      mainS: fleet.cpuByThread.main,
      workersS: fleet.cpuByThread.node,
      peakRssMb: fleet.steadyPeakRssMb,
      latenessMaxMs: fleet.lateness.maxMs,
    });
    for (const v of Object.values(arm)) expect(v).toBeGreaterThan(0);
    expect(() => armRun({ fleets: [] })).toThrow(/no fleet/);
  });

  it('summarises the rounds: the mean of new - old, and in how many rounds new was lower', () => {
    const run = (cpuMsPerRun: number, mainS: number, workersS: number): ArmRun => ({ cpuMsPerRun, mainS, workersS, peakRssMb: 270, latenessMaxMs: 300 });

    const s = summarize([
      { old: run(0.431, 3.78, 0.53), new: run(0.457, 3.69, 0.89) },
      { old: run(0.492, 4.37, 0.54), new: run(0.525, 4.23, 1.03) },
    ]);

    expect(s.meanDelta).toEqual({ cpuMsPerRun: 0.03, mainS: -0.115, workersS: 0.425, peakRssMb: 0, latenessMaxMs: 0 });
    expect(s.newLower).toEqual({ cpuMsPerRun: 0, mainS: 2, workersS: 0, peakRssMb: 0, latenessMaxMs: 0 });
    const table = formatSummary(s).split('\n');
    expect(table).toHaveLength(2 + 4 + 2);
    expect(table[2]).toBe('| 1 | old | 0.431 | 3.78 | 0.53 | 270 | 300 |');
    expect(table.at(-1)).toBe('|  | rounds new lower | 0/2 | 2/2 | 0/2 | 0/2 | 0/2 |');
  });

  it('swaps which build starts first every other round, so each build runs in each slot as often; not with --no-crossover', () => {
    const rounds = [0, 1, 2, 3].map((i) => slotsOf(i, true));
    expect(rounds).toEqual([
      ['old', 'new'],
      ['new', 'old'],
      ['old', 'new'],
      ['new', 'old'],
    ]);
    expect(rounds.filter((r) => r[0] === 'old')).toHaveLength(2);
    expect([0, 1, 2].map((i) => slotsOf(i, false))).toEqual([
      ['old', 'new'],
      ['old', 'new'],
      ['old', 'new'],
    ]);
  });

  it("takes one arm's environment as K=V pairs (a value may hold '='), and names the option on a pair without a name", () => {
    expect(envOf(['KEYWATCH_HEAP=fast', 'BENCH_DAEMON_ARGS=--max-semi-space-size=8'])).toEqual({
      KEYWATCH_HEAP: 'fast',
      BENCH_DAEMON_ARGS: '--max-semi-space-size=8',
    });
    expect(envOf(undefined)).toEqual({});
    expect(() => envOf(['=fast'])).toThrow(/--old-env\/--new-env take K=V/);
    expect(() => envOf(['KEYWATCH_HEAP'])).toThrow(/K=V/);
  });
});
