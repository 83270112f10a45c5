/**
 * The key runs waiting for the store's next flush, column by column: numbers in typed arrays,
 * strings (the key's name, the provider, error kinds: strings the process keeps anyway) in arrays
 * that are reused from flush to flush, and each run's probe outcomes as columns too, turned into the
 * `probes` column's JSON only as the row is written.
 *
 * A queued run lives for up to a flush interval (1 s), longer than V8's young generation keeps an
 * object (a scavenge every ~0.5 s at 10,000 keys), so a queued row object, its boxed numbers and its
 * `probes` text were copied by one scavenge and then promoted by the next: ~38 KB of the ~110 KB of
 * a half second's allocation found still alive (docs/performance.md, session 25). Columns leave
 * nothing of a run to copy. Measured at once with the row objects: RSS 5 MB lower, CPU a run the
 * same (the difference was within the noise, lower in three rounds of four).
 */
import type { ProbeOutcome } from '../../probes/types.js';
import type { RawFields } from './rollup.js';

/**
 * Money columns per run in `money`: usage_total, usage_daily, usage_weekly, usage_monthly,
 * limit_value, limit_remaining, balance (a null is a bit in `nulls`, not a value).
 */
const M = 7;
/** Null bits: one per money column, then valid and unlimited (their values are 0/1 in `flags`). */
const VALID_NULL = 1 << M;
const UNLIMITED_NULL = 1 << (M + 1);
const OK = 1;
const VALID = 2;
const UNLIMITED = 4;

/** One queued run's columns, positional, in the order probe_runs' insert binds them. */
export type RunRow = [
  at: number,
  key: string,
  provider: string,
  ok: number,
  failed_probe: string | null,
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
  probes: string,
];

export class RunQueue {
  length = 0;
  private cap = 0;
  private at = new Float64Array(0);
  private duration = new Float64Array(0);
  private money = new Float64Array(0);
  private nulls = new Uint16Array(0);
  private flags = new Uint8Array(0);
  private keys: string[] = [];
  private providers: string[] = [];
  private failedProbes: (string | null)[] = [];
  private errorKinds: (string | null)[] = [];
  private currencies: (string | null)[] = [];
  /** Run i's outcomes are outcome rows firstOutcome[i] .. firstOutcome[i + 1] - 1. */
  private firstOutcome = new Uint32Array(1);
  private outcomes = 0;
  private outcomeCap = 0;
  private oProbe: string[] = [];
  private oKind: (string | null)[] = [];
  private oOk = new Uint8Array(0);
  /** HTTP status, NaN when the outcome has none. */
  private oStatus = new Float64Array(0);
  private oMs = new Float64Array(0);

  /** Queues a run: its columns (`row`, as recordRun folds it) plus what only the raw row keeps. */
  push(row: RawFields, provider: string, failedProbe: string | null, outcomes: readonly ProbeOutcome[]): void {
    if (this.length === this.cap) this.grow(Math.max(64, this.cap * 2));
    const i = this.length;
    this.at[i] = row.at;
    this.duration[i] = row.duration_ms;
    // Written out, not looped over MONEY: a loop's row[name] is a lookup by name for every column.
    const nulls =
      this.putMoney(i, 0, row.usage_total) |
      this.putMoney(i, 1, row.usage_daily) |
      this.putMoney(i, 2, row.usage_weekly) |
      this.putMoney(i, 3, row.usage_monthly) |
      this.putMoney(i, 4, row.limit_value) |
      this.putMoney(i, 5, row.limit_remaining) |
      this.putMoney(i, 6, row.balance) |
      (row.valid === null ? VALID_NULL : 0) |
      (row.unlimited === null ? UNLIMITED_NULL : 0);
    let flags = row.ok === 1 ? OK : 0;
    if (row.valid === 1) flags |= VALID;
    if (row.unlimited === 1) flags |= UNLIMITED;
    this.nulls[i] = nulls;
    this.flags[i] = flags;
    this.keys[i] = row.key;
    this.providers[i] = provider;
    this.failedProbes[i] = failedProbe;
    this.errorKinds[i] = row.error_kind;
    this.currencies[i] = row.currency;
    for (const o of outcomes) {
      if (this.outcomes === this.outcomeCap) this.growOutcomes(Math.max(64, this.outcomeCap * 2));
      const j = this.outcomes++;
      this.oProbe[j] = o.probe;
      this.oKind[j] = o.errorKind ?? null;
      this.oOk[j] = o.ok ? 1 : 0;
      this.oStatus[j] = o.status ?? NaN;
      this.oMs[j] = Math.round(o.durationMs);
    }
    this.length = i + 1;
    this.firstOutcome[i + 1] = this.outcomes;
  }

  keyOf(i: number): string {
    return this.keys[i]!;
  }

