/**
 * Store figures for the benchmark: bytes per key per day of hourly rollups, bytes per raw run (what
 * storage.rawRetention costs), how long one pruning step holds the event loop, and a synthetic
 * store holding 30 days of history for the start-up measurement.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { HOUR_MS, hourOf, openStore, type RunRecord } from '../src/store/index.js';
import { nextStepRows, PRUNE_STEP_ROWS } from '../src/store/prune.js';
import { emptyRollup, foldRaw, PUT_ROLLUP_SQL, type RollupRow } from '../src/store/rollup.js';
import { withoutFacts, type KeyState } from '../src/state.js';
import { analyzeKey, type HistorySample, type KeyAnalysis } from '../src/analysis/index.js';
import type { KeyFacts, ProbeOutcome } from '../probes/types.js';
import { createHash } from 'node:crypto';
import { maskSecret } from '../src/secret.js';
import { benchKeyName, benchKeyValue, benchMoney } from './keys.js';

const DAY_MS = 86_400_000;

/** Bytes used by each table and its indexes (SQLite's dbstat). */
export function tableBytes(db: Database): Record<string, number> {
  const rows = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[];
  return Object.fromEntries(rows.map((r) => [r.name, r.bytes]));
}

function sumOf(bytes: Record<string, number>, names: readonly string[]): number {
  return names.reduce((s, n) => s + (bytes[n] ?? 0), 0);
}

const RAW_OBJECTS = ['probe_runs', 'probe_runs_key_at', 'probe_runs_at'];
const ROLLUP_OBJECTS = ['rollups', 'rollups_hour', 'sqlite_autoindex_rollups_1'];

/**
 * What one OpenRouter key run records (the shape runKey produces for /key + /models/user): key i's
 * run at `at`, its money as benchMoney says with its spending anchored at `anchor`.
 */
export function sampleRun(i: number, at: number, anchor: number): RunRecord {
  const m = benchMoney(i, at, anchor);
  const facts: KeyFacts = {
    valid: true,
    currency: 'USD',
    usage: { total: m.total, daily: m.daily, weekly: m.weekly, monthly: m.monthly },
    limit: m.limit,
    limitRemaining: m.limitRemaining,
    limitReset: m.limitReset,
  };
  const outcomes: ProbeOutcome[] = [
    { probe: 'current_key', ok: true, durationMs: 3, at, facts },
    { probe: 'models', ok: true, durationMs: 2, at: at + 3 },
  ];
  return { at, key: benchKeyName(i), provider: 'openrouter', ok: true, durationMs: 5, facts, outcomes };
}

export interface StorageFigures {
  keys: number;
  days: number;
  intervalS: number;
  rawRuns: number;
  /** Raw table + its indexes, per run. */
  rawBytesPerRun: number;
  /** Rollup table + its indexes, per key per day (24 hourly rows). */
  rollupBytesPerKeyDay: number;
  /** The whole file after rollups, per key per day (what the disk grows by). */
  fileBytesPerKeyDay: number;
  /** recordRun + flush, CPU µs per run (batched in transactions; incl. the eager rollup upsert). */
  writeUsPerRun: number;
  /** Pruning old raw rows with the daemon's pruneStep: wall ms per 1,000 rows deleted. */
  pruneMsPer1000Rows: number;
  /** The longest single step, sized as the daemon sizes them (what one step holds the event loop). */
  pruneStepMaxMs: number;
  /** The largest step the sizing reached (rows), and how many steps it took. */
  pruneStepRows: number;
  pruneSteps: number;
  flushes: number;
}


/**
 * Records `days` of runs for `keys` keys through the real Store (batched writes, rollups kept
 * current as it goes), measures the raw size, prunes the raw rows in the daemon's steps, vacuums,
 * and measures again.
 */
