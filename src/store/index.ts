/**
 * SQLite history and last-known state (better-sqlite3, WAL). Writes are queued and flushed in one
 * transaction on a short timer or when the queue is full, so 10,000 keys do not mean 10,000
 * fsyncs. Raw runs are kept for storage.rawRetention, then folded into hourly rollups; history()
 * reads both and hands analysis one seamless, oldest-first series.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { HistorySample } from '../analysis/types.js';
import type { Logger } from '../log.js';
import { scrubSecrets } from '../secret.js';
import type { KeyState } from '../state.js';
import type { Currency, KeyFacts, ProbeOutcome } from '../../probes/types.js';
import { migrate } from './migrate.js';
import { CORE_MIGRATIONS } from './migrations.js';

export const HOUR_MS = 3_600_000;

/** One key run as the store records it. */
export interface RunRecord {
  /** Epoch ms the run started. */
  at: number;
  key: string;
  provider: string;
  ok: boolean;
  /** First failing probe, and why (`invalid` when the key was refused). */
  failedProbe?: string;
  errorKind?: string;
  durationMs: number;
  /** What this run learned (not merged with earlier runs). */
  facts: KeyFacts;
  outcomes: readonly ProbeOutcome[];
}

export interface StoreOptions {
  /** Flush queued writes after at most this long (default 250 ms). */
  flushIntervalMs?: number;
  /** Flush at once when this many writes are queued (default 500). */
  maxBatch?: number;
  /** SQLite busy_timeout (default 5000 ms). */
  busyTimeoutMs?: number;
  log?: Logger;
}

export interface StoreStats {
  flushes: number;
  rowsWritten: number;
  pending: number;
}

export interface RollupResult {
  /** Raw rows folded into rollups and deleted. */
  rolledUp: number;
  /** Rollup rows (and stray raw rows) older than retention deleted. */
  pruned: number;
}

export interface Store {
  readonly path: string;
  /** The open database, for components that keep their own tables (alerting). */
  readonly db: Database;
  recordRun(run: RunRecord): void;
  saveState(state: KeyState): void;
  /** The key left the config: its last state is not served after a restart (history is kept). */
  forgetState(key: string): void;
  /** Writes everything queued, in one transaction. */
  flush(): void;
  /** Oldest first: hourly rollups for the old part, raw runs for the recent part. */
  history(key: string, sinceMs: number): HistorySample[];
  rollupAndPrune(now: number, rawRetentionMs: number, retentionMs: number): RollupResult;
  loadStates(): Map<string, KeyState>;
  stats(): StoreStats;
  close(): void;
}

interface RawRow {
  id: number;
  at: number;
  key: string;
  ok: number;
  error_kind: string | null;
  duration_ms: number;
  valid: number | null;
  currency: string | null;
  usage_total: number | null;
  usage_daily: number | null;
  usage_weekly: number | null;
  usage_monthly: number | null;
  limit_value: number | null;
  limit_remaining: number | null;
  unlimited: number | null;
  balance: number | null;
}

interface RollupRow extends Omit<RawRow, 'id' | 'at' | 'ok' | 'error_kind' | 'duration_ms'> {
  hour: number;
  last_at: number;
  runs: number;
  ok_runs: number;
  failures: string;
  latency_ms: number | null;
}

type Write = { kind: 'run'; run: RunRecord } | { kind: 'state'; state: KeyState } | { kind: 'forget'; key: string };

