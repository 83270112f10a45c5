/**
 * The retention pass: deletes what Store.pruneStep deletes, in steps sized so that none holds the
 * event loop much longer than PRUNE_STEP_TARGET_MS, whatever the store size. A step's cost is the
 * B-tree pages it dirties (one or two per row: each old run sits on its own key's page of the
 * (key, at) index) and writing them back from the WAL; on a 2.4 GB store (10,000 keys, 30 days)
 * that is 20-55 rows per ms, on a small one ten times more. So each step is timed and the next one
 * sized from the rows per ms just measured; the first is small (250 rows: ~12 ms on that store).
 */
import type { Store } from './index.js';

/** How long one step may hold the event loop (probes, scrapes wait behind it). */
export const PRUNE_STEP_TARGET_MS = 20;

/** Rows per step: the first step's, and the bounds every later one stays in. */
export const PRUNE_STEP_ROWS = { first: 250, min: 50, max: 5_000 } as const;

/** The longest rest after a slow step (a rest as long as the step: the loop is busy at most half the time). */
export const PRUNE_MAX_REST_MS = 250;

/**
 * Rows for the next step after one that was asked for `asked` rows, deleted `deleted` and took
 * `ms`: what the measured rate fits in PRUNE_STEP_TARGET_MS. It shrinks at once after a slow step,
 * grows at most twice per step (one fast step says little about the next pages), within
 * PRUNE_STEP_ROWS.
 */
export function nextStepRows(asked: number, deleted: number, ms: number): number {
  const grown = asked * 2;
  // A step that found fewer rows than asked (the last ones) measured too little to size from.
  const fit = deleted < asked || ms <= 0 ? grown : Math.floor((deleted * PRUNE_STEP_TARGET_MS) / ms);
  return Math.max(PRUNE_STEP_ROWS.min, Math.min(PRUNE_STEP_ROWS.max, grown, fit));
}

/** How long to leave the loop to others after a step of `ms`: nothing extra after a step within target. */
export function restAfter(ms: number): number {
  return ms <= PRUNE_STEP_TARGET_MS ? 0 : Math.min(Math.ceil(ms), PRUNE_MAX_REST_MS);
}

export interface PruneOptions {
  /** Wall clock (epoch ms), read at each step: the current hour's raw runs are never deleted. */
  now: () => number;
  rawRetentionMs: number;
  retentionMs: number;
  /** Checked before each step: the pass ends early (the daemon is stopping). */
  stopped?: () => boolean;
  /** Monotonic ms to time the steps with (default performance.now; tests: a fake clock). */
  clock?: () => number;
  /** Waits between steps (default setImmediate for 0, else setTimeout; tests: resolve at once). */
  rest?: (ms: number) => Promise<void>;
}

export interface PruneResult {
  deleted: number;
  steps: number;
  /** The longest step, ms: what the pass held the event loop at most. */
  maxStepMs: number;
  /** Every step's size (rows asked), oldest first. */
  sizes: number[];
}

/**
 * Deletes everything past retention (Store.pruneStep until it finds nothing), one timed step at a
 * time, with the event loop free between steps (a rest after slow ones, so timers and I/O get a turn).
 */
export async function pruneInSteps(store: Pick<Store, 'pruneStep'>, o: PruneOptions): Promise<PruneResult> {
  const clock = o.clock ?? (() => performance.now());
  const rest = o.rest ?? restFor;
  const result: PruneResult = { deleted: 0, steps: 0, maxStepMs: 0, sizes: [] };
  let rows: number = PRUNE_STEP_ROWS.first;
  let pause = 0;
  for (;;) {
    await rest(pause);
    if (o.stopped?.() === true) break;
    const t0 = clock();
    const n = store.pruneStep(o.now(), o.rawRetentionMs, o.retentionMs, rows);
    const ms = clock() - t0;
    result.sizes.push(rows);
    result.steps++;
    result.deleted += n;
    result.maxStepMs = Math.max(result.maxStepMs, ms);
    if (n === 0) break;
    rows = nextStepRows(rows, n, ms);
    pause = restAfter(ms);
  }
  return result;
}

function restFor(ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0) setImmediate(resolve);
    else setTimeout(resolve, ms);
  });
}
