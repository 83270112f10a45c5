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
 * probing in session 5 (252-296 MB before fix 36), against ~390-437 MB with node's defaults. The
 * young generation's size (--max-semi-space-size) is fixed when V8 starts, so only node's command
 * line could set it, and `keywatch run` does not choose that; how far the old generation grows
 * between mark-compacts can be set at run time (FEWER_MARK_COMPACTS). It is not a heap cap: a
 * larger fleet uses more memory rather than crashing.
 */
import { execFile } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';

/**
 * `small` (the default): the smaller heap above. `fast` (KEYWATCH_HEAP=fast): only
 * `--no-allocation-site-pretenuring`, so V8's young generation keeps node's size instead of the
 * small one `--optimize-for-size` keeps (~9 scavenges a second at 10,000 keys in session 5's trace;
 * node's command-line `--min-semi-space-size`/`--max-semi-space-size` do not lift it): for
 * hosts where CPU is scarcer than memory. Measured at 10,000 keys, alternated with `small` (three
 * pairs of 60 s windows): 0.47-0.54 ms of CPU per key run against 0.60-0.70, V8's worker threads
 * 0.64-0.83 s a minute against 1.26-1.75, for 281-317 MB while probing (lifetime peaks 281-344)
 * against 262-270: over the 300 MB the benchmark holds `small` to (docs/performance.md, session 11).
 * Measured again in session 20, at once with `small` (the probe cycle, two rounds): 0.007 ms a key
 * run less, within the noise, for ~26 MB more RSS: what a run allocates and keeps has shrunk since.
 * `default`: node's own (with pretenuring: 0.56 ms per key run, 340 MB, one run).
 */
export const HEAP_POLICIES = ['small', 'fast', 'default'] as const;
export type HeapPolicy = (typeof HEAP_POLICIES)[number];

/** The policy KEYWATCH_HEAP names (unset or empty: small). Throws, naming the variable, on anything else. */
export function heapPolicy(env: Record<string, string | undefined> = process.env): HeapPolicy {
  const v = env.KEYWATCH_HEAP;
  if (v === undefined || v === '') return 'small';
  if ((HEAP_POLICIES as readonly string[]).includes(v)) return v as HeapPolicy;
  throw new Error(`KEYWATCH_HEAP must be one of ${HEAP_POLICIES.join(', ')} (got ${JSON.stringify(v)})`);
}

/**
 * Applies the policy to this process (after start-up). Returns the V8 flags it set. `known`, the V8
 * flags this node knows (knownV8Flags), lets `small` also set the one whose name changed between V8
 * versions (oneReducerGc); without it, that one is left out.
 */
export function applyHeapPolicy(policy: HeapPolicy, known?: ReadonlySet<string>): string[] {
  if (policy === 'default') return [];
  const flags =
    policy === 'fast'
      ? ['--no-allocation-site-pretenuring']
      : ['--optimize-for-size', '--no-allocation-site-pretenuring', ...FEWER_MARK_COMPACTS, ...(known === undefined ? [] : oneReducerGc(known))];
  for (const f of flags) setFlagsFromString(f);
  return flags;
}

/**
 * The names of the V8 flags this node knows, without their dashes (`node --v8-options`, run once,
 * ~40 ms in a process of its own); empty when that fails.
 */
export function knownV8Flags(execPath = process.execPath): Promise<Set<string>> {
  return new Promise((resolve) => {
    execFile(execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: 30_000 }, (err, out) => {
      resolve(err === null ? new Set([...out.matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1]!)) : new Set());
    });
  });
}

/**
 * With `small`: V8's memory reducer collects once, not twice. Some 8 s after a mark-compact that
 * grew the heap it marks the whole heap again, and a second time soon after: at 10,000 keys two of
 * every 3-4 mark-compacts in a minute were its pair, the second freeing ~2 MB. Node 20's V8 calls the
 * flag --memory-reducer-single-gc; later V8s (Node 24's) replaced it with
 * --memory-reducer-gc-count, and V8 prints an error for a flag it does not know, so the name is
 * chosen from the flags this node knows. Measured at 10,000 keys, three windows each (docs/performance.md,
 * fix 56): V8's worker threads 0.43, 1.12 and 0.76 s a minute against 1.09, 1.15 and 1.30: the
 * gain comes in the windows where the reducer fires.
 */
export function oneReducerGc(known: ReadonlySet<string>): string[] {
  if (known.has('memory-reducer-gc-count')) return ['--memory-reducer-gc-count=1'];
  if (known.has('memory-reducer-single-gc')) return ['--memory-reducer-single-gc'];
  return [];
}

/**
 * With `small`: fewer mark-compacts of the whole heap. Under `--optimize-for-size` every
 * mark-compact is a memory-reducing one that sets the next allocation limit just above the live
 * size: at 10,000 keys one of the ~105 MB live heap every ~12 s. `--heap-growing-percent` lets the
 * old generation grow 20% past its live size first (~20 MB at 10,000 keys, ~6 MB at 1,000); V8
 * reads it whenever it sets a limit after a collection, so it works at run time, and the limit
 * stays relative to the heap: not a cap. V8's memory reducer, which collects twice 8 s after a
 * mark-compact that grew the heap, collects once (oneReducerGc); its wait cannot be changed (the
 * flag for it applies only to its other trigger in Node 20's V8) and `--no-memory-reducer` works
 * only when the heap is set up (docs/performance.md, fixes 54 and 56). test/runtime.test.ts checks
 * that the running node knows every flag a policy sets (V8 prints an error for an unknown one and
 * goes on without it).
 */
const FEWER_MARK_COMPACTS = ['--heap-growing-percent=20'];

/**
 * The node flags keywatch is started with (bin/keywatch.js's and src/main.ts's `#!` lines, the
 * package's `start` and `demo` scripts, and so the Docker image's entrypoint): V8 collects garbage
 * on the main thread only. V8 cannot change this once running (turning concurrent marking off at
 * run time crashed it in a marking cycle), so it is a flag of the command line, not of the heap
 * policy.
 *
 * Why: keywatch's heap is small and it is not latency-bound (a run may start up to 2 s late), but on
 * a small host V8's parallel scavenges and concurrent marking cost more CPU in all than they take
 * off the main thread. Measured at 10,000 keys, the probe cycle, at once with the parallel collector
 * on the same build (bench/ab.ts, seven 60 s rounds, the flag in either arm; docs/performance.md,
 * session 22): lower in six of seven rounds, 0.017 ms less CPU per key run on average, ~0.014
 * (~7%) with bench/ab.ts's lean towards its second arm taken out; V8's worker threads 0.31 s a
 * minute less, the main thread 0.15 s more; RSS the same, event-loop delay max 13-17 ms.
 */
export const NODE_FLAGS = ['--single-threaded-gc'] as const;

/** How this process collects garbage: as keywatch is started (NODE_FLAGS), or with V8's helper threads. */
export function gcMode(execArgv: readonly string[] = process.execArgv): 'single-threaded' | 'parallel' {
  return execArgv.includes('--single-threaded-gc') || execArgv.includes('--single-threaded') ? 'single-threaded' : 'parallel';
}
