/**
 * The daemon's memory policy. Once it has started (listening, first /metrics rendered), keywatch asks
 * V8 to keep a smaller heap (`--optimize-for-size`, set at run time: V8 consults it at every garbage
 * collection), trading some CPU for memory. Start-up, which parses the config and loads every key's
 * state, runs with node's defaults: with the flag from the first instruction it was ~0.5 s slower for
 * 10,000 keys.
 *
 * Measured by `npm run bench` (10,000 keys every 60 s, docs/performance.md): 252-296 MB peak RSS while
 * probing at 0.56-0.68 ms CPU per key run, against ~437 MB at ~0.44 ms with node's defaults. V8's
 * other heap knobs (--heap-growing-percent, --max-semi-space-size) only work on node's command line,
 * which `keywatch run` does not choose. It is not a heap cap: a larger fleet uses more memory rather
 * than crashing. KEYWATCH_HEAP=default keeps node's defaults.
 */
import { setFlagsFromString } from 'node:v8';

export type HeapPolicy = 'small' | 'default';

export function heapPolicy(env: Record<string, string | undefined> = process.env): HeapPolicy {
  return env.KEYWATCH_HEAP === 'default' ? 'default' : 'small';
}

/** Applies the policy to this process (after start-up). Returns the V8 flags it set. */
export function applyHeapPolicy(policy: HeapPolicy): string[] {
  if (policy === 'default') return [];
  const flags = ['--optimize-for-size'];
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