export function measureStorage(dir: string, o: { keys: number; days: number; intervalS: number }): StorageFigures {
  const file = join(dir, 'storage.db');
  rmSync(file, { force: true });
  const store = openStore(file, { maxBatch: 500 });
  const start = Date.UTC(2026, 0, 1);
  const end = start + o.days * DAY_MS;
  const step = o.intervalS * 1000;
  let runs = 0;
  const cpu0 = process.cpuUsage();
  for (let t = start; t < end; t += step) {
    for (let i = 0; i < o.keys; i++) {
      // Spread keys across the interval like the scheduler's jitter does.
      store.recordRun(sampleRun(i, t + Math.floor((i * step) / o.keys), end));
      runs++;
    }
  }
  store.flush();
  const cpu = process.cpuUsage(cpu0);
  const writeUsPerRun = (cpu.user + cpu.system) / runs;
  const rawBytes = sumOf(tableBytes(store.db), RAW_OBJECTS);

  let pruned = 0;
  let pruneMs = 0;
  let pruneStepMaxMs = 0;
  // Steps sized as the daemon sizes them (src/store/prune.ts: toward PRUNE_STEP_TARGET_MS per step).
  let rows: number = PRUNE_STEP_ROWS.first;
  let pruneSteps = 0;
  let pruneStepRowsMax = 0;
  for (;;) {
    const t0 = performance.now();
    const n = store.pruneStep(end + step, 0, 365 * DAY_MS, rows);
    const ms = performance.now() - t0;
    if (n === 0) break;
    pruned += n;
    pruneMs += ms;
    pruneSteps++;
    pruneStepRowsMax = Math.max(pruneStepRowsMax, n);
    pruneStepMaxMs = Math.max(pruneStepMaxMs, ms);
    rows = nextStepRows(rows, n, ms);
  }
  store.db.exec('VACUUM');
  const after = tableBytes(store.db);
  const fileBytes = Object.values(after).reduce((s, b) => s + b, 0);
  const { flushes } = store.stats();
  store.close();
  rmSync(file, { force: true });
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  const keyDays = o.keys * o.days;
  return {
    keys: o.keys,
    days: o.days,
    intervalS: o.intervalS,
    rawRuns: runs,
    rawBytesPerRun: Math.round(rawBytes / runs),
    rollupBytesPerKeyDay: Math.round(sumOf(after, ROLLUP_OBJECTS) / keyDays),
    fileBytesPerKeyDay: Math.round(fileBytes / keyDays),
    writeUsPerRun: Math.round(writeUsPerRun * 10) / 10,
    pruneMsPer1000Rows: Math.round((pruneMs / pruned) * 1000 * 100) / 100,
    pruneStepMaxMs: Math.round(pruneStepMaxMs * 10) / 10,
    pruneStepRows: pruneStepRowsMax,
    pruneSteps,
    flushes,
  };
}

/**
 * Key i's last state as the daemon keeps it, before judging: buildStartupStore stores it with the
 * analysis the daemon's own judge makes of it and its stored history (seededAnalysis).
 */
export function sampleState(i: number, now: number): KeyState {
  const run = sampleRun(i, now - 30_000, now);
  const watch = ['openrouter/auto', 'openrouter/bodybuilder', 'openrouter/free'];
  const facts: KeyFacts = {
    ...run.facts,
    label: `sk-or-v1-tes...${String(i).slice(-3)}`,
    byokUsage: { total: 0, daily: 0, weekly: 0, monthly: 0 },
    isFreeTier: false,
    isManagementKey: false,
    expiresAt: null,
    models: {
      count: 6,
      source: 'user',
      access: Object.fromEntries(watch.map((m) => [m, true])),
      pricingKnown: { 'openrouter/auto': false, 'openrouter/bodybuilder': false, 'openrouter/free': true },
    },
    identity: { provider: 'openrouter', confidence: 0.95, matchesClaim: true, evidence: [{ signal: 'key_prefix', provider: 'openrouter', weight: 0.9 }] },
  };
  return {
    name: benchKeyName(i),
    claimedProvider: 'openrouter',
    provider: 'openrouter',
    labels: { team: `team-${i % 20}` },
    watchModels: watch,
    // The daemon keeps a saved state only for the same secret (fingerprint); anything else is a
    // rotated key whose old facts are dropped.
    fingerprint: createHash('sha256').update(benchKeyValue(i)).digest('hex').slice(0, 8),
    masked: maskSecret(benchKeyValue(i)),
    facts,
    probes: { current_key: withoutFacts(run.outcomes[0]!), models: withoutFacts(run.outcomes[1]!) },
    lastSuccessAt: { current_key: now - 30_000, models: now - 30_000 },
    lastRunAt: now - 30_000,
    consecutiveFailures: 0,
  };
}

/** The analysis `keywatch run` stores with a key's state (its default thresholds, 24h stability window, 7d horizon). */
export function seededAnalysis(state: KeyState, history: HistorySample[], now: number): KeyAnalysis {
  return analyzeKey({ state, history, now, thresholds: {}, stabilityWindowMs: DAY_MS, readinessHorizonMs: 7 * DAY_MS });
}

export interface StartupStoreOptions {
  keys: number;
  days: number;
  /** Raw rows kept for the most recent hours (storage.rawRetention), at intervalS. */
  rawHours: number;
  intervalS: number;
  now: number;
}

/**
 * A store as a daemon would leave it after `days` of monitoring `keys` keys: a rollup for every hour
 * (eager: the raw-covered hours' rollups are folded from their raw rows, as recordRun would), raw
 * runs for the last rawHours, and every key's last state. Written with plain INSERTs
 * into the real schema (made by openStore's migrations), because pushing 10 million rows through
 * recordRun would measure the generator, not the start-up. Cached by its parameters.
 */
