/** The daemon's heap policy (src/runtime.ts) and the start-up signal it waits for. */
import { getHeapStatistics } from 'node:v8';
import { Gauge } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { applyHeapPolicy, heapPolicy } from '../src/runtime.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

let td: TestDaemon | undefined;
afterEach(async () => {
  await td?.cleanup();
  td = undefined;
});

describe('heap policy', () => {
  it('is a small heap unless KEYWATCH_HEAP=default', () => {
    expect(heapPolicy({})).toBe('small');
    expect(heapPolicy({ KEYWATCH_HEAP: 'default' })).toBe('default');
    expect(heapPolicy({ KEYWATCH_HEAP: 'anything else' })).toBe('small');
  });

  it('default sets no V8 flag; small sets --optimize-for-size and is no heap cap', () => {
    const limit = getHeapStatistics().heap_size_limit;

    expect(applyHeapPolicy('default')).toEqual([]);
    expect(applyHeapPolicy('small')).toEqual(['--optimize-for-size']);
    expect(getHeapStatistics().heap_size_limit).toBe(limit);
  });
});

describe('daemon.started', () => {
  it('resolves once the first /metrics is rendered: a scrape right after it renders nothing', async () => {
    td = await startTestDaemon({ yaml: 'keys: []\n', maintenanceStartDelayMs: 0 });
    await td.daemon.started;
    // Registered after start-up: it is collected only if a scrape renders again.
    let collected = 0;
    new Gauge({ name: 'test_collected', help: 'renders after start-up', registers: [td.daemon.metrics.registry], collect: () => void collected++ });

    const lease = await td.daemon.metrics.lease();
    lease.release();

    expect(collected).toBe(0);
  });
});
