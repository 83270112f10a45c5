import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { nextReset } from '../providers/openrouter/index.js';
import { openStore } from '../src/store/index.js';
import { round } from './measure.js';

/** The fields of OpenRouter's GET /key answer that a run stores and exports (providers.md). */
export interface OpenRouterKey {
  usage?: number;
  usage_daily?: number;
  usage_weekly?: number;
  usage_monthly?: number;
  limit?: number | null;
  limit_remaining?: number | null;
  /** The limit's period: daily, weekly, monthly or null (providers.md §1). */
  limit_reset?: string | null;
}

/** One decompose.ts process's figures: one mode in one round. */
export interface DecomposeResult {
  mode: string;
  round: number;
  keys: number;
  runs: number;
  cpuMsPerRun: number;
  kernelMsPerRun: number;
  failures: number;
}

/** run.ts's floor row: the floor against the bare loop, each round's pair measured at once. */
export interface FloorSummary {
  keys: number;
  /** Per round: the bare loop's and the floor's CPU ms per key run, and their ratio. */
  pairs: { bareMsPerRun: number; floorMsPerRun: number; ratio: number }[];
  bareMsPerRun: number;
  floorMsPerRun: number;
  /** Mean floor over mean bare. */
  ratio: number;
  failures: number;
}

/** Pairs each round's `bare` and `floor` processes; a round without both is an error (a process failed to report). */
export function floorSummary(results: readonly DecomposeResult[]): FloorSummary {
  const rounds = [...new Set(results.map((r) => r.round))].sort((a, b) => a - b);
  if (rounds.length === 0) throw new Error('decompose reported no rounds');
  const pairs = rounds.map((n) => {
    const bare = results.find((r) => r.round === n && r.mode === 'bare');
    const floor = results.find((r) => r.round === n && r.mode === 'floor');
    if (bare === undefined || floor === undefined) throw new Error(`decompose round ${n} lacks ${bare === undefined ? 'bare' : 'floor'}`);
    return { bareMsPerRun: round(bare.cpuMsPerRun, 3), floorMsPerRun: round(floor.cpuMsPerRun, 3), ratio: round(floor.cpuMsPerRun / bare.cpuMsPerRun, 3) };
  });
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const bare = mean(pairs.map((p) => p.bareMsPerRun));
  const floor = mean(pairs.map((p) => p.floorMsPerRun));
  return {
    keys: results[0]!.keys,
    pairs,
    bareMsPerRun: round(bare, 3),
    floorMsPerRun: round(floor, 3),
    ratio: round(floor / bare, 2),
    failures: results.reduce((n, r) => n + r.failures, 0),
  };
}

export interface FloorSink {
  /** Run i's answer: its raw row queued, its key's lines written (returns their length in bytes). */
  record(i: number, at: number, ms: number, d: OpenRouterKey): number;
  /** Key i's lines as last written. */
  lines(i: number): string;
  /** Writes the queued rows in one transaction. */
  flush(): void;
  /** Raw rows in the table. */
  rows(): number;
  close(): void;
}

/**
 * decompose.ts `floor`'s store and lines: the least a run can do of what the 1.5x target names
 * beyond the request and its parse. A raw row per run through keywatch's own table (created by
 * openStore, so its schema, indexes and pragmas), `prefillMinutes` of every key's runs in it first
 * (each key's index page is where its runs are, as in the daemon's store), written in one
 * transaction every `flushEveryMs` as the daemon's store does; and per key one buffer its lines
 * are written into from one string. No state, rollup, checks or judging.
 */
