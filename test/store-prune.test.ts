/**
 * The retention pass in timed steps (src/store/prune.ts): each step sized from the last one's rows
 * per ms toward PRUNE_STEP_TARGET_MS, on a real SQLite store. Step times are injected (a fake clock
 * advanced by a per-row cost as the real store deletes), so no assert depends on this machine's speed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOUR_MS, hourOf, openStore, type RunRecord, type Store } from '../src/store/index.js';
import { nextStepRows, PRUNE_MAX_REST_MS, PRUNE_STEP_ROWS, PRUNE_STEP_TARGET_MS, pruneInSteps, restAfter } from '../src/store/prune.js';

const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const MIN = 60_000;
const KEYS = 40;
const DAYS = 2;
/** Mid-hour, just after the last recorded runs. */
const NOW = T0 + DAYS * 24 * HOUR_MS + 30 * MIN;
const RAW_RETENTION = 6 * HOUR_MS;
const RETENTION = 36 * HOUR_MS;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-store-prune-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function run(at: number, key: string): RunRecord {
  return { at, key, provider: 'openrouter', ok: true, durationMs: 100, facts: { valid: true, currency: 'USD', usage: { total: at / HOUR_MS } }, outcomes: [] };
}

/** KEYS keys run every 5 minutes for DAYS days, up to NOW: 23,000 raw rows, ~1,900 rollups. */
function filledStore(): Store {
  const store = openStore(join(dir, 'kw.db'), { maxBatch: 5_000 });
  for (let at = T0; at < NOW; at += 5 * MIN) for (let k = 0; k < KEYS; k++) store.recordRun(run(at + k * 1000, `key-${k}`));
  store.flush();
  return store;
}

function count(store: Store, sql: string, ...params: number[]): number {
  return (store.db.prepare(sql).get(...params) as { n: number }).n;
}

/**
 * The real store, with a fake clock that each step advances by msPerRow(step) per row it deleted:
 * the step "took" that long. Rests are recorded, not waited.
 */
function timed(store: Store, msPerRow: (step: number) => number) {
  let t = 0;
  let step = 0;
  const rests: number[] = [];
  const timedStore = {
    pruneStep: (now: number, rawMs: number, ms: number, maxRows: number) => {
      const n = store.pruneStep(now, rawMs, ms, maxRows);
      t += n * msPerRow(step++);
      return n;
    },
  };
  const opts = {
    now: () => NOW,
    rawRetentionMs: RAW_RETENTION,
    retentionMs: RETENTION,
    clock: () => t,
    rest: (ms: number) => {
      rests.push(ms);
      return Promise.resolve();
    },
  };
  return { timedStore, opts, rests };
}

describe('nextStepRows', () => {
  it.each([
    { case: 'a step on target keeps its size', asked: 500, deleted: 500, ms: PRUNE_STEP_TARGET_MS, next: 500 },
    { case: 'a slow step shrinks the next at once, to what fits the target', asked: 5_000, deleted: 5_000, ms: 250, next: 400 },
    { case: 'a fast step grows the next at most twice', asked: 500, deleted: 500, ms: 1, next: 1_000 },
    { case: 'growth stops at the cap', asked: 4_000, deleted: 4_000, ms: 1, next: PRUNE_STEP_ROWS.max },
    { case: 'a very slow step shrinks to the floor, not below', asked: 500, deleted: 500, ms: 1_000, next: PRUNE_STEP_ROWS.min },
    { case: 'a step that found fewer rows than asked is not sized from', asked: 500, deleted: 3, ms: 30, next: 1_000 },
    { case: 'a step the clock did not see grows twice', asked: 50, deleted: 50, ms: 0, next: 100 },
  ])('$case', ({ asked, deleted, ms, next }) => {
    const rows = nextStepRows(asked, deleted, ms);

    expect(rows).toBe(next);
  });
});

describe('restAfter', () => {
  it.each([
    { ms: 3, rest: 0 },
    { ms: PRUNE_STEP_TARGET_MS, rest: 0 },
    { ms: 45.2, rest: 46 },
    { ms: 5_000, rest: PRUNE_MAX_REST_MS },
  ])('a step of $ms ms rests $rest ms', ({ ms, rest }) => {
    expect(restAfter(ms)).toBe(rest);
  });
});