export function openStore(path: string, opts: StoreOptions = {}): Store {
  const file = path === ':memory:' ? path : resolve(path);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  db.pragma('synchronous = NORMAL');
  migrate(db, 'core', CORE_MIGRATIONS);

  const flushIntervalMs = opts.flushIntervalMs ?? 250;
  const maxBatch = opts.maxBatch ?? 500;
  const log = opts.log;

  const insertRun = db.prepare(`INSERT INTO probe_runs
    (at, key, provider, ok, failed_probe, error_kind, duration_ms, valid, currency, usage_total, usage_daily,
     usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance, probes)
    VALUES (@at, @key, @provider, @ok, @failed_probe, @error_kind, @duration_ms, @valid, @currency, @usage_total,
     @usage_daily, @usage_weekly, @usage_monthly, @limit_value, @limit_remaining, @unlimited, @balance, @probes)`);
  const upsertState = db.prepare(
    `INSERT INTO key_state (key, updated_at, state) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state`,
  );
  const deleteState = db.prepare('DELETE FROM key_state WHERE key = ?');
  // Only what a HistorySample needs (the per-probe JSON stays on disk), as arrays: analysis reads
  // thousands of raw rows per key run, and arrays come out of SQLite twice as fast as row objects.
  const selectRaw = db
    .prepare(
      `SELECT at, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly,
         limit_value, limit_remaining, unlimited, balance FROM probe_runs WHERE key = ? AND at >= ? ORDER BY at, id`,
    )
    .raw(true);
  const selectRollups = db.prepare('SELECT * FROM rollups WHERE key = ? AND last_at >= ? ORDER BY hour');
  const selectStates = db.prepare('SELECT state FROM key_state');

  let queue: Write[] = [];
  let timer: NodeJS.Timeout | undefined;
  const counters = { flushes: 0, rowsWritten: 0 };
  let closed = false;

  const writeAll = db.transaction((writes: Write[]) => {
    // Only the newest state of a key matters; write it once.
    const states = new Map<string, KeyState | null>();
    for (const w of writes) {
      if (w.kind === 'run') insertRun.run(runParams(w.run));
      else if (w.kind === 'state') states.set(w.state.name, w.state);
      else states.set(w.key, null);
    }
    for (const [key, state] of states) {
      if (state === null) deleteState.run(key);
      else upsertState.run(key, state.lastRunAt ?? 0, stateJson(state));
    }
  });

  function flush(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (queue.length === 0 || closed) return;
    const batch = queue;
    queue = [];
    try {
      writeAll(batch);
      counters.flushes++;
      counters.rowsWritten += batch.length;
    } catch (err) {
      // Keep the daemon alive (a full disk should not stop probing); the rows are lost, loudly.
      log?.error({ err, rows: batch.length }, 'store write failed');
    }
  }

  function enqueue(w: Write): void {
    if (closed) return;
    queue.push(w);
    if (queue.length >= maxBatch) flush();
    else if (timer === undefined) {
      timer = setTimeout(flush, flushIntervalMs);
      timer.unref();
    }
  }

  function history(key: string, sinceMs: number): HistorySample[] {
    const rolled = (selectRollups.all(key, sinceMs) as RollupRow[]).map(rollupSample);
    const raw = (selectRaw.all(key, sinceMs) as RawColumns[]).map(rawSampleOf);
    // Runs still queued are read from the queue, not flushed: analysis after every run would
    // otherwise turn the batch back into one transaction per run.
    const queued = queue.flatMap((w) => (w.kind === 'run' && w.run.key === key && w.run.at >= sinceMs ? [rawSample(runParams(w.run))] : []));
    // Rollups only hold runs older than any raw row still kept, so a merge by time is seamless.
    return [...rolled, ...raw, ...queued].sort((a, b) => a.at - b.at);
  }

  function rollupAndPrune(now: number, rawRetentionMs: number, retentionMs: number): RollupResult {
    flush();
    const cutoff = now - rawRetentionMs;
    const oldest = now - retentionMs;
    return db.transaction((): RollupResult => {
      const aggregates = new Map<string, RollupRow>();
      const getRollup = db.prepare('SELECT * FROM rollups WHERE key = ? AND hour = ?');
      let rolledUp = 0;
      // Arrays, and only the columns a rollup keeps: this loop walks an hour of every key's runs.
      const rows = db
        .prepare(
          `SELECT key, at, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly,
             limit_value, limit_remaining, unlimited, balance FROM probe_runs WHERE at < ? ORDER BY at, id`,
        )
        .raw(true)
        .iterate(cutoff) as Iterable<[string, ...RawColumns]>;
      for (const [key, ...columns] of rows) {
        const row = rawRowOf(columns as RawColumns, key);
        const hour = Math.floor(row.at / HOUR_MS) * HOUR_MS;
        const id = `${row.key}\u0000${hour}`;
        let agg = aggregates.get(id);
        if (agg === undefined) {
          agg = (getRollup.get(row.key, hour) as RollupRow | undefined) ?? emptyRollup(row.key, hour);
          aggregates.set(id, agg);
        }
        foldRaw(agg, row);
        rolledUp++;
      }
      const put = db.prepare(`INSERT OR REPLACE INTO rollups
        (key, hour, last_at, runs, ok_runs, failures, latency_ms, valid, currency, usage_total, usage_daily,
         usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance)
        VALUES (@key, @hour, @last_at, @runs, @ok_runs, @failures, @latency_ms, @valid, @currency, @usage_total,
         @usage_daily, @usage_weekly, @usage_monthly, @limit_value, @limit_remaining, @unlimited, @balance)`);
      for (const agg of aggregates.values()) put.run(agg);
      db.prepare('DELETE FROM probe_runs WHERE at < ?').run(cutoff);
      // `hour <= oldest - 1h`, not `hour + 1h <= oldest`: the bare column uses the rollups_hour index
      // instead of scanning every rollup (1.3 s on 30 days of 10,000 keys, at every start-up).
      const prunedRollups = db.prepare('DELETE FROM rollups WHERE hour <= ?').run(oldest - HOUR_MS).changes;
      const prunedRaw = db.prepare('DELETE FROM probe_runs WHERE at < ?').run(oldest).changes;
      return { rolledUp, pruned: prunedRollups + prunedRaw };
    })();
  }

  function loadStates(): Map<string, KeyState> {
    flush();
    const out = new Map<string, KeyState>();
    for (const row of selectStates.all() as { state: string }[]) {
      try {
        const state = JSON.parse(row.state) as KeyState;
        out.set(state.name, state);
      } catch {
        log?.warn('stored key state unreadable, skipped');
      }
    }
    return out;
  }

  return {
    path: file,
    db,
    recordRun: (run) => enqueue({ kind: 'run', run }),
    saveState: (state) => enqueue({ kind: 'state', state }),
    forgetState: (key) => enqueue({ kind: 'forget', key }),
    flush,
    history,
    rollupAndPrune,
    loadStates,
    stats: () => ({ ...counters, pending: queue.length }),
    close: () => {
      if (closed) return;
      flush();
      closed = true;
      db.close();
    },
  };
}

