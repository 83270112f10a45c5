/**
 * SQLite history and last-known state (better-sqlite3, WAL). Writes are queued and flushed in one
 * transaction on a short timer or when the queue is full, so 10,000 keys do not mean 10,000
 * fsyncs. Each run is also folded at once into its key's hourly rollup (kept in memory for the
 * key's current hour, written in the same transaction as the raw row), so rollups always hold every
 * run. The daemon (rollupsAtHourEnd) writes a key's rollup once its hour has ended instead, and the
 * next open after a crash folds what the rollups miss back in from the raw rows. history() reads
 * the rollups of the hours before the key's current one plus the current hour's raw runs: ~170
 * samples for a week instead of every raw run. Raw runs are kept for storage.rawRetention (detail,
 * rawRuns()), then deleted in small steps (pruneStep) that the daemon interleaves with its other
 * work.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { HistorySample, KeyAnalysis } from '../analysis/types.js';
import type { Logger } from '../log.js';
import { scrubSecrets } from '../secret.js';
import type { KeyState } from '../state.js';
import type { Currency, KeyFacts, ProbeKind, ProbeOutcome } from '../../probes/types.js';
import { migrate } from './migrate.js';
import { CORE_MIGRATIONS } from './migrations.js';
import { emptyRollup, foldMissedRaw, foldRaw, hourOf, HOUR_MS, PUT_ROLLUP_SQL, ROLLUP_COLUMNS, type RawFields, type RollupRow } from './rollup.js';
import { RunQueue, type RunRow } from './run-queue.js';

export { HOUR_MS, hourOf } from './rollup.js';

/** "No upper bound" for a time range, as SQLite compares it. */
const NO_END = Number.MAX_SAFE_INTEGER;

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
  /**
   * Flush queued writes after at most this long (default 1 s). Each commit costs about the same
   * whatever it holds -- the WAL's locks and header, and, once a page split since the last commit
   * has used SQLite's spare page number (btree.c's balance_nonroot swaps pages through the
   * PENDING_BYTE page's number), a walk of the whole page cache (pcache1TruncateUnsafe) -- so fewer,
   * larger commits cost less a row (docs/performance.md, fix 73).
   */
  flushIntervalMs?: number;
  /** Flush at once when this many writes are queued (default 500). */
  maxBatch?: number;
  /** SQLite busy_timeout (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * A key's state is written at once when something a restart must get right changed (validity,
   * provider, a probe failing or recovering, limit, models, verdict: see stateSignature), else at
   * most this often (default 0: every save). The newest state of every key is written by flush()
   * and close(); after a crash a restart serves figures at most this old until the key's next run.
   */
  stateSaveIntervalMs?: number;
  /**
   * A state saved without its analysis (held back by stateSaveIntervalMs: the daemon's live states
   * do not hold theirs) gets it from here when it is written.
   */
  analysisOf?: (state: KeyState) => KeyAnalysis | undefined;
  /**
   * Write a key's hourly rollup when its hour ends (and by flush() and close()), not with every
   * run (default false: with every run). Every run still goes to SQLite as a raw row at once; its
   * key's rollup for the hour in progress is kept in memory. Each run that rewrites its rollup
   * dirties one more page, far from the others (a key's rollups sit together), which cost about
   * half of the store's CPU per run at 10,000 keys (docs/performance.md, fix 52). After a crash
   * the next open folds the runs the rollups miss back in from the raw rows, so nothing is lost.
   * The daemon sets it: it is the only writer of its store.
   */
  rollupsAtHourEnd?: boolean;
  log?: Logger;
}

export interface StoreStats {
  flushes: number;
  rowsWritten: number;
  pending: number;
  /** Key states held back by stateSaveIntervalMs. */
  deferredStates: number;
  /** history() calls, and the samples they returned (what analysis reads). */
  historyReads: number;
  historySamples: number;
  /**
   * Stored rollups read as a run was recorded: a key's first run of an hour after a restart, or a
   * run of an hour the key has left. Never a key's first run of a new hour (see rollupOf).
   */
  rollupReads: number;
}

export interface RollupResult {
  /** Raw rows older than rawRetention (never the current hour's) deleted. */
  prunedRaw: number;
  /** Rollup rows older than retention deleted. */
  prunedRollups: number;
  pruned: number;
}

