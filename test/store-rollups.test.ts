/**
 * Eager rollups: every recorded run is in its hour's rollup at once, history() reads rollups for
 * the hours before the key's current one and raw runs for the current one. Checked against the raw
 * truth (the runs the test recorded), across a restart mid-hour, after chunked pruning, and after
 * migrating a database written with the old semantics (raw rows rolled up only once old).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HistorySample } from '../src/analysis/types.js';
import { migrate } from '../src/store/migrate.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { HOUR_MS, hourOf, openStore, type RunRecord } from '../src/store/index.js';
import { emptyRollup, foldRaw, PUT_ROLLUP_SQL, type RawFields, type RollupRow } from '../src/store/rollup.js';

const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const MIN = 60_000;
const KINDS = ['timeout', 'upstream', 'rate_limited'] as const;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-store-rollups-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A deterministic run: every 5th fails (kind rotating, learns nothing), usage grows with time. */
function runAt(at: number, i: number, key = 'prod'): RunRecord {
  const fail = i % 5 === 3;
  if (fail) {
    const kind = KINDS[i % KINDS.length]!;
    return { at, key, provider: 'openrouter', ok: false, failedProbe: 'current_key', errorKind: kind, durationMs: 300 + i, facts: {}, outcomes: [] };
  }
  return {
    at,
    key,
    provider: 'openrouter',
    ok: true,
    durationMs: 100 + (i % 7),
    facts: { valid: true, currency: 'USD', usage: { total: 10 + i * 0.25, daily: i * 0.1 }, limit: i % 11 === 0 ? null : 100, limitRemaining: i % 11 === 0 ? null : 90 - i * 0.25 },
    outcomes: [],
  };
}

interface HourTruth {
  runs: number;
  okRuns: number;
  failures: Record<string, number>;
  lastAt: number;
  usageTotal?: number;
  limit?: number | null;
}

/** Per hour: what the recorded runs say (the truth). */
function truthByHour(runs: readonly RunRecord[]): Map<number, HourTruth> {
  const out = new Map<number, HourTruth>();
  for (const r of [...runs].sort((a, b) => a.at - b.at)) {
    const h = hourOf(r.at);
    const t = out.get(h) ?? { runs: 0, okRuns: 0, failures: {}, lastAt: 0 };
    t.runs++;
    if (r.ok) t.okRuns++;
    else t.failures[r.errorKind!] = (t.failures[r.errorKind!] ?? 0) + 1;
    t.lastAt = r.at;
    if (r.facts.usage?.total !== undefined) t.usageTotal = r.facts.usage.total;
    if (r.facts.limit !== undefined) t.limit = r.facts.limit;
    out.set(h, t);
  }
  return out;
}

/** Per hour: what history() hands analysis, summed the way analysis counts it. */
function historyByHour(h: readonly HistorySample[]): Map<number, HourTruth> {
  const out = new Map<number, HourTruth>();
  for (const s of h) {
    const hour = hourOf(s.at);
    const t = out.get(hour) ?? { runs: 0, okRuns: 0, failures: {}, lastAt: 0 };
    t.runs += s.runs;
    t.okRuns += s.okRuns;
    for (const [k, n] of Object.entries(s.failures ?? {})) t.failures[k] = (t.failures[k] ?? 0) + (n ?? 0);
    t.lastAt = Math.max(t.lastAt, s.at);
    if (s.usageTotal !== undefined) t.usageTotal = s.usageTotal;
    if (s.limit !== undefined) t.limit = s.limit;
    out.set(hour, t);
  }
  return out;
}

function totals(h: readonly HistorySample[]): { runs: number; okRuns: number; failures: Record<string, number> } {
  const failures: Record<string, number> = {};
  for (const s of h) for (const [k, n] of Object.entries(s.failures ?? {})) failures[k] = (failures[k] ?? 0) + (n ?? 0);
  return { runs: h.reduce((n, s) => n + s.runs, 0), okRuns: h.reduce((n, s) => n + s.okRuns, 0), failures };
}