type RunParams = Omit<RawRow, 'id'> & { provider: string; failed_probe: string | null; probes: string };

function runParams(run: RunRecord): RunParams {
  const f = run.facts;
  const limitKnown = f.limit !== undefined;
  return {
    at: run.at,
    key: run.key,
    provider: run.provider,
    ok: run.ok ? 1 : 0,
    failed_probe: run.failedProbe ?? null,
    error_kind: run.errorKind ?? null,
    duration_ms: Math.round(run.durationMs),
    valid: f.valid === undefined ? null : f.valid ? 1 : 0,
    currency: f.currency ?? f.balanceCurrency ?? null,
    usage_total: f.usage?.total ?? null,
    usage_daily: f.usage?.daily ?? null,
    usage_weekly: f.usage?.weekly ?? null,
    usage_monthly: f.usage?.monthly ?? null,
    limit_value: f.limit ?? null,
    limit_remaining: f.limitRemaining ?? null,
    unlimited: limitKnown ? (f.limit === null ? 1 : 0) : null,
    balance: f.balance ?? null,
    probes: JSON.stringify(
      run.outcomes.map((o) => ({
        probe: o.probe,
        ok: o.ok,
        ...(o.errorKind !== undefined ? { kind: o.errorKind } : {}),
        ...(o.status !== undefined ? { status: o.status } : {}),
        ms: Math.round(o.durationMs),
      })),
    ),
  };
}

/** KeyState holds no Secret by design; the scrubber is a second line in case a message echoed one. */
function stateJson(state: KeyState): string {
  return scrubSecrets(JSON.stringify(state));
}

function emptyRollup(key: string, hour: number): RollupRow {
  return {
    key,
    hour,
    last_at: hour,
    runs: 0,
    ok_runs: 0,
    failures: '{}',
    latency_ms: null,
    valid: null,
    currency: null,
    usage_total: null,
    usage_daily: null,
    usage_weekly: null,
    usage_monthly: null,
    limit_value: null,
    limit_remaining: null,
    unlimited: null,
    balance: null,
  };
}

