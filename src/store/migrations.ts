/**
 * The core's tables (component 'core'). Other components (alerting) run their own migrations on
 * the same database. No column ever holds a secret: keys are named by their config name, and the
 * state JSON carries only the fingerprint and masked form.
 */
import type { Migration } from './migrate.js';
import { foldAllRaw } from './rollup.js';

export const CORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      -- One row per key run. Money fields are what the provider reported in that run.
      -- unlimited = 1 when the provider said the key has no spend limit (limit null).
      CREATE TABLE probe_runs (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        key TEXT NOT NULL,
        provider TEXT NOT NULL,
        ok INTEGER NOT NULL,
        failed_probe TEXT,
        error_kind TEXT,
        duration_ms INTEGER NOT NULL,
        valid INTEGER,
        currency TEXT,
        usage_total REAL,
        usage_daily REAL,
        usage_weekly REAL,
        usage_monthly REAL,
        limit_value REAL,
        limit_remaining REAL,
        unlimited INTEGER,
        balance REAL,
        -- per-probe outcomes: [{probe, ok, kind?, status?, ms}]
        probes TEXT NOT NULL DEFAULT '[]'
      );
      CREATE INDEX probe_runs_key_at ON probe_runs (key, at);
      CREATE INDEX probe_runs_at ON probe_runs (at);

      CREATE TABLE key_state (
        key TEXT PRIMARY KEY,
        updated_at INTEGER NOT NULL,
        state TEXT NOT NULL
      );

      -- Hourly rollups (since version 2: of every run, kept current as runs are recorded).
      CREATE TABLE rollups (
        key TEXT NOT NULL,
        hour INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        runs INTEGER NOT NULL,
        ok_runs INTEGER NOT NULL,
        failures TEXT NOT NULL DEFAULT '{}',
        latency_ms REAL,
        valid INTEGER,
        currency TEXT,
        usage_total REAL,
        usage_daily REAL,
        usage_weekly REAL,
        usage_monthly REAL,
        limit_value REAL,
        limit_remaining REAL,
        unlimited INTEGER,
        balance REAL,
        PRIMARY KEY (key, hour)
      );
      CREATE INDEX rollups_hour ON rollups (hour);
    `,
  },
  {
    // Rollups became eager: every recorded run is folded into its hour at once, and raw rows are
    // kept beside them only for the current hour's detail (and storage.rawRetention). A version 1
    // database still holds raw rows that no rollup covers (the old job deleted what it folded),
    // so fold them all now: after this, rollups hold every run, none twice.
    version: 2,
    up: (db) => {
      foldAllRaw(db);
    },
  },
  {
    // Rollups clustered by (key, hour): a WITHOUT ROWID table stores each row in its primary key's
    // B-tree, so a key's week of rollups (history(), every analysisInterval) sits on a few adjacent
    // pages. In a rowid table the rows lie in insertion order, and the daemon inserts hour by hour,
    // all keys at a time: a week was 168 index hits each on its own page (measured on 10,000
    // keys x 168 h: 0.53 ms to find a key's rows, 0.04 ms clustered; docs/performance.md, fix 43).
    version: 3,
    up: `
      CREATE TABLE rollups_by_key (
        key TEXT NOT NULL,
        hour INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        runs INTEGER NOT NULL,
        ok_runs INTEGER NOT NULL,
        failures TEXT NOT NULL DEFAULT '{}',
        latency_ms REAL,
        valid INTEGER,
        currency TEXT,
        usage_total REAL,
        usage_daily REAL,
        usage_weekly REAL,
        usage_monthly REAL,
        limit_value REAL,
        limit_remaining REAL,
        unlimited INTEGER,
        balance REAL,
        PRIMARY KEY (key, hour)
      ) WITHOUT ROWID;
      INSERT INTO rollups_by_key SELECT key, hour, last_at, runs, ok_runs, failures, latency_ms, valid, currency, usage_total,
        usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance FROM rollups ORDER BY key, hour;
      DROP TABLE rollups;
      ALTER TABLE rollups_by_key RENAME TO rollups;
      CREATE INDEX rollups_hour ON rollups (hour);
    `,
  },
  {
    // Marks the store keeps about itself. `rollups_pending_since`: a writer that keeps its keys'
    // current hourly rollups in memory (rollupsAtHourEnd) is, or was, running; runs from then on
    // may be missing from the stored rollups until it closes (see foldMissedRaw).
    version: 4,
    up: `CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  },
];
