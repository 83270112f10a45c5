/**
 * Stability over a window: the success ratio weighted by runs (a rollup stands for `runs` runs),
 * latency percentiles, consecutive failures, flaps, and failures by class. The class says whose
 * problem it is: transient (theirs, wait), quota (money), revoked (the key), config (ours),
 * network (the path), unknown_shape (the answer changed: a possible provider API change).
 */
import type { FailureClass, HistorySample, Stability } from './types.js';

/** Failure kinds as the runner records them (ProbeErrorKind, `invalid`, or an HTTP status) -> class. */
export function classifyFailure(kind: string): FailureClass {
  const k = kind.toLowerCase();
  if (/^\d{3}$/.test(k)) {
    const status = Number(k);
    if (status === 401 || status === 403) return 'revoked';
    if (status === 402) return 'quota';
    if (status === 408 || status === 429 || status >= 500) return 'transient';
    return 'config';
  }
  switch (k) {
    case 'rate_limited':
    case 'upstream':
    case 'timeout':
      return 'transient';
    case 'quota':
    case 'insufficient':
    case 'insufficient_quota':
      return 'quota';
    case 'invalid':
    case 'auth':
    case 'revoked':
    case 'expired':
    case 'disabled':
      return 'revoked';
    case 'config':
      return 'config';
    case 'network':
      return 'network';
    default:
      // bad_response and anything we do not recognise: the answer is not what we know.
      return 'unknown_shape';
  }
}

/** Percentile of values each carrying a weight (run count); nearest-rank on the cumulative weight. */
export function weightedPercentile(points: readonly { value: number; weight: number }[], p: number): number | undefined {
  const pts = points.filter((x) => Number.isFinite(x.value) && x.weight > 0).sort((a, b) => a.value - b.value);
  const total = pts.reduce((s, x) => s + x.weight, 0);
  if (total === 0) return undefined;
  const rank = p * total;
  let seen = 0;
  for (const x of pts) {
    seen += x.weight;
    if (seen >= rank) return x.value;
  }
  return pts[pts.length - 1]!.value;
}

export function stability(
  history: readonly HistorySample[],
  now: number,
  windowMs: number,
  liveConsecutiveFailures?: number,
): Stability {
  const from = now - windowMs;
  const inWindow = history.filter((s) => s.at > from && s.at <= now && s.runs > 0);
  let runs = 0;
  let ok = 0;
  const failures: Partial<Record<FailureClass, number>> = {};
  const latencies: { value: number; weight: number }[] = [];
  for (const s of inWindow) {
    const okRuns = Math.min(Math.max(0, s.okRuns), s.runs);
    runs += s.runs;
    ok += okRuns;
    if (typeof s.latencyMs === 'number') latencies.push({ value: s.latencyMs, weight: s.runs });
    for (const [kind, n] of Object.entries(s.failures ?? {})) {
      if (!n || n <= 0) continue;
      const cls = classifyFailure(kind);
      failures[cls] = (failures[cls] ?? 0) + n;
    }
  }

  // Flaps: transitions between succeeding and failing samples. A rollup that mixes both hides the
  // order of its runs; count it as one dip and recovery (2), the least it can contain.
  let flaps = 0;
  let prev: 'ok' | 'fail' | undefined;
  for (const s of inWindow) {
    const okRuns = Math.min(Math.max(0, s.okRuns), s.runs);
    if (okRuns > 0 && okRuns < s.runs) {
      flaps += 2;
      const state = okRuns * 2 >= s.runs ? 'ok' : 'fail';
      if (prev !== undefined && prev !== state) flaps++;
      prev = state;
      continue;
    }
    const state = okRuns === s.runs ? 'ok' : 'fail';
    if (prev !== undefined && prev !== state) flaps++;
    prev = state;
  }

  // Consecutive failures: the live counter when the caller has one, else the tail of the history.
  let consecutive = 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i]!;
    if (s.at > now || s.runs <= 0) continue;
    // A sample with any success ends the streak (a mixed rollup hides which came last).
    if (s.okRuns > 0) break;
    consecutive += s.runs;
  }

  const out: Stability = {
    ratio: runs === 0 ? 1 : ok / runs,
    windowMs,
    samples: runs,
    consecutiveFailures: liveConsecutiveFailures ?? consecutive,
    flaps,
    failures,
  };
  const p50 = weightedPercentile(latencies, 0.5);
  const p95 = weightedPercentile(latencies, 0.95);
  if (p50 !== undefined) out.p50Ms = p50;
  if (p95 !== undefined) out.p95Ms = p95;
  return out;
}