const LAST_VALUE_FIELDS = ['valid', 'currency', 'usage_total', 'usage_daily', 'usage_weekly', 'usage_monthly', 'balance'] as const;

/** Folds one raw run (newer than anything already in the rollup) into it. */
function foldRaw(agg: RollupRow, row: Omit<RawRow, 'id'>): void {
  const meanBefore = agg.latency_ms ?? 0;
  agg.latency_ms = (meanBefore * agg.runs + row.duration_ms) / (agg.runs + 1);
  agg.runs += 1;
  if (row.ok === 1) agg.ok_runs += 1;
  else {
    const failures = JSON.parse(agg.failures) as Record<string, number>;
    const kind = row.error_kind ?? 'unknown';
    failures[kind] = (failures[kind] ?? 0) + 1;
    agg.failures = JSON.stringify(failures);
  }
  agg.last_at = Math.max(agg.last_at, row.at);
  // Last values seen in the hour; a failed run that learned nothing does not blank them.
  for (const f of LAST_VALUE_FIELDS) {
    if (row[f] !== null) (agg as unknown as Record<string, unknown>)[f] = row[f];
  }
  if (row.unlimited !== null) {
    agg.unlimited = row.unlimited;
    agg.limit_value = row.limit_value;
    agg.limit_remaining = row.limit_remaining;
  }
}

/** Adds the money fields to a sample in place (no intermediate object: this runs for every history row). */
function addMoney(s: HistorySample, row: Omit<RawRow, 'id' | 'at' | 'ok' | 'error_kind' | 'duration_ms'>): HistorySample {
  if (row.valid !== null) s.valid = row.valid === 1;
  if (row.currency !== null) s.currency = row.currency as Currency;
  if (row.usage_total !== null) s.usageTotal = row.usage_total;
  if (row.usage_daily !== null) s.usageDaily = row.usage_daily;
  if (row.usage_weekly !== null) s.usageWeekly = row.usage_weekly;
  if (row.usage_monthly !== null) s.usageMonthly = row.usage_monthly;
  if (row.unlimited === 1) {
    s.limit = null;
    s.limitRemaining = null;
  } else if (row.unlimited === 0) {
    if (row.limit_value !== null) s.limit = row.limit_value;
    if (row.limit_remaining !== null) s.limitRemaining = row.limit_remaining;
  }
  if (row.balance !== null) s.balance = row.balance;
  return s;
}

/** The columns selectRaw returns, in its order. */
type RawColumns = [
  at: number,
  ok: number,
  error_kind: string | null,
  duration_ms: number,
  valid: number | null,
  currency: string | null,
  usage_total: number | null,
  usage_daily: number | null,
  usage_weekly: number | null,
  usage_monthly: number | null,
  limit_value: number | null,
  limit_remaining: number | null,
  unlimited: number | null,
  balance: number | null,
];

function rawRowOf(c: RawColumns, key = ''): Omit<RawRow, 'id'> {
  const [at, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance] = c;
  return { at, key, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance };
}

function rawSampleOf(c: RawColumns): HistorySample {
  return rawSample(rawRowOf(c));
}

function rawSample(row: Omit<RawRow, 'id'>): HistorySample {
  const s: HistorySample = { at: row.at, runs: 1, okRuns: row.ok };
  if (row.ok === 0) s.failures = { [row.error_kind ?? 'unknown']: 1 };
  s.latencyMs = row.duration_ms;
  return addMoney(s, row);
}

function rollupSample(row: RollupRow): HistorySample {
  // Most hours had no failure: skip parsing the '{}' (history() maps ~170 rollups per key run).
  const failures = row.failures === '{}' ? undefined : (JSON.parse(row.failures) as Record<string, number>);
  const s: HistorySample = { at: row.last_at, runs: row.runs, okRuns: row.ok_runs };
  if (failures !== undefined && Object.keys(failures).length > 0) s.failures = failures;
  if (row.latency_ms !== null) s.latencyMs = row.latency_ms;
  return addMoney(s, row);
}