describe('eager rollups', () => {
  it('history() equals the raw truth across hours and a restart mid-hour; one sample per past hour, raw for the current one', () => {
    const file = join(dir, 'kw.db');
    // Nothing flushed until close: past hours are read from the unflushed rollups, too.
    let store = openStore(file, { flushIntervalMs: 3_600_000, maxBatch: 100_000 });
    const recorded: RunRecord[] = [];
    const restartAt = T0 + 3 * HOUR_MS + 20 * MIN;
    const end = T0 + 5 * HOUR_MS + 40 * MIN;
    let i = 0;
    let beforeRestart: HistorySample[] = [];
    let afterRestart: HistorySample[] = [];
    for (let at = T0 + 13 * MIN; at < end; at += 7 * MIN, i++) {
      if (at >= restartAt && afterRestart.length === 0) {
        beforeRestart = store.history('prod', T0);
        store.close();
        store = openStore(file, { flushIntervalMs: 3_600_000, maxBatch: 100_000 });
        afterRestart = store.history('prod', T0);
      }
      const r = runAt(at, i);
      store.recordRun(r);
      recorded.push(r);
      store.recordRun(runAt(at + 1000, i + 1, 'other')); // another key in the same batches
    }

    const h = store.history('prod', T0);
    const raw = store.rawRuns('prod', 0, end);
    store.close();

    const truth = truthByHour(recorded);
    const lastHour = hourOf(recorded.at(-1)!.at);
    expect(afterRestart).toEqual(beforeRestart); // a reopened store serves the same history
    expect(historyByHour(h)).toEqual(truth);
    expect(totals(h)).toEqual(totals(raw)); // rawRuns() is the recorded runs, one sample each
    expect(raw).toHaveLength(recorded.length);
    // Past hours: one sample each, at the hour's last run; the current hour: its runs one by one.
    const past = h.filter((s) => s.at < lastHour);
    expect(past.map((s) => s.at)).toEqual([...truth.entries()].filter(([hour]) => hour < lastHour).map(([, t]) => t.lastAt));
    expect(h.filter((s) => s.at >= lastHour)).toEqual(raw.filter((s) => s.at >= lastHour));
    // The hour the restart fell in continued its counts: runs before and after the restart, once each.
    expect(h.find((s) => hourOf(s.at) === hourOf(restartAt))!.runs).toBe(recorded.filter((r) => hourOf(r.at) === hourOf(restartAt)).length);
    // Mean latency of a past hour is the mean of its runs.
    const h1 = recorded.filter((r) => hourOf(r.at) === T0 + HOUR_MS);
    expect(h.find((s) => hourOf(s.at) === T0 + HOUR_MS)!.latencyMs).toBeCloseTo(h1.reduce((n, r) => n + r.durationMs, 0) / h1.length);
  });

  it('writes the rollup in the same flush as the raw row', () => {
    const store = openStore(join(dir, 'kw.db'), { flushIntervalMs: 3_600_000, maxBatch: 100_000 });
    store.recordRun(runAt(T0 + MIN, 0));
    store.recordRun(runAt(T0 + 2 * MIN, 3));
    const count = (table: string): number => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

    const before = [count('probe_runs'), count('rollups')];
    store.flush();
    const row = store.db.prepare('SELECT runs, ok_runs, failures, last_at FROM rollups').get();
    store.close();

    expect(before).toEqual([0, 0]);
    expect(row).toEqual({ runs: 2, ok_runs: 1, failures: JSON.stringify({ timeout: 1 }), last_at: T0 + 2 * MIN });
  });

  it('every figure comes back in its own field: from a rollup, a stored raw run and a queued one', () => {
    const store = openStore(join(dir, 'kw.db'), { flushIntervalMs: 3_600_000, maxBatch: 100_000 });
    // All different, so a field read from its neighbour's column shows.
    const facts = (n: number): RunRecord['facts'] => ({
      valid: true,
      currency: 'CNY',
      usage: { total: 1000 + n, daily: 1 + n, weekly: 10 + n, monthly: 100 + n },
      limit: 5000 + n,
      limitRemaining: 4000 + n,
      balance: 300 + n,
    });
    const expected = (at: number, n: number, latencyMs: number): HistorySample => ({
      at,
      runs: 1,
      okRuns: 1,
      latencyMs,
      valid: true,
      currency: 'CNY',
      usageTotal: 1000 + n,
      usageDaily: 1 + n,
      usageWeekly: 10 + n,
      usageMonthly: 100 + n,
      limit: 5000 + n,
      limitRemaining: 4000 + n,
      balance: 300 + n,
    });
    store.recordRun({ at: T0 + MIN, key: 'prod', provider: 'deepseek', ok: true, durationMs: 120, facts: facts(1), outcomes: [] });
    store.recordRun({ at: T0 + HOUR_MS + MIN, key: 'prod', provider: 'deepseek', ok: true, durationMs: 130, facts: facts(2), outcomes: [] });
    store.flush();
    store.recordRun({ at: T0 + HOUR_MS + 2 * MIN, key: 'prod', provider: 'deepseek', ok: true, durationMs: 140, facts: facts(3), outcomes: [] });
    store.recordRun({ at: T0 + HOUR_MS + 3 * MIN, key: 'prod', provider: 'deepseek', ok: true, durationMs: 150, facts: { ...facts(4), limit: null }, outcomes: [] });

    const h = store.history('prod', T0);
    store.close();

    expect(h).toEqual([
      expected(T0 + MIN, 1, 120), // hour 0: its rollup
      expected(T0 + HOUR_MS + MIN, 2, 130), // stored raw run
      expected(T0 + HOUR_MS + 2 * MIN, 3, 140), // queued, not flushed
      { ...expected(T0 + HOUR_MS + 3 * MIN, 4, 150), limit: null, limitRemaining: null }, // unlimited
    ]);
  });

  it('history(since) leaves out rollups whose runs all precede since, as before', () => {
    const store = openStore(join(dir, 'kw.db'));
    for (let k = 0; k < 30; k++) store.recordRun(runAt(T0 + k * 10 * MIN, k));

    const h = store.history('prod', T0 + HOUR_MS + 55 * MIN);
    const later = store.history('prod', T0 + 4 * HOUR_MS + 35 * MIN);
    store.close();

    // Hour 1's last run is at 1:50 (< 1:55): left out; hours 2, 3 rollups; hour 4 raw.
    expect(h.map((s) => s.runs)).toEqual([6, 6, 1, 1, 1, 1, 1, 1]);
    expect(later.map((s) => s.at)).toEqual([T0 + 4 * HOUR_MS + 40 * MIN, T0 + 4 * HOUR_MS + 50 * MIN]);
  });
});