export function buildStartupStore(cacheDir: string, o: StartupStoreOptions): { file: string; cached: boolean; rows: number } {
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, `startup-${o.keys}keys-${o.days}d-${o.rawHours}h-${o.intervalS}s-v7.db`);
  // A cached store older than its raw window would make the daemon's start-up rollup catch up
  // hours of raw rows, which is a different measurement; rebuild it instead.
  if (existsSync(file) && Date.now() - statSync(file).mtimeMs < Math.min(12, o.rawHours / 2) * HOUR_MS) {
    return { file, cached: true, rows: -1 };
  }
  const tmp = `${file}.tmp`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
  const store = openStore(tmp);
  const db = store.db;
  db.pragma('synchronous = OFF');
  const putRollup = db.prepare(PUT_ROLLUP_SQL);
  const insertRollup = db.prepare(`INSERT INTO rollups (key, hour, last_at, runs, ok_runs, failures, latency_ms, valid,
    currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance)
    VALUES (?, ?, ?, ?, ?, '{}', ?, 1, 'USD', ?, ?, ?, ?, ?, ?, ?, NULL)`);
  const insertRaw = db.prepare(`INSERT INTO probe_runs (at, key, provider, ok, duration_ms, valid, currency, usage_total,
    usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, probes)
    VALUES (?, ?, 'openrouter', 1, 5, 1, 'USD', ?, ?, ?, ?, ?, ?, ?, ?)`);
  const probes = JSON.stringify([
    { probe: 'current_key', ok: true, ms: 3 },
    { probe: 'models', ok: true, ms: 2 },
  ]);
  const rawFrom = o.now - o.rawHours * HOUR_MS;
  const firstHour = Math.floor((o.now - o.days * DAY_MS) / HOUR_MS) * HOUR_MS;
  const perHour = Math.round(3600 / o.intervalS);
  let rows = 0;
  // Rollups of the hours before the raw window, one transaction per key: big enough to be fast,
  // small enough to keep the WAL modest. The rollups table is clustered by (key, hour) (core v3),
  // so this order leaves it as the daemon's hour-by-hour writes would.
  const writeRollups = db.transaction((i: number) => {
    const name = benchKeyName(i);
    for (let hour = firstHour; hour + HOUR_MS <= rawFrom; hour += HOUR_MS) {
      const m = benchMoney(i, hour + HOUR_MS - 30_000, o.now);
      insertRollup.run(name, hour, hour + HOUR_MS - 30_000, perHour, perHour, 4.2, m.total, m.daily, m.weekly, m.monthly, m.limit, m.limitRemaining, m.limit === null ? 1 : 0);
      rows++;
    }
  });
  for (let i = 0; i < o.keys; i++) writeRollups(i);
  // Raw runs in time order, one transaction per hour, as the daemon writes them: probe_runs is a
  // rowid table, so a key's runs of an hour lie on as many pages as it has runs (history() reads
  // them one by one), not side by side as a key-by-key build would leave them.
  const step = o.intervalS * 1000;
  const writeRawHour = db.transaction((hour: number) => {
    const lo = Math.max(hour, rawFrom);
    const hi = Math.min(hour + HOUR_MS, o.now);
    // Every key's runs in [lo, hi) (its phase spread over one interval), in time order.
    const runs: [at: number, key: number][] = [];
    for (let i = 0; i < o.keys; i++) {
      const phase = Math.floor((i * step) / o.keys);
      for (let at = rawFrom + phase + Math.ceil((lo - rawFrom - phase) / step) * step; at < hi; at += step) runs.push([at, i]);
    }
    runs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const byKey = new Map<number, RollupRow>();
    for (const [at, i] of runs) {
      const name = benchKeyName(i);
      const m = benchMoney(i, at, o.now);
      const unlimited = m.limit === null ? 1 : 0;
      insertRaw.run(at, name, m.total, m.daily, m.weekly, m.monthly, m.limit, m.limitRemaining, unlimited, probes);
      let agg = byKey.get(i);
      if (agg === undefined) byKey.set(i, (agg = emptyRollup(name, hour)));
      foldRaw(agg, { at, key: name, ok: 1, error_kind: null, duration_ms: 5, valid: 1, currency: 'USD', usage_total: m.total, usage_daily: m.daily, usage_weekly: m.weekly, usage_monthly: m.monthly, limit_value: m.limit, limit_remaining: m.limitRemaining, unlimited, balance: null });
      rows++;
    }
    for (const agg of byKey.values()) putRollup.run(agg);
  });
  for (let hour = hourOf(rawFrom); hour < o.now; hour += HOUR_MS) writeRawHour(hour);
  // Every key's last state with the analysis the daemon would have stored with it: judged by
  // analyzeKey from the key's own history in this store, with the config's default thresholds,
  // stability window and readiness horizon. Until session 16 the states carried a hand-written
  // analysis of two readiness checks and no texts (1.1 KB), where a judged one holds every check
  // with its numbers (the states' JSON 2.6 KB a key then; a daemon's own OpenRouter state 2-4 KB).
  for (let i = 0; i < o.keys; i++) {
    const state = sampleState(i, o.now);
    store.saveState(state, seededAnalysis(state, store.history(state.name, o.now - 7 * DAY_MS), o.now));
  }
  store.flush();
  db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  renameSync(tmp, file);
  for (const f of [`${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
  return { file, cached: false, rows };
}

/**
 * A working copy of a cached store with every key's last run spread evenly over the past interval,
 * as in a daemon restarted in steady state: each key is next due within one interval, none at once.
 * The copy is flushed to disk before it is handed over: a 2.3 GB copy left dirty in the page cache
 * is written back by the kernel some 30 s later, in the middle of whatever is measured then.
 */
export function workingCopy(cached: string, dest: string, intervalMs: number, now: number, modelsIntervalMs = 15 * 60_000): void {
  for (const f of [dest, `${dest}-wal`, `${dest}-shm`]) rmSync(f, { force: true });
  copyFileSync(cached, dest);
  const store = openStore(dest);
  const rows = store.db.prepare('SELECT key FROM key_state ORDER BY key').all() as { key: string }[];
  // Steady state: last runs spread over the past interval, and each key's last model list (fetched
  // at most every defaults.modelsInterval) spread over the past modelsInterval, so the share of runs
  // that fetch models is what a long-running daemon sees (1 in 15 at 60 s), not none or all.
  const update = store.db.prepare(
    "UPDATE key_state SET updated_at = ?, state = json_set(state, '$.lastRunAt', ?, '$.probes.models.at', ?, '$.lastSuccessAt.models', ?) WHERE key = ?",
  );
  store.db.transaction(() => {
    rows.forEach((r, i) => {
      const at = now - intervalMs + Math.floor(((i + 0.5) * intervalMs) / rows.length);
      const slot = (i * 7919) % rows.length; // a permutation of 0..n-1 (7919 is prime), so the two spreads are unrelated
      const modelsAt = Math.min(at, now - modelsIntervalMs + Math.floor(((slot + 0.5) * modelsIntervalMs) / rows.length));
      update.run(at, at, modelsAt, modelsAt, r.key);
    });
  })();
  store.close();
  for (const f of [dest, `${dest}-wal`]) {
    if (!existsSync(f)) continue;
    const fd = openSync(f, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export interface HistoryDepthFigures {
  intervalS: number;
  rawRetentionH: number;
  /** Samples history() returns for the 7-day analysis window at steady state. */
  samples: number;
  historyMs: number;
  analyzeMs: number;
}

/**
 * What the daemon pays after every key run at STEADY STATE: store.history() over the 7-day analysis
 * window plus the analysis itself, for a key with a week of runs at `intervalS` recorded through
 * the real store (eager rollups), raw pruned to rawRetention. The fleet phases start from a store
 * with only an hour of raw history (a full 48 h of raw runs for 10,000 keys at 60 s is 28.8 million
 * rows, 6.6 GB), so this is measured here, on one key, and projected.
 */
export function measureHistoryDepth(
  dir: string,
  o: { intervalS: number; rawRetentionH: number },
  analyze: (input: import('../src/analysis/types.js').AnalyzeInput) => unknown,
): HistoryDepthFigures {
  const file = join(dir, 'history-depth.db');
  rmSync(file, { force: true });
  const store = openStore(file);
  const now = Date.now();
  for (let t = now - 7 * DAY_MS; t < now; t += o.intervalS * 1000) store.recordRun(sampleRun(0, t, now));
  store.flush();
  store.rollupAndPrune(now, o.rawRetentionH * HOUR_MS, 30 * DAY_MS);
  const name = benchKeyName(0);
  const state = sampleState(0, now);
  const reps = 30;
  let samples: ReturnType<typeof store.history> = [];
  let t0 = performance.now();
  for (let k = 0; k < reps; k++) samples = store.history(name, now - 7 * DAY_MS);
  const historyMs = (performance.now() - t0) / reps;
  t0 = performance.now();
  for (let k = 0; k < reps; k++) {
    analyze({ state, history: samples, now, thresholds: {}, stabilityWindowMs: DAY_MS, readinessHorizonMs: 7 * DAY_MS });
  }
  const analyzeMs = (performance.now() - t0) / reps;
  store.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  return { intervalS: o.intervalS, rawRetentionH: o.rawRetentionH, samples: samples.length, historyMs: Math.round(historyMs * 100) / 100, analyzeMs: Math.round(analyzeMs * 100) / 100 };
}
