/**
 * prom-client's Registry, Gauge and Counter, loaded from the package's own files rather than its
 * index. The index also loads histograms, summaries (tdigest, bintrees), the Pushgateway, cluster
 * aggregation and the default process metrics (with @opentelemetry/api), none of which keywatch
 * uses: 35-42 ms of a fresh process on this VM against 3-4 ms for these files. Same module
 * instances either way (one require cache). Should a future prom-client move them, the index is
 * loaded instead: a slower start, the same behaviour (test/startup-imports.test.ts tells the two apart).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

type Classes = Pick<typeof PromClient, 'Registry' | 'Gauge' | 'Counter'>;

function load(): Classes & { deep: boolean } {
  try {
    const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
    const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
    const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
    if ([Registry, Gauge, Counter].every((c) => typeof c === 'function')) return { Registry, Gauge, Counter, deep: true };
  } catch {
    // Moved or renamed: the index below.
  }
  const p = require('prom-client') as typeof PromClient;
  return { Registry: p.Registry, Gauge: p.Gauge, Counter: p.Counter, deep: false };
}

const loaded = load();
export const Registry = loaded.Registry;
export const Gauge = loaded.Gauge;
export const Counter = loaded.Counter;
/** Whether the files were found (false: prom-client's index was loaded instead). */
export const loadedFromFiles = loaded.deep;
export type Registry = PromClient.Registry;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Counter<T extends string = string> = PromClient.Counter<T>;
