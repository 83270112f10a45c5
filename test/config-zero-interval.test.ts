/**
 * An interval of 0 once reached the scheduler (ceil(x/0)*0 = NaN) and ran a key in a tight loop.
 * The loader refuses it (test/config.test.ts); the scheduler refuses it too, without touching the
 * jobs it already has, for any caller that builds jobs by hand.
 */
import { describe, expect, it } from 'vitest';
import { createScheduler, type Job } from '../src/scheduler.js';

const job = (id: string, intervalMs: number): Job => ({ id, provider: 'p', intervalMs, run: async () => ({ failed: false }) });

describe('scheduler: intervals it cannot run', () => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses intervalMs %s and keeps its current jobs', (bad) => {
    const t = 1_000_000;
    const scheduler = createScheduler({ now: () => t, jitter: 0 });
    scheduler.set([job('a', 60_000)]);
    const due = scheduler.nextDue('a');

    const attempt = () => scheduler.set([job('a', 60_000), job('b', bad)]);

    expect(attempt).toThrow(/job b: intervalMs must be a positive/);
    expect(scheduler.nextDue('a')).toBe(due);
    expect(scheduler.nextDue('b')).toBeUndefined();
    expect(scheduler.stats().jobs).toBe(1);
  });
});