describe('pruneStep', () => {
  it('deletes old raw runs in chunks of at most maxRows, then old rollups, never a rollup within retention', () => {
    const store = openStore(join(dir, 'kw.db'), { maxBatch: 10_000 });
    const recorded: RunRecord[] = [];
    let i = 0;
    for (let at = T0; at < T0 + 3 * 24 * HOUR_MS; at += 10 * MIN, i++) {
      for (const key of ['prod', 'other']) {
        const r = runAt(at, i, key);
        store.recordRun(r);
        if (key === 'prod') recorded.push(r);
      }
    }
    const now = T0 + 3 * 24 * HOUR_MS + 5 * MIN;
    const rawRetention = 6 * HOUR_MS;
    const retention = 2 * 24 * HOUR_MS;
    const q = (sql: string, ...p: number[]): number => (store.db.prepare(sql).get(...p) as { n: number }).n;
    store.flush();
    const keptRollupsBefore = q('SELECT count(*) AS n FROM rollups WHERE hour > ?', now - retention - HOUR_MS);
    const oldRaw = q('SELECT count(*) AS n FROM probe_runs WHERE at < ?', now - rawRetention);
    const oldRollups = q('SELECT count(*) AS n FROM rollups WHERE hour <= ?', now - retention - HOUR_MS);

    const steps: number[] = [];
    for (let n = store.pruneStep(now, rawRetention, retention, 100); n > 0; n = store.pruneStep(now, rawRetention, retention, 100)) {
      steps.push(n);
      // Within retention, every rollup is still there after each step.
      expect(q('SELECT count(*) AS n FROM rollups WHERE hour > ?', now - retention - HOUR_MS)).toBe(keptRollupsBefore);
    }
    const h = store.history('prod', now - retention);
    const rawLeft = q('SELECT min(at) AS n FROM probe_runs');
    store.close();

    expect(steps.every((n) => n <= 100)).toBe(true);
    expect(steps.slice(0, -1).every((n) => n === 100)).toBe(true);
    expect(steps.reduce((a, b) => a + b, 0)).toBe(oldRaw + oldRollups);
    expect(oldRollups).toBeGreaterThan(0);
    expect(keptRollupsBefore).toBe(2 * 48); // two keys, hours 24..71 (the runs end at hour 72)
    expect(rawLeft).toBeGreaterThanOrEqual(now - rawRetention);
    // History within retention still counts every run recorded since its first hour.
    const from = hourOf(now - retention);
    expect(historyByHour(h)).toEqual(truthByHour(recorded.filter((r) => r.at >= from && hourOf(r.at) > now - retention - HOUR_MS)));
  });

  it('never deletes the current hour raw runs, even with a zero raw retention', () => {
    const store = openStore(join(dir, 'kw.db'));
    for (let k = 0; k < 6; k++) store.recordRun(runAt(T0 + k * 5 * MIN, k));

    while (store.pruneStep(T0 + 30 * MIN, 0, 24 * HOUR_MS, 2) > 0);
    const h = store.history('prod', T0);
    store.close();

    expect(h).toHaveLength(6);
  });

  it('rollupAndPrune deletes what the steps delete', () => {
    const a = openStore(join(dir, 'a.db'));
    const b = openStore(join(dir, 'b.db'));
    for (let k = 0; k < 200; k++) {
      a.recordRun(runAt(T0 + k * 17 * MIN, k));
      b.recordRun(runAt(T0 + k * 17 * MIN, k));
    }
    const now = T0 + 200 * 17 * MIN;

    const whole = a.rollupAndPrune(now, 3 * HOUR_MS, 24 * HOUR_MS);
    let stepped = 0;
    for (let n = 1; n > 0; stepped += n) n = b.pruneStep(now, 3 * HOUR_MS, 24 * HOUR_MS, 7);
    const ha = a.history('prod', 0);
    const hb = b.history('prod', 0);
    a.close();
    b.close();

    expect(whole.pruned).toBe(stepped);
    expect(ha).toEqual(hb);
  });
});