describe('pruneInSteps', () => {
  it('on a fast store grows each step twice up to the cap, and deletes every old row, none within retention', async () => {
    const store = filledStore();
    const rawCutoff = NOW - RAW_RETENTION;
    const rollupCutoff = NOW - RETENTION - HOUR_MS;
    const oldRaw = count(store, 'SELECT count(*) AS n FROM probe_runs WHERE at < ?', rawCutoff);
    const keptRaw = count(store, 'SELECT count(*) AS n FROM probe_runs WHERE at >= ?', rawCutoff);
    const oldRollups = count(store, 'SELECT count(*) AS n FROM rollups WHERE hour <= ?', rollupCutoff);
    const keptRollups = count(store, 'SELECT count(*) AS n FROM rollups WHERE hour > ?', rollupCutoff);
    const { timedStore, opts, rests } = timed(store, () => 0.001);

    const r = await pruneInSteps(timedStore, opts);
    const rawLeft = count(store, 'SELECT count(*) AS n FROM probe_runs');
    const oldRawLeft = count(store, 'SELECT count(*) AS n FROM probe_runs WHERE at < ?', rawCutoff);
    const rollupsLeft = count(store, 'SELECT count(*) AS n FROM rollups');
    store.close();

    expect(oldRaw).toBeGreaterThan(15_000);
    expect(oldRollups).toBeGreaterThan(0);
    expect(r.sizes.slice(0, 6)).toEqual([250, 500, 1_000, 2_000, 4_000, 5_000]);
    expect(r.sizes.slice(5).every((n) => n === PRUNE_STEP_ROWS.max)).toBe(true);
    expect(r.deleted).toBe(oldRaw + oldRollups);
    expect(oldRawLeft).toBe(0);
    expect(rawLeft).toBe(keptRaw);
    expect(rollupsLeft).toBe(keptRollups);
    expect(rests.every((ms) => ms === 0)).toBe(true);
  });

  it('on a slow store sizes steps to the target from the first one, and rests after the slow one', async () => {
    const store = filledStore();
    // 10 rows per ms: the first step (250 rows) takes 25 ms, a 200-row step the 20 ms target.
    const { timedStore, opts, rests } = timed(store, () => 0.1);

    const r = await pruneInSteps(timedStore, opts);
    const oldRawLeft = count(store, 'SELECT count(*) AS n FROM probe_runs WHERE at < ?', NOW - RAW_RETENTION);
    store.close();

    expect(r.sizes[0]).toBe(PRUNE_STEP_ROWS.first);
    expect(r.sizes.slice(1, -1).every((n) => n === 200)).toBe(true);
    // The last rows (fewer than asked) say nothing of the rate: the final, empty step is asked twice as many.
    expect(r.sizes.at(-1)).toBe(400);
    expect(r.maxStepMs).toBeCloseTo(25, 6);
    // The first rest is before any step; the second follows the 25 ms step; on-target steps rest 0.
    expect(rests.slice(0, 3)).toEqual([0, 25, 0]);
    expect(oldRawLeft).toBe(0);
  });

  it('shrinks at once after a step turns slow, then grows back twice per step', async () => {
    const store = filledStore();
    // Fast, except step 6 (0-based), where the disk stalls: 5,000 rows at 0.05 ms/row = 250 ms.
    const { timedStore, opts, rests } = timed(store, (step) => (step === 6 ? 0.05 : 0.001));

    const r = await pruneInSteps(timedStore, opts);
    store.close();

    expect(r.sizes.slice(0, 11)).toEqual([250, 500, 1_000, 2_000, 4_000, 5_000, 5_000, 400, 800, 1_600, 3_200]);
    // rests[0] comes before the first step, rests[i + 1] after step i.
    expect(rests[7]).toBe(250);
    expect(r.maxStepMs).toBeCloseTo(250, 6);
  });

  it('never deletes the current hour raw runs, even with a zero raw retention', async () => {
    const store = filledStore();
    const currentHour = count(store, 'SELECT count(*) AS n FROM probe_runs WHERE at >= ?', hourOf(NOW));
    const { timedStore, opts } = timed(store, () => 0.01);

    const r = await pruneInSteps(timedStore, { ...opts, rawRetentionMs: 0 });
    const left = count(store, 'SELECT count(*) AS n FROM probe_runs');
    const h = store.history('key-0', hourOf(NOW));
    store.close();

    expect(currentHour).toBe(6 * KEYS);
    expect(r.deleted).toBeGreaterThan(0);
    expect(left).toBe(currentHour);
    expect(h.map((s) => s.runs ?? 1)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('stops before the next step once stopped', async () => {
    const store = filledStore();
    const before = count(store, 'SELECT count(*) AS n FROM probe_runs');
    const { timedStore, opts } = timed(store, () => 0.001);
    let steps = 0;

    const r = await pruneInSteps(
      { pruneStep: (...a) => (steps++, timedStore.pruneStep(...a)) },
      { ...opts, stopped: () => steps >= 2 },
    );
    const after = count(store, 'SELECT count(*) AS n FROM probe_runs');
    store.close();

    expect(r.steps).toBe(2);
    expect(r.deleted).toBe(750);
    expect(before - after).toBe(750);
  });
});