  atOf(i: number): number {
    return this.at[i]!;
  }

  /** Run i's columns as recordRun folded them. */
  fields(i: number): RawFields {
    return {
      at: this.at[i]!,
      key: this.keys[i]!,
      ok: this.flags[i]! & OK ? 1 : 0,
      error_kind: this.errorKinds[i]!,
      duration_ms: this.duration[i]!,
      valid: this.flag(i, VALID_NULL, VALID),
      currency: this.currencies[i]!,
      usage_total: this.moneyAt(i, 0),
      usage_daily: this.moneyAt(i, 1),
      usage_weekly: this.moneyAt(i, 2),
      usage_monthly: this.moneyAt(i, 3),
      limit_value: this.moneyAt(i, 4),
      limit_remaining: this.moneyAt(i, 5),
      unlimited: this.flag(i, UNLIMITED_NULL, UNLIMITED),
      balance: this.moneyAt(i, 6),
    };
  }

  /** Calls `write` with each queued run's row, in the order they were queued (one array, refilled). */
  each(write: (row: RunRow) => void): void {
    const row: RunRow = [0, '', '', 0, null, null, 0, null, null, null, null, null, null, null, null, null, null, '[]'];
    for (let i = 0; i < this.length; i++) {
      row[0] = this.at[i]!;
      row[1] = this.keys[i]!;
      row[2] = this.providers[i]!;
      row[3] = this.flags[i]! & OK ? 1 : 0;
      row[4] = this.failedProbes[i]!;
      row[5] = this.errorKinds[i]!;
      row[6] = this.duration[i]!;
      row[7] = this.flag(i, VALID_NULL, VALID);
      row[8] = this.currencies[i]!;
      row[9] = this.moneyAt(i, 0);
      row[10] = this.moneyAt(i, 1);
      row[11] = this.moneyAt(i, 2);
      row[12] = this.moneyAt(i, 3);
      row[13] = this.moneyAt(i, 4);
      row[14] = this.moneyAt(i, 5);
      row[15] = this.flag(i, UNLIMITED_NULL, UNLIMITED);
      row[16] = this.moneyAt(i, 6);
      row[17] = this.probesJson(i);
      write(row);
    }
  }

  /**
   * Run i's outcomes as the `probes` column stores them: `[{"probe","ok","kind"?,"status"?,"ms"}]`,
   * the text JSON.stringify makes of those objects.
   */
  probesJson(i: number): string {
    let s = '[';
    for (let j = this.firstOutcome[i]!, end = this.firstOutcome[i + 1]!; j < end; j++) {
      if (s.length > 1) s += ',';
      s += `{"probe":${JSON.stringify(this.oProbe[j])},"ok":${this.oOk[j] === 1}`;
      const kind = this.oKind[j]!;
      if (kind !== null) s += `,"kind":${JSON.stringify(kind)}`;
      const status = this.oStatus[j]!;
      if (!Number.isNaN(status)) s += `,"status":${jsonNumber(status)}`;
      s += `,"ms":${jsonNumber(this.oMs[j]!)}}`;
    }
    return `${s}]`;
  }

  /** Empties the queue; its arrays are kept for the next runs. */
  clear(): void {
    this.length = 0;
    this.outcomes = 0;
  }

  /** Stores a money value; returns its null bit when it is null. */
  private putMoney(i: number, m: number, v: number | null): number {
    this.money[i * M + m] = v ?? 0;
    return v === null ? 1 << m : 0;
  }

  private moneyAt(i: number, m: number): number | null {
    return this.nulls[i]! & (1 << m) ? null : this.money[i * M + m]!;
  }

  private flag(i: number, nullBit: number, bit: number): number | null {
    return this.nulls[i]! & nullBit ? null : this.flags[i]! & bit ? 1 : 0;
  }

  private grow(cap: number): void {
    this.at = grown(this.at, cap);
    this.duration = grown(this.duration, cap);
    this.money = grown(this.money, cap * M);
    const nulls = new Uint16Array(cap);
    nulls.set(this.nulls);
    this.nulls = nulls;
    const flags = new Uint8Array(cap);
    flags.set(this.flags);
    this.flags = flags;
    const first = new Uint32Array(cap + 1);
    first.set(this.firstOutcome);
    this.firstOutcome = first;
    this.cap = cap;
  }

  private growOutcomes(cap: number): void {
    const ok = new Uint8Array(cap);
    ok.set(this.oOk);
    this.oOk = ok;
    this.oStatus = grown(this.oStatus, cap);
    this.oMs = grown(this.oMs, cap);
    this.outcomeCap = cap;
  }
}

function grown(a: Float64Array<ArrayBuffer>, cap: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

/** JSON.stringify's text of a number (null for NaN and infinities). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