describe('migration to eager rollups (core v2)', () => {
  it('a v1 database (raw rows not yet rolled up, one hour partly rolled) gives the same history, once', () => {
    const file = join(dir, 'v1.db');
    const recorded: RunRecord[] = [];
    for (let k = 0; k < 60; k++) recorded.push(runAt(T0 + 7 * MIN + k * 6 * MIN, k));
    // The old daemon: every run raw; its hourly job folded runs older than the cutoff into
    // rollups and deleted them. Here it ran with the cutoff at 3:30, mid-hour.
    const db = new BetterSqlite3(file);
    migrate(db, 'core', CORE_MIGRATIONS.filter((m) => m.version === 1));
    const insert = db.prepare(`INSERT INTO probe_runs (at, key, provider, ok, failed_probe, error_kind, duration_ms, valid, currency,
      usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance, probes)
      VALUES (@at, @key, 'openrouter', @ok, NULL, @error_kind, @duration_ms, @valid, @currency, @usage_total, @usage_daily,
      NULL, NULL, @limit_value, @limit_remaining, @unlimited, NULL, '[]')`);
    const cutoff = T0 + 3 * HOUR_MS + 30 * MIN;
    const rollups = new Map<number, RollupRow>();
    for (const r of recorded) {
      const row = rawFieldsOf(r);
      if (r.at >= cutoff) insert.run(row);
      else {
        const agg = rollups.get(hourOf(r.at)) ?? emptyRollup(r.key, hourOf(r.at));
        foldRaw(agg, row);
        rollups.set(agg.hour, agg);
      }
    }
    const put = db.prepare(PUT_ROLLUP_SQL);
    for (const agg of rollups.values()) put.run(agg);
    db.close();

    const store = openStore(file);
    const h = store.history('prod', 0);
    store.close();
    const again = openStore(file);
    const h2 = again.history('prod', 0);
    const versions = again.db.prepare("SELECT version FROM schema_migrations WHERE component = 'core' ORDER BY version").pluck().all();
    again.close();

    expect(versions).toEqual([1, 2, 3, 4]);
    expect(historyByHour(h)).toEqual(truthByHour(recorded));
    expect(totals(h)).toMatchObject({ runs: 60, okRuns: 48 });
    // The current hour (the newest) is still served run by run; the partly rolled hour is whole.
    const last = hourOf(recorded.at(-1)!.at);
    expect(h.filter((s) => s.at >= last).every((s) => s.runs === 1)).toBe(true);
    expect(h.find((s) => hourOf(s.at) === T0 + 3 * HOUR_MS)!.runs).toBe(10);
    expect(h2).toEqual(h); // reopening folds nothing again
  });
});

