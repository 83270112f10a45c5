/**
 * The daemon's memory policy. Once it has started (listening, first /metrics rendered), keywatch asks
 * V8 to keep a smaller heap (`--optimize-for-size`, set at run time: V8 consults it at every garbage
 * collection), trading some CPU for memory. Start-up, which parses the config and loads every key's
 * state, runs with node's defaults: with the flag from the first instruction it was ~0.5 s slower for
 * 10,000 keys.
 *
 * With it goes `--no-allocation-site-pretenuring`. V8 learns to allocate an allocation site's objects
 * straight in the old generation when most of them live on, and in the first minute every key's first
 * run kept its whole analysis (until fix 36 the live state kept it), so the sites that build a run's
 * analysis were learnt as long-lived.
 * Afterwards most of what they build is dropped within the run (structural sharing keeps the previous
 * run's objects where nothing changed), but it was garbage in the old generation: ~3 KB per run, and
 * under the small heap a mark-compact of the whole ~110 MB heap every 6-8 s at 10,000 keys. Without
 * pretenuring those objects die young; only what a run really keeps is promoted (~1.3 KB), one
 * mark-compact in ~30 s, and CPU per key run fell from 0.59-0.73 to 0.53-0.58 ms
 * (docs/performance.md, fix 32).
 *
 * Measured by `npm run bench` (10,000 keys every 60 s, docs/performance.md): 236 MB peak RSS while
 * probing in session 5 (252-296 MB before fix 36), against ~390-437 MB with node's defaults. V8's other heap knobs (--heap-growing-percent,
 * --max-semi-space-size) only work on node's command line, which `keywatch run` does not choose. It is
 * not a heap cap: a larger fleet uses more memory rather than crashing. KEYWATCH_HEAP=default keeps
 * node's defaults.
 */
import { setFlagsFromString } from 'node:v8';

export type HeapPolicy = 'small' | 'default';

export function heapPolicy(env: Record<string, string | undefined> = process.env): HeapPolicy {
  return env.KEYWATCH_HEAP === 'default' ? 'default' : 'small';
}

/** Applies the policy to this process (after start-up). Returns the V8 flags it set. */
export function applyHeapPolicy(policy: HeapPolicy): string[] {
  if (policy === 'default') return [];
  const flags = ['--optimize-for-size', '--no-allocation-site-pretenuring'];
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
