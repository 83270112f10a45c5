import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HOUR_MS, openStore, type RunRecord, type Store } from '../src/store/index.js';
import type { KeyState } from '../src/state.js';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-store-'));
  store = openStore(join(dir, 'nested', 'kw.db'), { flushIntervalMs: 10_000, maxBatch: 10_000 });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const MIN = 60_000;

function run(at: number, over: Partial<RunRecord> = {}): RunRecord {
  return {
    at,
    key: 'prod',
    provider: 'openrouter',
    ok: true,
    durationMs: 100,
    facts: { valid: true, currency: 'USD', usage: { total: at / MIN, daily: 1 }, limit: 100, limitRemaining: 50 },
    outcomes: [{ probe: 'current_key', ok: true, durationMs: 100, at }],
    ...over,
  };
}

describe('store', () => {
  it('creates the directory and uses WAL', () => {
    const mode = store.db.pragma('journal_mode', { simple: true });

    expect(mode).toBe('wal');
  });

  it('batches writes: nothing until flush, then one transaction', () => {
    for (let i = 0; i < 100; i++) store.recordRun(run(T0 + i * MIN));

    const before = store.stats();
    store.flush();
    const after = store.stats();

    expect(before).toEqual({ flushes: 0, rowsWritten: 0, pending: 100, deferredStates: 0, historyReads: 0, historySamples: 0, rollupReads: 0 });
    expect(after).toEqual({ flushes: 1, rowsWritten: 100, pending: 0, deferredStates: 0, historyReads: 0, historySamples: 0, rollupReads: 0 });
    expect(store.db.prepare('SELECT count(*) AS n FROM probe_runs').get()).toEqual({ n: 100 });
    // Reads are counted too (the bench reports them per key run).
    const samples = store.history('prod', T0 + 50 * MIN).length;
    expect(samples).toBeGreaterThan(1);
    expect(store.stats()).toMatchObject({ historyReads: 1, historySamples: samples });
  });

  it('flushes on size', () => {
    const small = openStore(join(dir, 'small.db'), { flushIntervalMs: 10_000, maxBatch: 10 });

    for (let i = 0; i < 25; i++) small.recordRun(run(T0 + i * MIN));

    expect(small.stats()).toEqual({ flushes: 2, rowsWritten: 20, pending: 5, deferredStates: 0, historyReads: 0, historySamples: 0, rollupReads: 0 });
    small.close();
  });

  it('flushes on a short timer', async () => {
    const quick = openStore(join(dir, 'quick.db'), { flushIntervalMs: 20 });

    quick.recordRun(run(T0));
    await new Promise((r) => setTimeout(r, 100));

    expect(quick.stats()).toMatchObject({ flushes: 1, pending: 0 });
    quick.close();
  });

  it('by default writes what was queued a second later, in one transaction', () => {
    vi.useFakeTimers();
    try {
      const batched = openStore(join(dir, 'batched.db'));
      for (let i = 0; i < 40; i++) batched.recordRun(run(T0 + i * MIN));

      vi.advanceTimersByTime(999);
      expect(batched.stats()).toMatchObject({ flushes: 0, pending: 40 });
      vi.advanceTimersByTime(1);
      expect(batched.stats()).toMatchObject({ flushes: 1, pending: 0, rowsWritten: 40 });
      batched.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('history() is raw runs as they were recorded, oldest first, with null limits for unlimited keys', () => {
    store.recordRun(run(T0 + 2 * MIN, { facts: { valid: true, currency: 'USD', limit: null, limitRemaining: null, usage: { total: 3 } } }));
    store.recordRun(run(T0 + MIN, { ok: false, failedProbe: 'current_key', errorKind: 'timeout', facts: {} }));

    const h = store.history('prod', T0);

    expect(h).toEqual([
      { at: T0 + MIN, runs: 1, okRuns: 0, failures: { timeout: 1 }, latencyMs: 100 },
      { at: T0 + 2 * MIN, runs: 1, okRuns: 1, latencyMs: 100, valid: true, currency: 'USD', usageTotal: 3, limit: null, limitRemaining: null },
    ]);
  });

  it('history() includes runs still queued, without flushing them', () => {
    store.recordRun(run(T0));
    store.flush();
    store.recordRun(run(T0 + MIN));
    store.recordRun(run(T0 + 2 * MIN, { key: 'other' }));

    const h = store.history('prod', T0);

    expect(h.map((s) => s.at)).toEqual([T0, T0 + MIN]);
    expect(store.stats()).toMatchObject({ flushes: 1, pending: 2 });
  });

  it('history() is seamless across the raw/rollup boundary', () => {
    // 3 hours of runs every 10 minutes; the first two hours become rollups.
    for (let t = T0; t < T0 + 3 * HOUR_MS; t += 10 * MIN) store.recordRun(run(t));
    store.recordRun(run(T0 + 5 * MIN, { ok: false, errorKind: 'upstream', durationMs: 700, facts: {} }));
    const now = T0 + 3 * HOUR_MS;

    const result = store.rollupAndPrune(now, HOUR_MS, 30 * 24 * HOUR_MS);
    const h = store.history('prod', T0);

    expect(result.prunedRaw).toBe(13); // rolled up as they were recorded; raw kept for the current hour
    expect(h.map((s) => s.runs)).toEqual([7, 6, 1, 1, 1, 1, 1, 1]);
    expect(h.map((s) => s.at)).toEqual([...h.map((s) => s.at)].sort((a, b) => a - b));
    const first = h[0]!;
    expect(first).toMatchObject({ at: T0 + 50 * MIN, okRuns: 6, failures: { upstream: 1 }, usageTotal: (T0 + 50 * MIN) / MIN, limit: 100, limitRemaining: 50 });
    expect(first.latencyMs).toBeCloseTo((6 * 100 + 700) / 7);
    // The total number of runs survives the rollup.
    expect(h.reduce((n, s) => n + s.runs, 0)).toBe(19);
  });

  it('an hour whose raw runs were pruned is served whole from its rollup', () => {
    for (let t = T0; t < T0 + HOUR_MS; t += 10 * MIN) store.recordRun(run(t));

    store.rollupAndPrune(T0 + 25 * MIN, 0, 30 * 24 * HOUR_MS);
    store.rollupAndPrune(T0 + 2 * HOUR_MS, 0, 30 * 24 * HOUR_MS);
    const h = store.history('prod', 0);

    expect(h).toHaveLength(1);
    expect(h[0]).toMatchObject({ runs: 6, okRuns: 6, at: T0 + 50 * MIN });
  });

  it('rollupAndPrune deletes rollups older than retention and keeps the rest', () => {
    for (let d = 0; d < 10; d++) store.recordRun(run(T0 + d * 24 * HOUR_MS));
    const now = T0 + 9 * 24 * HOUR_MS + MIN;

    const result = store.rollupAndPrune(now, 2 * HOUR_MS, 5 * 24 * HOUR_MS);
    const h = store.history('prod', 0);

    // Days 0..3 are past the 5-day retention; days 4..8 are rollups; day 9 is still raw.
    expect(result.prunedRollups).toBe(4);
    expect(result.prunedRaw).toBe(9);
    expect(h.map((s) => Math.round((s.at - T0) / (24 * HOUR_MS)))).toEqual([4, 5, 6, 7, 8, 9]);
    expect(store.db.prepare('SELECT count(*) AS n FROM probe_runs').get()).toEqual({ n: 1 });
  });

  it('keeps the latest state per key and loads it back after reopening', () => {
    const state: KeyState = {
      name: 'prod',
      claimedProvider: 'openrouter',
      provider: 'openrouter',
      labels: { team: 'a' },
      watchModels: [],
      fingerprint: 'abcd1234',
      masked: 'sk-or-v1-…a1b2',
      facts: { valid: true, usage: { total: 1 } },
      probes: {},
      lastSuccessAt: {},
      lastRunAt: T0,
      consecutiveFailures: 0,
    };
    store.saveState(state);
    store.saveState({ ...state, lastRunAt: T0 + MIN, facts: { valid: false } });
    store.saveState({ ...state, name: 'gone' });
    store.forgetState('gone');
    store.close();

    store = openStore(join(dir, 'nested', 'kw.db'));
    const states = store.loadStates();

    expect([...states.keys()]).toEqual(['prod']);
    expect(states.get('prod')).toMatchObject({ lastRunAt: T0 + MIN, facts: { valid: false } });
  });

  it('skips a stored state it cannot read and loads the others, then goes on writing', () => {
    const state = (name: string, label: string): KeyState => ({
      name,
      claimedProvider: 'openrouter',
      provider: 'openrouter',
      labels: { team: label },
      watchModels: [],
      fingerprint: 'abcd1234',
      masked: 'sk-or-v1-…a1b2',
      facts: { valid: true },
      probes: {},
      lastSuccessAt: {},
      lastRunAt: T0,
      consecutiveFailures: 0,
    });
    // Beyond ASCII too: the states are read as they were written, byte for byte.
    for (const [name, label] of [['a', 'équipe-α'], ['b', 'b'], ['c', '团队']] as const) store.saveState(state(name, label));
    store.flush();
    store.db.prepare("UPDATE key_state SET state = '{\"name\": \"b\", trunc' WHERE key = 'b'").run();

    const states = store.loadStates();

    expect([...states.keys()].sort()).toEqual(['a', 'c']);
    expect(states.get('a')?.labels).toEqual({ team: 'équipe-α' });
    expect(states.get('c')?.labels).toEqual({ team: '团队' });
    store.saveState(state('b', 'b2'));
    store.flush();
    expect(store.loadStates().get('b')?.labels).toEqual({ team: 'b2' });
  });
});
