/**
 * A steady run written into the key's state in place. Most runs of a healthy key move a few numbers
 * -- its spend, when it ran, how long the probes took -- and nothing else. Building a new state for
 * such a run (the state, its facts, their usage, the probes' outcomes and their times: ~730 B a run,
 * kept for the key's interval) made every run's state old-generation garbage a run later, which
 * V8's mark-compacts then collected: at 10,000 keys, the largest part of the probe cycle's
 * collections (docs/performance.md, session 23). Written in place, those numbers land in the
 * objects the state already has.
 *
 * Only a run that changes no more than that is written in place (see updateInPlace); any other run
 * builds a new state, as before, and so does a key's first run. So what identity-based caches key
 * on -- a provider, labels, a model list, an identity, an outcome's kind -- still changes with the
 * object, and what changes in place are numbers: the metrics render the key again because the
 * daemon asks them to (Metrics.prepare), not because the state is a new object.
 */
import type { RunResult } from './runner.js';
import { share } from './share.js';
import type { KeyState } from './state.js';
import type { KeyFacts } from '../probes/types.js';

/** Facts whose change makes the history figures move (figuresMoved): never written in place. */
const MOVING = new Set<string>(['valid', 'currency', 'limit', 'limitReset']);
/** Facts merged one level deep (mergeFacts) whose values are numbers: written into their object. */
const WINDOWS = new Set<string>(['usage', 'byokUsage']);

export interface SteadyMeta {
  labels: KeyState['labels'];
  watchModels: KeyState['watchModels'];
}

/**
 * Writes `result` into `state` and returns true when the run is steady; else returns false and
 * touches nothing (the caller builds a new state). Steady means the state that the usual merge
 * would build differs from `state` only in numbers the state already holds:
 * - the run and every probe outcome the state holds succeeded, and the last run did too;
 * - the same providers, labels and watched models;
 * - every probe that answered has an outcome in the state, of the same plain shape;
 * - every fact the run learnt is the state's own value (or the same data), or a number where the
 *   state has a number -- except the ones that move the history figures (validity, currency, the
 *   limit and its period), a balance that rose, and a usage window that fell;
 * - usage windows: the same, one level down.
 * So a steady run is also one after which figuresMoved(previous, next) is false.
 */
export function updateInPlace(state: KeyState, result: RunResult, meta: SteadyMeta): boolean {
  if (!result.ok || result.allFailed || state.consecutiveFailures !== 0) return false;
  if (state.provider !== result.provider || state.claimedProvider !== result.claimedProvider) return false;
  if (state.labels !== meta.labels || state.watchModels !== meta.watchModels) return false;
  for (const k in state.probes) {
    const p = state.probes[k as keyof KeyState['probes']];
    if (p !== undefined && !p.ok) return false;
  }
  for (const o of result.outcomes) {
    const p = state.probes[o.probe];
    if (p === undefined || !plainOk(p) || !plainOk(o)) return false;
  }
  if (!steadyFacts(state.facts, result.facts)) return false;

  // Steady: write it.
  const facts = state.facts as Record<string, unknown>;
  const next = result.facts as Record<string, unknown>;
  for (const k in next) {
    const a = next[k];
    if (a === facts[k]) continue;
    if (typeof a === 'number') facts[k] = a;
    else if (WINDOWS.has(k)) {
      const into = facts[k] as Record<string, unknown>;
      const from = a as Record<string, unknown>;
      for (const w in from) if (from[w] !== into[w]) into[w] = from[w];
    }
    // Anything else is the same data in another object: the state keeps its own.
  }
  for (const o of result.outcomes) {
    const p = state.probes[o.probe]!;
    p.durationMs = o.durationMs;
    p.at = o.at;
    state.lastSuccessAt[o.probe] = o.at;
  }
  state.lastRunAt = result.startedAt;
  return true;
}

/** An outcome that answered and carries nothing but its kind, times and (a run's) facts. */
function plainOk(o: { ok: boolean; errorKind?: unknown; status?: unknown; message?: unknown; retryAfterMs?: unknown }): boolean {
  return o.ok && o.errorKind === undefined && o.status === undefined && o.message === undefined && o.retryAfterMs === undefined;
}

/** Whether merging `next` into `prev` changes only numbers prev already holds (see updateInPlace). */
function steadyFacts(prev: KeyFacts, next: KeyFacts): boolean {
  const before = prev as Record<string, unknown>;
  const after = next as Record<string, unknown>;
  for (const k in after) {
    const a = after[k];
    const b = before[k];
    if (a === b) continue;
    if (b === undefined || MOVING.has(k)) return false;
    if (typeof a === 'number') {
      if (typeof b !== 'number' || (k === 'balance' && a > b)) return false;
    } else if (WINDOWS.has(k)) {
      if (!steadyWindows(b, a, k === 'usage')) return false;
    } else if (typeof a !== 'object' || a === null || share(b, a) !== b) {
      return false;
    }
  }
  return true;
}

function steadyWindows(prev: unknown, next: unknown, monotonic: boolean): boolean {
  if (typeof prev !== 'object' || prev === null || typeof next !== 'object' || next === null) return false;
  const before = prev as Record<string, unknown>;
  const after = next as Record<string, unknown>;
  for (const w in after) {
    const a = after[w];
    const b = before[w];
    if (a === b) continue;
    if (typeof a !== 'number' || typeof b !== 'number' || (monotonic && a < b)) return false;
  }
  return true;
}