export interface Store {
  readonly path: string;
  /** The open database, for components that keep their own tables (alerting). */
  readonly db: Database;
  recordRun(run: RunRecord): void;
  /** `analysis`: the state's, when the state does not hold it (written with it). */
  saveState(state: KeyState, analysis?: KeyAnalysis): void;
  /** The key left the config: its last state is not served after a restart (history is kept). */
  forgetState(key: string): void;
  /** Writes everything queued, in one transaction. */
  flush(): void;
  /**
   * Oldest first: the hourly rollups of the hours before the key's current hour, then that hour's
   * raw runs (incl. runs still queued). Every run counted once. Only rollups whose last run is at or
   * after sinceMs (a rollup stands for its whole hour).
   */
  history(key: string, sinceMs: number, opts?: HistoryOptions): HistorySample[];
  /** Raw runs (one sample each) with fromMs <= at < toMs, as far as rawRetention kept them. */
  rawRuns(key: string, fromMs: number, toMs: number): HistorySample[];
  /**
   * Deletes at most maxRows rows: raw runs older than rawRetention (never the current hour's), then
   * rollups older than retention. Returns how many it deleted; call again until 0, yielding between
   * (pruneInSteps in ./prune.ts does, sizing maxRows so each step takes ~PRUNE_STEP_TARGET_MS).
   */
  pruneStep(now: number, rawRetentionMs: number, retentionMs: number, maxRows: number): number;
  /** All of pruneStep's work at once, in one transaction (tests, tools). */
  rollupAndPrune(now: number, rawRetentionMs: number, retentionMs: number): RollupResult;
  loadStates(): Map<string, KeyState>;
  stats(): StoreStats;
  close(): void;
}

export interface HistoryOptions {
  /**
   * The time the history is read for (the daemon's figures: see its readFigures). With it, the
   * key's current hour comes as its rollup, held in memory, instead of its raw runs out of SQLite
   * (scattered over as many table pages as the hour has runs: half of a figures read's cost), when
   * - the key ran in this process this hour (its rollup is in memory, whole),
   * - every run of the hour succeeded (no failures or flaps whose order would be lost),
   * - its money only moved on (no usage counter or window fell, no balance rose, one currency, runs
   *   in order: UTC periods reset at an hour's start, so none resets inside it), and
   * - the sample before the hour (its previous hour's rollup) carries every money value the hour
   *   does and is within the hour before this time.
   * Then the burn rates are those of the raw runs: the usage and balance telescope (the hour's spend
   * from its last run is the sum of its runs' spends), and every window, the 1h one included, holds
   * all of it. Else (the key's first hour, a gap or a failed hour before it, a top-up, the last
   * minute of an hour at a 60 s interval) the hour is read in detail. After a restart, the hour's
   * runs stored before it are checked once, at the key's first run (storedHourUneven). The
   * stability ratio, samples, flaps and consecutive failures come out the same; the hour's latency
   * is its mean, as every earlier hour's already is.
   */
  cleanHourAsRollupAt?: number;
}

type StateWrite = { kind: 'state'; state: KeyState; analysis: KeyAnalysis | undefined };
type Write = StateWrite | { kind: 'forget'; key: string };