describe('rollups clustered by key (core v3)', () => {
  it('a v2 database written hour by hour keeps every rollup, now in a WITHOUT ROWID table; history and pruning read it', () => {
    const file = join(dir, 'v2.db');
    const db = new BetterSqlite3(file);
    migrate(db, 'core', CORE_MIGRATIONS.filter((m) => m.version <= 2));
    // As the daemon writes them: each hour, every key's rollup (rowids interleave the keys).
    const put = db.prepare(PUT_ROLLUP_SQL);
    const keys = ['a', 'b', 'c'];
    for (let h = 0; h < 48; h++) {
      keys.forEach((key, i) => {
        const agg = emptyRollup(key, T0 + h * HOUR_MS);
        foldRaw(agg, rawFieldsOf(runAt(T0 + h * HOUR_MS + (10 + i) * MIN, h + i, key)));
        put.run(agg);
      });
    }
    const all = (d: BetterSqlite3.Database): unknown[] => d.prepare('SELECT * FROM rollups ORDER BY key, hour').all();
    const before = all(db);
    const withoutRowid = (d: BetterSqlite3.Database): boolean =>
      /WITHOUT ROWID/i.test(d.prepare("SELECT sql FROM sqlite_master WHERE name = 'rollups'").pluck().get() as string);
    expect(withoutRowid(db)).toBe(false);
    db.close();

    const store = openStore(file);
    expect(all(store.db)).toEqual(before);
    expect(withoutRowid(store.db)).toBe(true);
    const indexes = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rollups'").pluck().all();
    expect(indexes).toContain('rollups_hour');
    const h = store.history('b', 0);
    expect(h.map((s) => hourOf(s.at))).toEqual(Array.from({ length: 48 }, (_, i) => T0 + i * HOUR_MS));
    expect(totals(h).runs).toBe(48);
    // Chunked pruning deletes by primary key now: the 24 oldest hours of every key, 10 rows a step.
    let steps = 0;
    while (store.pruneStep(T0 + 48 * HOUR_MS, HOUR_MS, 24 * HOUR_MS, 10) > 0) steps++;
    expect(steps).toBeGreaterThanOrEqual(8);
    const left = store.db.prepare('SELECT key, count(*) n, min(hour) lo FROM rollups GROUP BY key ORDER BY key').all();
    store.close();
    expect(left).toEqual(keys.map((key) => ({ key, n: 24, lo: T0 + 24 * HOUR_MS })));
  });
});

function rawFieldsOf(r: RunRecord): RawFields {
  const f = r.facts;
  return {
    at: r.at,
    key: r.key,
    ok: r.ok ? 1 : 0,
    error_kind: r.errorKind ?? null,
    duration_ms: r.durationMs,
    valid: f.valid === undefined ? null : f.valid ? 1 : 0,
    currency: f.currency ?? null,
    usage_total: f.usage?.total ?? null,
    usage_daily: f.usage?.daily ?? null,
    usage_weekly: null,
    usage_monthly: null,
    limit_value: f.limit ?? null,
    limit_remaining: f.limitRemaining ?? null,
    unlimited: f.limit === undefined ? null : f.limit === null ? 1 : 0,
    balance: null,
  };
}
