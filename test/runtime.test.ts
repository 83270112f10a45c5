/** The daemon's heap policy (src/runtime.ts) and the start-up signal it waits for. */
import { getHeapStatistics } from 'node:v8';
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
  it('resolves once listening with the first /metrics rendered, which a scrape then gets at once', async () => {
    td = await startTestDaemon({ yaml: 'keys: []\n', maintenanceStartDelayMs: 0 });

    await td.daemon.started;
    const first = await td.daemon.metrics.lease();
    const again = await td.daemon.metrics.lease();

    expect(again.bytes.buffer).toBe(first.bytes.buffer); // the cached render, not a new one
    first.release();
    again.release();
  });
});