export function floorSink(names: readonly string[], opts: { flushEveryMs?: number; prefillMinutes?: number } = {}): FloorSink {
  const dir = mkdtempSync(join(tmpdir(), 'keywatch-floor-'));
  const file = join(dir, 'floor.db');
  openStore(file).close();
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(`INSERT INTO probe_runs
    (at, key, provider, ok, failed_probe, error_kind, duration_ms, valid, currency, usage_total, usage_daily,
     usage_weekly, usage_monthly, limit_value, limit_remaining, unlimited, balance, probes)
    VALUES (?, ?, 'openrouter', 1, NULL, NULL, ?, 1, 'USD', ?, ?, ?, ?, ?, ?, ?, NULL, ?)`);
  const now = Date.now();
  db.transaction(() => {
    for (let m = opts.prefillMinutes ?? 60; m > 0; m--) {
      for (let i = 0; i < names.length; i++) {
        const at = now - m * 60_000 + Math.floor((i * 60_000) / names.length);
        insert.run(at, names[i]!, 120, 1, 0.1, 0.2, 0.5, 10, 9, 0, '[{"probe":"current_key","ok":true,"status":200,"ms":120}]');
      }
    }
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  let queue: unknown[][] = [];
  const writeAll = db.transaction((rows: unknown[][]) => {
    for (const r of rows) insert.run(...r);
  });
  const flush = (): void => {
    const rows = queue;
    queue = [];
    writeAll(rows);
  };
  const timer = opts.flushEveryMs === undefined ? undefined : setInterval(flush, opts.flushEveryMs);
  const count = db.prepare('SELECT count(*) FROM probe_runs').pluck();
  const labels = names.map((n) => `{key="${n}",provider="openrouter"`);
  const buffers: Buffer[] = names.map(() => Buffer.allocUnsafeSlow(2048));
  const lengths = new Uint32Array(names.length);
  const num = (v: number | null | undefined): number | null => (typeof v === 'number' ? v : null);
  return {
    record(i, at, ms, d) {
      const limit = num(d.limit);
      const reset = d.limit_reset === 'daily' || d.limit_reset === 'weekly' || d.limit_reset === 'monthly' ? d.limit_reset : undefined;
      queue.push([
        at,
        names[i]!,
        ms,
        num(d.usage),
        num(d.usage_daily),
        num(d.usage_weekly),
        num(d.usage_monthly),
        limit,
        num(d.limit_remaining),
        d.limit === null ? 1 : 0,
        `[{"probe":"current_key","ok":true,"status":200,"ms":${ms}}]`,
      ]);
      const l = labels[i]!;
      const lines =
        `\nkeywatch_key_info${l},claimed_provider="openrouter"} 1\nkeywatch_key_valid${l}} 1` +
        `\nkeywatch_key_usage${l},currency="USD",window="total"} ${d.usage}\nkeywatch_key_usage${l},currency="USD",window="daily"} ${d.usage_daily}` +
        `\nkeywatch_key_usage${l},currency="USD",window="weekly"} ${d.usage_weekly}\nkeywatch_key_usage${l},currency="USD",window="monthly"} ${d.usage_monthly}` +
        // An unlimited key has no limit lines (as keywatch renders it).
        (limit === null
          ? ''
          : `\nkeywatch_key_limit${l},currency="USD"} ${limit}\nkeywatch_key_limit_remaining${l},currency="USD"} ${d.limit_remaining ?? limit}` +
            (reset === undefined ? '' : `\nkeywatch_key_limit_reset_timestamp_seconds${l}} ${nextReset(reset, at)}`)) +
        `\nkeywatch_key_consecutive_failures${l}} 0\nkeywatch_key_last_run_timestamp_seconds${l}} ${at / 1000}` +
        `\nkeywatch_probe_success${l},probe="current_key"} 1\nkeywatch_probe_duration_seconds${l},probe="current_key"} ${ms / 1000}` +
        `\nkeywatch_probe_last_success_timestamp_seconds${l},probe="current_key"} ${at / 1000}` +
        `\nkeywatch_probe_success${l},probe="models"} 1\nkeywatch_probe_duration_seconds${l},probe="models"} 0.003` +
        `\nkeywatch_probe_last_success_timestamp_seconds${l},probe="models"} ${at / 1000}`;
      return (lengths[i] = buffers[i]!.write(lines, 0, 'latin1'));
    },
    lines: (i) => buffers[i]!.toString('latin1', 0, lengths[i]),
    flush,
    rows: () => count.get() as number,
    close() {
      clearInterval(timer);
      flush();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