export function openStore(path: string, opts: StoreOptions = {}): Store {
  const file = path === ':memory:' ? path : resolve(path);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  db.pragma('synchronous = NORMAL');
  migrate(db, 'core', CORE_MIGRATIONS);
  const hourEnd = opts.rollupsAtHourEnd === true;
  if (hourEnd) {
    // A previous owner that did not close left rollups only in its memory: fold their runs back in.
    const recovered = recoverRollups(db);
    if (recovered > 0) opts.log?.warn({ runs: recovered }, 'the store was not closed cleanly: folded runs its rollups missed back in from raw rows');
    // The mark is set again by the first write after a run (sweep), before any rollup is held back.
  }

  /**
   * The newest hour of any stored rollup as the store opened. A rollup of a later hour can only be
   * one this store made, so it is in memory until the key records a later hour (see rollupOf).
   */
  const storedMaxHour = (db.prepare('SELECT max(hour) FROM rollups').pluck().get() as number | null) ?? -Infinity;
  const flushIntervalMs = opts.flushIntervalMs ?? 1000;
  const stateSaveIntervalMs = opts.stateSaveIntervalMs ?? 0;
  /** Per key, when its state was last queued for writing and what it said then. */
  const savedStates = new Map<string, SavedMark>();
  /** States not written yet because nothing important changed (written when due, by flush(), close()). */
  const deferredStates = new Map<string, KeyState>();
  const maxBatch = opts.maxBatch ?? 500;
  const log = opts.log;

  // Bound by position (insertRow): better-sqlite3 looks each named parameter up on the object,
  // ~1.4 us a row more than positional values (3.3 against 2.0 us a row, 100,000 rows).
  const insertRun = db.prepare(`INSERT INTO probe_runs
    (at, key, provider, ok, failed_probe, error_kind, duration_ms, valid, currency, usage_total, usage_daily,
     usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance, probes)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertRow = (r: RunRow): void => {
    insertRun.run(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17]);
  };
  const upsertState = db.prepare(
    `INSERT INTO key_state (key, updated_at, state) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state`,
  );
  const deleteState = db.prepare('DELETE FROM key_state WHERE key = ?');
  // Arrays again (168 rollups per key run for a week); `hour >= ?` bounds the primary key scan,
  // `last_at >= ?` keeps the old meaning of `since` (a rollup whose runs all precede it is left out).
  const selectRollups = db
    .prepare(`SELECT ${ROLLUP_SAMPLE_COLUMNS} FROM rollups WHERE key = ? AND hour >= ? AND hour < ? AND last_at >= ? ORDER BY hour`)
    .raw(true);
  const selectRollup = db.prepare(`SELECT ${ROLLUP_COLUMNS} FROM rollups WHERE key = ? AND hour = ?`);
  const selectLatestHour = db.prepare('SELECT max(hour) FROM rollups WHERE key = ?').pluck();
  // Only what a HistorySample needs (the per-probe JSON stays on disk), as arrays: they come out
  // of SQLite twice as fast as row objects.
  const selectRawRange = db
    .prepare(
      `SELECT at, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly,
         limit_value, limit_remaining, unlimited, balance FROM probe_runs WHERE key = ? AND at >= ? AND at < ? ORDER BY at, id`,
    )
    .raw(true);
  const putRollup = db.prepare(PUT_ROLLUP_SQL);
  // Chunked deletes: a step's cost is about one dirtied B-tree page per row (each old run sits on
  // its own key's page of probe_runs_key_at) and, most of it, writing those pages back from the WAL
  // (the checkpoint), so prune.ts sizes the steps by time. Both plans walk the covering at/hour index and delete by rowid; the lookup is ~0.2 ms
  // of a 5,000-row step, so a rowid range would save nothing.
  const deleteRawStep = db.prepare('DELETE FROM probe_runs WHERE id IN (SELECT id FROM probe_runs WHERE at < ? LIMIT ?)');
  const deleteRollupsStep = db.prepare('DELETE FROM rollups WHERE (key, hour) IN (SELECT key, hour FROM rollups WHERE hour <= ? LIMIT ?)');
  const selectStates = db.prepare('SELECT state FROM key_state').pluck();

  /** Key runs to write (columns: see ./run-queue.ts). */
  const runs = new RunQueue();
  /** State writes and forgets to write. */
  let queue: Write[] = [];
  /** The run being recorded, as recordRun folds it (one object, refilled for every run). */
  const row: RawFields = emptyRaw();
  let timer: NodeJS.Timeout | undefined;
  const counters = { flushes: 0, rowsWritten: 0, historyReads: 0, historySamples: 0, rollupReads: 0 };
  let closed = false;
  /** Per key, the rollup of the newest hour it ran in: every run is folded into it as recorded. */
  const current = new Map<string, RollupRow>();
  /**
   * Per key, the newest hour in which a run's money did not simply follow the one before it in the
   * hour (a usage counter or window that fell, a balance that rose, another currency, a run out of
   * order): that hour's spend is not its last values less the previous hour's, so
   * history(cleanHourAsRollupAt) reads it in detail.
   */
  const uneven = new Map<string, number>();
  /** Rollups changed since the last flush, per key and hour; written with the raw rows. */
  let dirty = new Map<string, Map<number, RollupRow>>();
  /** rollupsAtHourEnd: the newest hour a recorded run fell in, and the hour before which every key's rollup was queued. */
  let newestHour = -Infinity;
  let sweptBefore = -Infinity;

  const writeAll = db.transaction((writes: Write[], rollups: Map<string, Map<number, RollupRow>>) => {
    runs.each(insertRow);
    // Only the newest state of a key matters; write it once.
    const states = new Map<string, StateWrite | null>();
    for (const w of writes) {
      if (w.kind === 'state') states.set(w.state.name, w);
      else states.set(w.key, null);
    }
    for (const [key, w] of states) {
      if (w === null) deleteState.run(key);
      else upsertState.run(key, w.state.lastRunAt ?? 0, stateJson(w.state, w.analysis ?? w.state.analysis ?? opts.analysisOf?.(w.state)));
    }
    for (const hours of rollups.values()) for (const agg of hours.values()) putRollup.run(agg);
    if (pendingSince !== undefined) setPendingSince(db, pendingSince);
  });
  /**
   * rollupsAtHourEnd: what the next write records as the time from which runs may be missing from
   * the stored rollups (null: none are, the store was closed); undefined: nothing new to record.
   */
  let pendingSince: number | null | undefined;

  function saveState(state: KeyState, analysis?: KeyAnalysis): void {
    if (closed) return;
    const at = state.lastRunAt ?? 0;
    const last = savedStates.get(state.name);
    if (stateSaveIntervalMs > 0 && last !== undefined && at - last.at < stateSaveIntervalMs && at >= last.at && sameAsSaved(last, state, analysis)) {
      deferredStates.set(state.name, state);
      return;
    }
    deferredStates.delete(state.name);
    savedStates.set(state.name, savedMark(state, analysis, at));
    enqueue({ kind: 'state', state, analysis });
  }

  /** Everything queued, every deferred state and (rollupsAtHourEnd) every rollup in memory. */
  function flushAll(): void {
    for (const state of deferredStates.values()) queue.push({ kind: 'state', state, analysis: undefined });
    deferredStates.clear();
    if (hourEnd) for (const [key, agg] of current) dirtyFor(key).set(agg.hour, agg);
    flush();
  }

  /**
   * rollupsAtHourEnd: queues the rollups of the hours before `before` that are still only in
   * memory, once per hour. A key's rollup leaves memory when its next hour's first run is recorded,
   * spread over the interval; the sweep is for the keys that have not run since (stopped, backing
   * off, or slower than hourly). flush() sweeps what ended more than an hour ago: sweeping at the
   * hour's turn wrote every key's rollup in one transaction (0.4 s with the event loop stopped, at
   * 10,000 keys), which the keys' own next runs spread over the minute.
   */
  function sweep(before: number): void {
    if (!hourEnd || before <= sweptBefore) return;
    for (const [key, agg] of current) if (agg.hour < before) dirtyFor(key).set(agg.hour, agg);
    sweptBefore = before;
    // A run of an hour before may still be in flight (recorded after this sweep, written when its
    // key's next hour begins), and the hour before `before` has rollups in memory only: a restart
    // after a crash folds from the hour before that.
    pendingSince = before - 2 * HOUR_MS;
  }

  function flush(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    sweep(newestHour - HOUR_MS);
    if ((queue.length === 0 && runs.length === 0 && dirty.size === 0 && pendingSince === undefined) || closed) return;
    const batch = queue;
    const rollups = dirty;
    const rows = runs.length + batch.length;
    queue = [];
    dirty = new Map();
    try {
      writeAll(batch, rollups);
      pendingSince = undefined;
      counters.flushes++;
      counters.rowsWritten += rows;
    } catch (err) {
      // Keep the daemon alive (a full disk should not stop probing); the raw rows are lost, loudly.
      // The rollups stay dirty (they hold the runs' counts) and go with the next flush.
      for (const [key, hours] of rollups) for (const [hour, agg] of hours) dirtyFor(key).set(hour, agg);
      log?.error({ err, rows }, 'store write failed');
    } finally {
      runs.clear();
    }
  }

  function enqueue(w: Write): void {
    if (closed) return;
    queue.push(w);
    queued();
  }

  /** After a write was queued: flush when the batch is full, else make sure a flush is due. */
  function queued(): void {
    if (queue.length + runs.length >= maxBatch) flush();
    else if (timer === undefined) {
      timer = setTimeout(flush, flushIntervalMs);
      timer.unref();
    }
  }

  function dirtyFor(key: string): Map<number, RollupRow> {
    let hours = dirty.get(key);
    if (hours === undefined) dirty.set(key, (hours = new Map()));
    return hours;
  }

  /**
   * The freshest copy of a key's rollup for an hour: in memory (current or unflushed), else SQLite --
   * except for an hour after every stored one at open and after the key's newest here, of which no
   * rollup exists. That is each key's first run of every hour: a point read of SQLite for each key
   * at every hour's turn (10,000 reads in the minute after it at 10,000 keys, 300 ms of a profiled
   * window that straddled one; docs/performance.md, session 23), for a row that is not there.
   */
  function rollupOf(key: string, hour: number): RollupRow | undefined {
    const cur = current.get(key);
    if (cur !== undefined && cur.hour === hour) return cur;
    const held = dirty.get(key)?.get(hour);
    if (held !== undefined) return held;
    if (hour > storedMaxHour && (cur === undefined || hour > cur.hour)) return undefined;
    counters.rollupReads++;
    return selectRollup.get(key, hour) as RollupRow | undefined;
  }

  function recordRun(run: RunRecord): void {
    if (closed) return;
    const params = rawFields(row, run);
    const key = params.key;
    const hour = hourOf(params.at);
    const cur = current.get(key);
    const inMemory = (cur !== undefined && cur.hour === hour) || dirty.get(key)?.has(hour) === true;
    // After a restart the first run of an hour loads the stored rollup, so counts continue.
    const agg = rollupOf(key, hour) ?? emptyRollup(key, hour);
    // What that rollup folded before the restart was not seen step by step here: its raw runs tell.
    if (!inMemory && agg.runs > 0 && storedHourUneven(key, hour)) uneven.set(key, hour);
    if (cur === undefined || hour >= cur.hour) {
      // rollupsAtHourEnd: the key's previous hour has ended; its rollup leaves memory for SQLite.
      if (hourEnd && cur !== undefined && cur !== agg) dirtyFor(key).set(cur.hour, cur);
      current.set(key, agg);
    }
    if (agg.runs > 0 && unevenStep(agg, params)) uneven.set(key, hour);
    foldRaw(agg, params);
    if (!hourEnd || current.get(key) !== agg) dirtyFor(key).set(hour, agg);
    if (hour > newestHour) newestHour = hour;
    runs.push(params, run.provider, run.failedProbe ?? null, run.outcomes);
    queued();
  }

  /**
   * Whether the stored raw runs of a key's hour, folded in time order as recordRun folds them, did
   * anything but move their money on (unevenStep).
   */
  function storedHourUneven(key: string, hour: number): boolean {
    const agg = emptyRollup(key, hour);
    for (const c of selectRawRange.all(key, hour, hour + HOUR_MS) as RawColumns[]) {
      const [at, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance] = c;
      const row: RawFields = { at, key, ok, error_kind, duration_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance };
      if (agg.runs > 0 && unevenStep(agg, row)) return true;
      foldRaw(agg, row);
    }
    return false;
  }

  /** Runs of `key` still in the queue with from <= at < to, as samples. */
  function queuedRuns(key: string, from: number, to: number): HistorySample[] {
    const out: HistorySample[] = [];
    for (let i = 0; i < runs.length; i++) {
      const at = runs.atOf(i);
      if (runs.keyOf(i) === key && at >= from && at < to) out.push(rawSample(runs.fields(i)));
    }
    return out;
  }

  function history(key: string, sinceMs: number, opts?: HistoryOptions): HistorySample[] {
    const out = historySince(key, sinceMs, opts?.cleanHourAsRollupAt);
    counters.historyReads++;
    counters.historySamples += out.length;
    return out;
  }

  function historySince(key: string, sinceMs: number, cleanHourAsRollupAt: number | undefined): HistorySample[] {
    // The key's current hour: the newest it ran in (in memory once it ran in this process).
    const cur = current.get(key);
    const boundary = cur?.hour ?? (selectLatestHour.get(key) as number | null);
    if (boundary === null) return rawRuns(key, sinceMs, NO_END);
    const from = hourOf(sinceMs);
    const out: HistorySample[] = [];
    if (from < boundary) {
      const pending = dirty.get(key);
      let rows = selectRollups.all(key, from, boundary, sinceMs) as RollupSampleColumns[];
      // Rollups changed since the last flush (an hour that ended moments ago) replace their stored copy.
      const newer = pending === undefined ? [] : [...pending.values()].filter((r) => r.hour >= from && r.hour < boundary && r.last_at >= sinceMs);
      if (newer.length > 0) {
        const hours = new Set(newer.map((r) => r.hour));
        rows = rows.filter((c) => !hours.has(c[0]));
        rows.push(...newer.map(rollupColumnsOf));
        rows.sort((a, b) => a[0] - b[0]);
      }
      for (const c of rows) out.push(rollupSampleOf(c));
    }
    if (
      cleanHourAsRollupAt !== undefined &&
      cur !== undefined &&
      sinceMs <= boundary &&
      cur.runs > 0 &&
      cur.ok_runs === cur.runs &&
      uneven.get(key) !== boundary &&
      out.length > 0 &&
      out[out.length - 1]!.at >= cleanHourAsRollupAt - HOUR_MS &&
      carriesMoney(out[out.length - 1]!, cur)
    ) {
      // After the rollups above, every one of an earlier hour: still oldest first.
      const hour = rollupSampleOf(rollupColumnsOf(cur));
      hour.detailSamples = cur.runs;
      out.push(hour);
      return out;
    }
    const lo = Math.max(sinceMs, boundary);
    const raw = rawRuns(key, lo, NO_END);
    if (sinceMs <= boundary) {
      // The current hour in raw detail if every run of it is still there (a prune or a failed
      // write may have taken some), else its rollup: never a run missing, never one twice.
      const agg = rollupOf(key, boundary);
      const inHour = raw.filter((s) => s.at < boundary + HOUR_MS).length;
      if (agg !== undefined && inHour !== agg.runs) {
        out.push(rollupSampleOf(rollupColumnsOf(agg)));
        for (const s of raw) if (s.at >= boundary + HOUR_MS) out.push(s);
        return out.sort((a, b) => a.at - b.at);
      }
    }
    for (const s of raw) out.push(s);
    return out.sort((a, b) => a.at - b.at);
  }

  function rawRuns(key: string, fromMs: number, toMs: number): HistorySample[] {
    const stored = (selectRawRange.all(key, fromMs, toMs) as RawColumns[]).map(rawSampleOf);
    // Runs still queued are read from the queue, not flushed: analysis after every run would
    // otherwise turn the batch back into one transaction per run.
    const queued = queuedRuns(key, fromMs, toMs);
    return queued.length === 0 ? stored : [...stored, ...queued].sort((a, b) => a.at - b.at);
  }

  function pruneStep(now: number, rawRetentionMs: number, retentionMs: number, maxRows: number): number {
    // Rollups of hours whose raw runs this may delete go to SQLite first.
    const c = cutoffs(now, rawRetentionMs, retentionMs);
    sweep(hourOf(c.raw - 1) + HOUR_MS);
    flush();
    let deleted = deleteRawStep.run(c.raw, maxRows).changes;
    if (deleted < maxRows) deleted += deleteRollupsStep.run(c.rollupHour, maxRows - deleted).changes;
    // Checkpoint the pages this step dirtied now, as part of it: left to the auto-checkpoint (at
    // 1,000 WAL pages), every other step paid for two steps' pages, so a step sized from a cheap
    // one took twice the time it was sized for (on a big store: 5 ms, then 40 ms, alternating).
    if (deleted > 0) db.pragma('wal_checkpoint(PASSIVE)');
    return deleted;
  }

  function rollupAndPrune(now: number, rawRetentionMs: number, retentionMs: number): RollupResult {
    const c = cutoffs(now, rawRetentionMs, retentionMs);
    sweep(hourOf(c.raw - 1) + HOUR_MS);
    flush();
    return db.transaction((): RollupResult => {
      const prunedRaw = db.prepare('DELETE FROM probe_runs WHERE at < ?').run(c.raw).changes;
      const prunedRollups = db.prepare('DELETE FROM rollups WHERE hour <= ?').run(c.rollupHour).changes;
      return { prunedRaw, prunedRollups, pruned: prunedRaw + prunedRollups };
    })();
  }

  function loadStates(): Map<string, KeyState> {
    flushAll();
    const out = new Map<string, KeyState>();
    // Row by row: each state's JSON (2-3 KB, 26 MB for 10,000 keys) is garbage as soon as it is
    // parsed, and dies young, instead of all of it living until the last one is parsed.
    for (const json of selectStates.iterate() as IterableIterator<string>) {
      try {
        const state = JSON.parse(json) as KeyState;
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
    recordRun,
    saveState,
    forgetState: (key) => {
      deferredStates.delete(key);
      savedStates.delete(key);
      enqueue({ kind: 'forget', key });
    },
    flush: flushAll,
    history,
    rawRuns,
    pruneStep,
    rollupAndPrune,
    loadStates,
    stats: () => ({ ...counters, pending: queue.length + runs.length, deferredStates: deferredStates.size }),
    close: () => {
      if (closed) return;
      flushAll();
      // Every rollup is written: the next open has nothing to fold back in.
      if (hourEnd) {
        pendingSince = null;
        flush();
      }
      closed = true;
      db.close();
    },
  };
}

/** rollupsAtHourEnd's mark: runs at or after `since` may be missing from the stored rollups (null: none). */
function setPendingSince(db: Database, since: number | null): void {
  if (since === null) db.prepare("DELETE FROM store_meta WHERE name = 'rollups_pending_since'").run();
  else db.prepare("INSERT INTO store_meta (name, value) VALUES ('rollups_pending_since', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(String(since));
}

/**
 * After an owner that kept rollups in memory stopped without closing: folds the raw runs its
 * rollups miss (those after a rollup's last run, from the mark on) back in. Returns how many.
 */
function recoverRollups(db: Database): number {
  const mark = db.prepare("SELECT value FROM store_meta WHERE name = 'rollups_pending_since'").pluck().get() as string | undefined;
  if (mark === undefined) return 0;
  return db.transaction(() => foldMissedRaw(db, hourOf(Number(mark))))();
}

/**
 * What pruning deletes: raw runs before `raw` (rawRetention ago, but never the current hour's, which
 * history() reads in detail) and rollups with `hour <= rollupHour` (older than retention; the bare
 * column uses the rollups_hour index).
 */
function cutoffs(now: number, rawRetentionMs: number, retentionMs: number): { raw: number; rollupHour: number } {
  return { raw: Math.min(hourOf(now), now - Math.min(rawRetentionMs, retentionMs)), rollupHour: now - retentionMs - HOUR_MS };
}

/** `run`'s columns as the store folds them, written into `into` (returned). */
function rawFields(into: RawFields, run: RunRecord): RawFields {
  const f = run.facts;
  const limitKnown = f.limit !== undefined;
  into.at = run.at;
  into.key = run.key;
  into.ok = run.ok ? 1 : 0;
  into.error_kind = run.errorKind ?? null;
  into.duration_ms = Math.round(run.durationMs);
  into.valid = f.valid === undefined ? null : f.valid ? 1 : 0;
  into.currency = f.currency ?? f.balanceCurrency ?? null;
  into.usage_total = f.usage?.total ?? null;
  into.usage_daily = f.usage?.daily ?? null;
  into.usage_weekly = f.usage?.weekly ?? null;
  into.usage_monthly = f.usage?.monthly ?? null;
  into.limit_value = f.limit ?? null;
  into.limit_remaining = f.limitRemaining ?? null;
  into.unlimited = limitKnown ? (f.limit === null ? 1 : 0) : null;
  into.balance = f.balance ?? null;
  return into;
}

function emptyRaw(): RawFields {
  return { at: 0, key: '', ok: 0, error_kind: null, duration_ms: 0, valid: null, currency: null, usage_total: null, usage_daily: null, usage_weekly: null, usage_monthly: null, limit_value: null, limit_remaining: null, unlimited: null, balance: null };
}


/** KeyState holds no Secret by design; the scrubber is a second line in case a message echoed one. */
function stateJson(state: KeyState, analysis: KeyAnalysis | undefined): string {
  return scrubSecrets(JSON.stringify(analysis === undefined || state.analysis === analysis ? state : { ...state, analysis }));
}

/**
 * A history sample with every field present (undefined where the row has none): one object of one
 * shape per row, built in one go. Setting the optional fields one by one grew each object's
 * property store several times over; with the intermediate row objects that cost ~300 B of garbage
 * per row, ~50 KB for each week of history read (a key re-reads its week every analysisInterval).
 */
function newSample(
  at: number,
  runs: number,
  okRuns: number,
  failures: HistorySample['failures'],
  latencyMs: number | undefined,
  valid: number | null,
  currency: string | null,
  usageTotal: number | null,
  usageDaily: number | null,
  usageWeekly: number | null,
  usageMonthly: number | null,
  limit: number | null,
  limitRemaining: number | null,
  unlimited: number | null,
  balance: number | null,
): HistorySample {
  // unlimited: 1 = no limit (both null), 0 = limited (the values as stored), null = not known (neither).
  return {
    at,
    runs,
    okRuns,
    failures,
    latencyMs,
    valid: valid === null ? undefined : valid === 1,
    currency: (currency ?? undefined) as Currency | undefined,
    usageTotal: usageTotal ?? undefined,
    usageDaily: usageDaily ?? undefined,
    usageWeekly: usageWeekly ?? undefined,
    usageMonthly: usageMonthly ?? undefined,
    limit: unlimited === 1 ? null : unlimited === 0 ? (limit ?? undefined) : undefined,
    limitRemaining: unlimited === 1 ? null : unlimited === 0 ? (limitRemaining ?? undefined) : undefined,
    balance: balance ?? undefined,
  };
}

/** Whether a run's money did anything but follow the hour's last values on (see `uneven` in openStore). */
function unevenStep(agg: RollupRow, p: RawFields): boolean {
  if (p.at < agg.last_at || (p.currency !== null && agg.currency !== null && p.currency !== agg.currency)) return true;
  const fell = (before: number | null, after: number | null) => before !== null && after !== null && after < before;
  return (
    fell(agg.usage_total, p.usage_total) ||
    fell(agg.usage_daily, p.usage_daily) ||
    fell(agg.usage_weekly, p.usage_weekly) ||
    fell(agg.usage_monthly, p.usage_monthly) ||
    fell(p.balance, agg.balance)
  );
}

/** Whether the sample before a clean hour carries every money value the hour's rollup does. */
function carriesMoney(prev: HistorySample, hour: RollupRow): boolean {
  return (
    (hour.usage_total === null || prev.usageTotal !== undefined) &&
    (hour.usage_daily === null || prev.usageDaily !== undefined) &&
    (hour.usage_weekly === null || prev.usageWeekly !== undefined) &&
    (hour.usage_monthly === null || prev.usageMonthly !== undefined) &&
    (hour.balance === null || prev.balance !== undefined) &&
    (prev.currency ?? null) === hour.currency
  );
}

/** The columns selectRawRange returns, in its order. */
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

function rawSampleOf(c: RawColumns): HistorySample {
  const [at, ok, kind, duration, valid, currency, total, daily, weekly, monthly, limit, remaining, unlimited, balance] = c;
  const failures = ok === 0 ? { [kind ?? 'unknown']: 1 } : undefined;
  return newSample(at, 1, ok, failures, duration, valid, currency, total, daily, weekly, monthly, limit, remaining, unlimited, balance);
}

/** A run still in the write queue, as a sample. */
function rawSample(r: RawFields): HistorySample {
  const failures = r.ok === 0 ? { [r.error_kind ?? 'unknown']: 1 } : undefined;
  return newSample(r.at, 1, r.ok, failures, r.duration_ms, r.valid, r.currency, r.usage_total, r.usage_daily, r.usage_weekly, r.usage_monthly, r.limit_value, r.limit_remaining, r.unlimited, r.balance);
}

const ROLLUP_SAMPLE_COLUMNS =
  'hour, last_at, runs, ok_runs, failures, latency_ms, valid, currency, usage_total, usage_daily, usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance';

/** The columns selectRollups returns, in its order. */
type RollupSampleColumns = [
  hour: number,
  last_at: number,
  runs: number,
  ok_runs: number,
  failures: string,
  latency_ms: number | null,
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

function rollupColumnsOf(r: RollupRow): RollupSampleColumns {
  return [r.hour, r.last_at, r.runs, r.ok_runs, r.failures, r.latency_ms, r.valid, r.currency, r.usage_total, r.usage_daily, r.usage_weekly, r.usage_monthly, r.limit_value, r.limit_remaining, r.unlimited, r.balance];
}

function rollupSampleOf(c: RollupSampleColumns): HistorySample {
  const [, lastAt, runs, okRuns, failuresJson, latency, valid, currency, total, daily, weekly, monthly, limit, remaining, unlimited, balance] = c;
  // Most hours had no failure: skip parsing the '{}' (history() maps ~170 rollups per key run).
  let failures: Record<string, number> | undefined;
  if (failuresJson !== '{}') {
    const parsed = JSON.parse(failuresJson) as Record<string, number>;
    if (Object.keys(parsed).length > 0) failures = parsed;
  }
  return newSample(lastAt, runs, okRuns, failures, latency ?? undefined, valid, currency, total, daily, weekly, monthly, limit, remaining, unlimited, balance);
}

/**
 * What a restart must not get wrong about a key, part by part (besides its probes' outcomes): a
 * state whose parts changed is written at once; one that only moved its figures (usage, remaining,
 * durations) may wait. Each part is a value compared as it is (`===`: a key's model list, labels and
 * watched models are the same objects run after run, the state sharing what did not change) and,
 * where it is an object, the text its signature holds.
 */
const SIGNATURE_PARTS: readonly { of: (s: KeyState, analysis: KeyAnalysis | undefined) => unknown; text?: (v: never) => string }[] = [
  { of: (s) => s.facts.valid },
  { of: (s) => s.provider },
  { of: (s) => s.claimedProvider },
  { of: (s) => s.fingerprint },
  { of: (s) => s.account },
  { of: (s) => s.consecutiveFailures > 0 },
  { of: (s) => s.facts.currency },
  { of: (s) => s.facts.limit },
  { of: (s) => s.facts.limitReset },
  { of: (s) => s.facts.expiresAt },
  { of: (s) => s.facts.identity?.provider },
  { of: (s) => s.facts.models?.access, text: (access: Record<string, boolean>) => memo(modelsSignatures, access, accessibleModels) },
  { of: (_s, analysis) => analysis?.readiness.verdict },
  { of: (s) => s.watchModels, text: (models: string[]) => models.join(',') },
  { of: (s) => s.labels, text: (labels: Record<string, string>) => memo(labelsSignatures, labels, JSON.stringify) },
];

/** The parts of a key's state a restart must get right (its probes' outcomes and SIGNATURE_PARTS), as one string. */
export function stateSignature(s: KeyState, analysis: KeyAnalysis | undefined = s.analysis): string {
  return signatureOf(s.probes, (i) => SIGNATURE_PARTS[i]!.of(s, analysis));
}

function signatureOf(probes: KeyState['probes'] | readonly ProbeOutcome[], part: (i: number) => unknown): string {
  let outcomes = '';
  for (const o of Object.values(probes)) if (o !== undefined) outcomes += `${o.probe}:${o.ok ? 1 : 0}:${o.errorKind ?? ''},`;
  signaturePieces[0] = outcomes;
  for (let i = 0; i < SIGNATURE_PARTS.length; i++) {
    const text = SIGNATURE_PARTS[i]!.text;
    const v = part(i);
    signaturePieces[i + 1] = v === undefined || v === null ? '' : text !== undefined ? text(v as never) : String(v);
  }
  // Joined, not concatenated: a kept signature is one flat string, not a tree of ~16 pieces.
  return signaturePieces.join('|');
}

const signaturePieces: string[] = [];

// A key's model list (hundreds of models) and labels are the same objects run after run (the
// state shares what did not change): their part of the signature is built once per object.
const modelsSignatures = new WeakMap<object, string>();
const labelsSignatures = new WeakMap<object, string>();

function memo<T extends object>(cache: WeakMap<object, string>, o: T, make: (o: T) => string): string {
  let v = cache.get(o);
  if (v === undefined) cache.set(o, (v = make(o)));
  return v;
}

/** The parts of a written state's signature, so a later state can be compared part by part. */
export interface SavedMark {
  at: number;
  /** SIGNATURE_PARTS' values, in order. */
  parts: unknown[];
  /** The state's probe outcomes, in order (their part: probe, ok, errorKind). */
  probes: ProbeOutcome[];
  /** The signature those parts make, once a comparison needed it. */
  signature?: string;
}

export function savedMark(s: KeyState, analysis: KeyAnalysis | undefined = s.analysis, at = s.lastRunAt ?? 0): SavedMark {
  const probes: ProbeOutcome[] = [];
  for (const o of Object.values(s.probes)) if (o !== undefined) probes.push(o);
  return { at, parts: SIGNATURE_PARTS.map((p) => p.of(s, analysis)), probes };
}

/**
 * Whether `s` has the signature the marked state had: its parts compared with the marked ones (the
 * same values, the same shared objects), else the signatures themselves. Every part the same means
 * the same signature; a part that differs may still sign the same (an equal model list in a new
 * object), which the signature then tells.
 */
export function sameAsSaved(mark: SavedMark, s: KeyState, analysis: KeyAnalysis | undefined = s.analysis): boolean {
  if (samePartsAs(mark, s, analysis) && sameProbes(mark.probes, s.probes)) return true;
  mark.signature ??= signatureOf(mark.probes, (i) => mark.parts[i]);
  return mark.signature === stateSignature(s, analysis);
}

function samePartsAs(mark: SavedMark, s: KeyState, analysis: KeyAnalysis | undefined): boolean {
  for (let i = 0; i < SIGNATURE_PARTS.length; i++) if (SIGNATURE_PARTS[i]!.of(s, analysis) !== mark.parts[i]) return false;
  return true;
}

/** The same probes in the same order, each as ok and failing the same way (their part of the signature). */
function sameProbes(marked: readonly ProbeOutcome[], probes: KeyState['probes']): boolean {
  let i = 0;
  for (const k in probes) {
    const o = probes[k as ProbeKind];
    if (o === undefined) continue;
    const m = marked[i++];
    if (m === undefined || m.probe !== o.probe || m.ok !== o.ok || m.errorKind !== o.errorKind) return false;
  }
  return i === marked.length;
}

function accessibleModels(access: Record<string, boolean>): string {
  let models = '';
  for (const m in access) if (access[m] === true) models += `${m},`;
  return models;
}
