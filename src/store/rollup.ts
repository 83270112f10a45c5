/**
 * Hourly rollups: one row per key and hour holding every run of that hour (counts, failures by
 * kind, mean latency, the last money values). The store folds each run into its hour as it records
 * it (eager), so analysis reads ~168 rollups for a week instead of every raw run. The migration
 * that brings a database from the old semantics (raw rows folded only once older than
 * rawRetention) uses the same fold.
 */
import type { Database } from 'better-sqlite3';

export const HOUR_MS = 3_600_000;

export function hourOf(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS;
}

/** The raw-run columns a rollup keeps. */
export interface RawFields {
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

export interface RollupRow extends Omit<RawFields, 'at' | 'ok' | 'error_kind' | 'duration_ms'> {
  hour: number;
  last_at: number;
  runs: number;
  ok_runs: number;
  failures: string;
  latency_ms: number | null;
}

export const ROLLUP_COLUMNS =
  'key, hour, last_at, runs, ok_runs, failures, latency_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance';

/** Upsert of a whole rollup row (an update in place when the hour exists: cheaper than REPLACE's delete + insert). */
export const PUT_ROLLUP_SQL = `INSERT INTO rollups (${ROLLUP_COLUMNS})
  VALUES (@key, @hour, @last_at, @runs, @ok_runs, @failures, @latency_ms, @valid, @currency, @usage_total,
   @usage_daily, @usage_weekly, @usage_monthly, @limit_value, @limit_remaining, @unlimited, @balance)
  ON CONFLICT (key, hour) DO UPDATE SET last_at = excluded.last_at, runs = excluded.runs, ok_runs = excluded.ok_runs,
   failures = excluded.failures, latency_ms = excluded.latency_ms, valid = excluded.valid, currency = excluded.currency,
   usage_total = excluded.usage_total, usage_daily = excluded.usage_daily, usage_weekly = excluded.usage_weekly,
   usage_monthly = excluded.usage_monthly, limit_value = excluded.limit_value, limit_remaining = excluded.limit_remaining,
   unlimited = excluded.unlimited, balance = excluded.balance`;

export function emptyRollup(key: string, hour: number): RollupRow {
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

/** Folds one raw run of the rollup's hour into it. */
export function foldRaw(agg: RollupRow, row: RawFields): void {
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
  // A run older than one already folded (out of order) counts, but does not overwrite the
  // hour's last values with older ones.
  if (row.at < agg.last_at) return;
  agg.last_at = row.at;
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

/**
 * Folds every raw row into its hour's rollup, merging with the rollup already there. For a
 * database written with the old semantics, where a raw row still present was never rolled up (the
 * old job deleted what it folded), and an hour's rollup only holds runs older than its raw rows.
 * Walks key by key (better-sqlite3 forbids writes while a statement is being iterated), so
 * memory holds one key's raw rows at a time.
 */
export function foldAllRaw(db: Database): number {
  return foldRawRows(db, 0, () => true);
}

/**
 * Folds the raw runs at or after `sinceMs` that their hour's rollup does not hold yet: those after
 * the rollup's last run (a key's runs never overlap, so it holds every run up to its last). For a
 * store whose writer kept its current hours' rollups in memory and stopped without writing them
 * (rollupsAtHourEnd): the raw rows are written with every run, so nothing is lost. Idempotent.
 * Returns how many runs it folded.
 */
export function foldMissedRaw(db: Database, sinceMs: number): number {
  return foldRawRows(db, sinceMs, (agg, row) => agg.runs === 0 || row.at > agg.last_at);
}

/** Folds the raw rows at or after `sinceMs` that `fold` accepts into their hour's stored rollup. */
function foldRawRows(db: Database, sinceMs: number, fold: (agg: RollupRow, row: RawFields) => boolean): number {
  const getRollup = db.prepare(`SELECT ${ROLLUP_COLUMNS} FROM rollups WHERE key = ? AND hour = ?`);
  const put = db.prepare(PUT_ROLLUP_SQL);
  const keys = db.prepare('SELECT DISTINCT key FROM probe_runs WHERE at >= ?').pluck().all(sinceMs) as string[];
  const rowsOf = db.prepare(
    `SELECT key, at, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly,
       limit_value, limit_remaining, unlimited, balance FROM probe_runs WHERE key = ? AND at >= ? ORDER BY at, id`,
  );
  let folded = 0;
  for (const key of keys) {
    let agg: RollupRow | undefined;
    let changed = false;
    for (const row of rowsOf.all(key, sinceMs) as RawFields[]) {
      const hour = hourOf(row.at);
      if (agg === undefined || agg.hour !== hour) {
        if (agg !== undefined && changed) put.run(agg);
        agg = (getRollup.get(key, hour) as RollupRow | undefined) ?? emptyRollup(key, hour);
        changed = false;
      }
      if (!fold(agg, row)) continue;
      foldRaw(agg, row);
      changed = true;
      folded++;
    }
    if (agg !== undefined && changed) put.run(agg);
  }
  return folded;
}
