/**
 * What `keywatch run` wires into the daemon besides the registry (src/cli/run.ts): identification,
 * analysis, alerting. The bench's daemons are wired the same, or without some of it: the probe
 * cycle the performance target names (HTTP requests, parse, store, metrics) is the daemon without
 * judging, history analysis, alerting and identification, measured with its own baseline.
 *
 * Two more parts can be left out to price the probe cycle's own pieces (`BENCH_WITHOUT`, never
 * in `npm run bench`'s rows): `store`, a key run's writes (its raw row, its hourly rollup, its
 * state: recordRun and saveState do nothing), and `lines`, rendering the key's `/metrics` lines as
 * its run is stored (prepare only marks the key's lines stale; a scrape renders the keys it finds
 * stale instead).
 */
import { createAlerting } from '../src/alerting/index.js';
import { analyzeKey } from '../src/analysis/index.js';
import type { DaemonOptions } from '../src/daemon.js';
import { makeIdentify } from '../src/identity.js';
import { createMetrics } from '../src/metrics.js';
import { openStore } from '../src/store/index.js';
import { registry } from '../providers/index.js';

export const PARTS = ['identify', 'analysis', 'alerting', 'store', 'lines'] as const;
export type Part = (typeof PARTS)[number];

/** The probe cycle: what a key run costs without judging the key (see above). */
export const PROBE_CYCLE_WITHOUT: readonly Part[] = ['analysis', 'alerting', 'identify'];

export function wiring(without: ReadonlySet<Part> = new Set()): Pick<DaemonOptions, 'identify' | 'analyze' | 'alerting' | 'openStore' | 'createMetrics'> {
  return {
    ...(without.has('identify') ? {} : { identify: makeIdentify(registry) }),
    ...(without.has('analysis') ? {} : { analyze: analyzeKey }),
    ...(without.has('alerting') ? {} : { alerting: createAlerting }),
    ...(without.has('store') ? { openStore: (path, opts) => ({ ...openStore(path, opts), recordRun: () => undefined, saveState: () => undefined }) } : {}),
    ...(without.has('lines')
      ? {
          createMetrics: (deps) => {
            const m = createMetrics(deps);
            return { ...m, prepare: (state) => m.stale(state) };
          },
        }
      : {}),
  };
}

/** BENCH_WITHOUT's comma-separated parts; throws on a name that is not one. */
export function partsOf(list: string | undefined): Set<Part> {
  const parts = (list ?? '').split(',').filter(Boolean);
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_WITHOUT: unknown part "${p}" (parts: ${PARTS.join(', ')})`);
  return new Set(parts as Part[]);
}
