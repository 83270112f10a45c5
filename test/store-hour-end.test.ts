/**
 * rollupsAtHourEnd (the daemon's store): a key's rollup for the hour in progress stays in memory and
 * is written when the hour ends, by flush() and by close(); raw rows are written with every run.
 * Checked against a store writing rollups with every run (the reference) on the same runs: the same
 * history at every step, the same rollups once closed, and after crashes (the connection dropped
 * with rollups only in memory) the same rollups again once reopened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../src/log.js';
import { HOUR_MS, hourOf, openStore, type RunRecord, type Store } from '../src/store/index.js';
import { rng } from './helpers/rng.js';

const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const MIN = 60_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kw-store-hour-end-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function runOf(at: number, key: string, i: number, fail: boolean): RunRecord {
  if (fail) return { at, key, provider: 'openrouter', ok: false, failedProbe: 'current_key', errorKind: i % 2 ? 'timeout' : '503', durationMs: 900 + i, facts: {}, outcomes: [] };
  return {
    at,
    key,
    provider: 'openrouter',
    ok: true,
    durationMs: 100 + (i % 13),
    facts: { valid: true, currency: 'USD', usage: { total: 5 + i * 0.5, daily: (i % 20) * 0.1 }, limit: 100, limitRemaining: 95 - i * 0.5 },
    outcomes: [],
  };
}

/** Every rollup row, in key and hour order. */
function rollupRows(store: Store): unknown[] {
  return store.db.prepare('SELECT * FROM rollups ORDER BY key, hour').all();
}

function rollupRowsOf(file: string): unknown[] {
  const s = openStore(file);
  try {
    return rollupRows(s);
  } finally {
    s.close();
  }
}

/** The pending mark, as the store keeps it (undefined: closed cleanly). */
function mark(store: Store): string | undefined {
  return store.db.prepare("SELECT value FROM store_meta WHERE name = 'rollups_pending_since'").pluck().get() as string | undefined;
}

/** A crash: the connection goes, nothing the store holds in memory is written. */
function crash(store: Store): void {
  store.db.close();
}

function warnings(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = { warn: (o: unknown, m?: string) => lines.push(`${m ?? o}`), error: () => undefined, info: () => undefined, debug: () => undefined } as unknown as Logger;
  return { log, lines };
}

describe('rollups written at hour end', () => {
  it('keeps the hour in progress in memory, writes an hour once it has ended, and serves the same history as a store writing every run', () => {
    const eager = openStore(join(dir, 'eager.db'), { maxBatch: 3 });
    const lazy = openStore(join(dir, 'lazy.db'), { maxBatch: 3, rollupsAtHourEnd: true });
    const keys = ['alpha', 'beta'];
    let i = 0;
    const current = (s: Store, key: string, hour: number): unknown => s.db.prepare('SELECT runs FROM rollups WHERE key = ? AND hour = ?').pluck().get(key, hour);
    for (let at = T0 + 5 * MIN; at < T0 + 4 * HOUR_MS; at += 4 * MIN) {
      for (const key of keys) {
        const r = runOf(at + (key === 'beta' ? 1000 : 0), key, i++, i % 7 === 3);
        eager.recordRun(r);
        lazy.recordRun(r);
      }
      for (const key of keys) expect(lazy.history(key, T0)).toEqual(eager.history(key, T0));
      // maxBatch 3 flushes on its own: the eager store has the hour in progress, the other does not.
      const hour = hourOf(at);
      if (at - hour > 10 * MIN) {
        expect(current(eager, 'alpha', hour)).toBeGreaterThan(0);
        expect(current(lazy, 'alpha', hour)).toBeUndefined();
      }
      // Once a run of the next hour is written, the hour before it is, whole.
      if (hour > T0 && at - hour > 10 * MIN) expect(current(lazy, 'alpha', hour - HOUR_MS)).toBe(current(eager, 'alpha', hour - HOUR_MS));
    }
    expect(mark(lazy)).toBeDefined();
    eager.close();
    lazy.close();
    expect(rollupRowsOf(join(dir, 'lazy.db'))).toEqual(rollupRowsOf(join(dir, 'eager.db')));
  });

  it("does not write every key's rollup at the hour's turn: each key's goes with its own next run, a stopped key's an hour later", () => {
    const s = openStore(join(dir, 'kw.db'), { maxBatch: 1, rollupsAtHourEnd: true });
    const keys = Array.from({ length: 20 }, (_, k) => `key-${k}`);
    keys.forEach((key, k) => s.recordRun(runOf(T0 + 30 * MIN + k * 1000, key, k, false)));
    const written = (): unknown[] => s.db.prepare('SELECT key FROM rollups WHERE hour = ? ORDER BY key').pluck().all(T0);
    // The next hour begins: three keys run.
    for (const key of keys.slice(0, 3)) s.recordRun(runOf(T0 + HOUR_MS + MIN, key, 1, false));
    const atTurn = written();
    // An hour later one key runs again; the 17 that stopped are written now.
    s.recordRun(runOf(T0 + 2 * HOUR_MS + MIN, 'key-0', 2, false));
    const later = written();
    s.close();
    expect(atTurn).toEqual(['key-0', 'key-1', 'key-2']);
    expect(later).toEqual([...keys].sort());
  });

  it('close() writes every rollup and clears the mark: the next open has nothing to fold back in', () => {
    const file = join(dir, 'kw.db');
    const s = openStore(file, { maxBatch: 2, rollupsAtHourEnd: true });
    for (let k = 0; k < 10; k++) s.recordRun(runOf(T0 + k * 5 * MIN, 'alpha', k, false));
    s.close();
    const { log, lines } = warnings();
    const again = openStore(file, { rollupsAtHourEnd: true, log });
    const rows = again.db.prepare('SELECT hour, runs FROM rollups').all();
    again.close();
    expect(rows).toEqual([{ hour: T0, runs: 10 }]);
    expect(lines).toEqual([]);
  });

  it('flush() writes the hours in progress too, without clearing the mark', () => {
    const s = openStore(join(dir, 'kw.db'), { flushIntervalMs: 3_600_000, maxBatch: 100_000, rollupsAtHourEnd: true });
    s.recordRun(runOf(T0 + MIN, 'alpha', 0, false));
    s.recordRun(runOf(T0 + 2 * MIN, 'alpha', 1, true));
    s.flush();
    const rows = s.db.prepare('SELECT hour, runs, ok_runs FROM rollups').all();
    const m = mark(s);
    crash(s);
    expect(rows).toEqual([{ hour: T0, runs: 2, ok_runs: 1 }]);
    expect(m).toBeDefined();
  });

  it('after crashes the next open folds the runs the rollups missed back in from the raw rows: the rollups equal the reference (40 random histories)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = rng(seed);
      const keys = ['k0', 'k1', 'k2', 'k3'].slice(0, 1 + Math.floor(rand() * 4));
      const eagerFile = join(dir, `eager-${seed}.db`);
      const lazyFile = join(dir, `lazy-${seed}.db`);
      // maxBatch 1: every raw row is written as it is recorded, so a crash loses no raw row (a
      // queued one would be lost in either mode).
      const eager = openStore(eagerFile, { maxBatch: 1 });
      const { log, lines } = warnings();
      let lazy = openStore(lazyFile, { maxBatch: 1, rollupsAtHourEnd: true, log });
      let crashes = 0;
      let sinceOpen = 0;
      const next = new Map(keys.map((k) => [k, T0 + Math.floor(rand() * 30 * MIN)]));
      const end = T0 + (2 + Math.floor(rand() * 5)) * HOUR_MS;
      let i = 0;
      for (;;) {
        // The key due first runs next; keys run every 1-40 minutes, some stop for hours.
        const [key, at] = [...next].sort((a, b) => a[1] - b[1])[0]!;
        if (at >= end) break;
        const r = runOf(at, key, i++, rand() < 0.2);
        eager.recordRun(r);
        lazy.recordRun(r);
        sinceOpen++;
        next.set(key, at + (rand() < 0.05 ? 2 * HOUR_MS : MIN + Math.floor(rand() * 40 * MIN)));
        if (rand() < 0.03) {
          crash(lazy);
          crashes++;
          lazy = openStore(lazyFile, { maxBatch: 1, rollupsAtHourEnd: true, log });
          sinceOpen = 0;
        }
        if (rand() < 0.02) {
          const probe = keys[Math.floor(rand() * keys.length)]!;
          expect(lazy.history(probe, T0), `seed ${seed}`).toEqual(eager.history(probe, T0));
        }
      }
      crash(lazy);
      crashes++;
      eager.close();
      const { log: log2, lines: lines2 } = warnings();
      const reopened = openStore(lazyFile, { rollupsAtHourEnd: true, log: log2 });
      const rows = rollupRows(reopened);
      const histories = keys.map((k) => reopened.history(k, T0));
      reopened.close();
      const ref = openStore(eagerFile);
      expect(rows, `seed ${seed}`).toEqual(rollupRows(ref));
      expect(histories, `seed ${seed}`).toEqual(keys.map((k) => ref.history(k, T0)));
      ref.close();
      // The last run is always in memory only: a crash after it leaves runs to fold back in.
      expect(lines2, `seed ${seed}`).toHaveLength(sinceOpen > 0 ? 1 : 0);
      expect(lines.length, `seed ${seed}`).toBeLessThanOrEqual(crashes);
    }
  });

  it('pruning writes an ended hour before deleting its raw runs, so a crash after the prune loses nothing', () => {
    const file = join(dir, 'kw.db');
    const s = openStore(file, { maxBatch: 1, rollupsAtHourEnd: true });
    for (let k = 0; k < 12; k++) s.recordRun(runOf(T0 + k * 5 * MIN, 'alpha', k, k === 4));
    // Three hours later, raw runs kept for a minute: the hour's raw rows go.
    while (s.pruneStep(T0 + 3 * HOUR_MS, MIN, 30 * 24 * HOUR_MS, 1000) > 0);
    const raw = s.db.prepare('SELECT count(*) FROM probe_runs').pluck().get();
    crash(s);
    const again = openStore(file, { rollupsAtHourEnd: true });
    const rows = again.db.prepare('SELECT hour, runs, ok_runs FROM rollups').all();
    again.close();
    expect(raw).toBe(0);
    expect(rows).toEqual([{ hour: T0, runs: 12, ok_runs: 11 }]);
  });

  it('a store opened without it (a report) leaves the mark and the rollups alone', () => {
    const file = join(dir, 'kw.db');
    const s = openStore(file, { maxBatch: 1, rollupsAtHourEnd: true });
    for (let k = 0; k < 5; k++) s.recordRun(runOf(T0 + k * 5 * MIN, 'alpha', k, false));
    crash(s);
    const reader = openStore(file);
    const before = rollupRows(reader);
    const history = reader.history('alpha', T0);
    reader.close();
    const owner = openStore(file, { rollupsAtHourEnd: true });
    const after = owner.db.prepare('SELECT hour, runs FROM rollups').all();
    owner.close();
    expect(before).toEqual([]);
    // The reader sees the raw runs of the hour all the same.
    expect(history.reduce((n, h) => n + h.runs, 0)).toBe(5);
    expect(after).toEqual([{ hour: T0, runs: 5 }]);
  });
});

describe("a key's first run of an hour", () => {
  it('reads no stored rollup for an hour this store began, and reads one the store found at open or one of an hour the key has left', () => {
    const file = join(dir, 's.db');
    const rows = (s: Store, key: string): unknown[] => s.db.prepare('SELECT hour, runs FROM rollups WHERE key = ? ORDER BY hour').raw(true).all(key);
    let store = openStore(file, { rollupsAtHourEnd: true });
    store.recordRun(runOf(T0 + 10 * MIN, 'k', 0, false));
    store.recordRun(runOf(T0 + 50 * MIN, 'k', 1, false));
    store.recordRun(runOf(T0 + HOUR_MS + 10 * MIN, 'k', 2, false)); // the key's first run of a new hour
    store.recordRun(runOf(T0 + 2 * HOUR_MS + 10 * MIN, 'other', 3, false)); // a key's first run at all
    store.flush();
    expect(store.stats().rollupReads).toBe(0);
    store.close();
    expect(rowsOf(file, 'k')).toEqual([
      [T0, 2],
      [T0 + HOUR_MS, 1],
    ]);

    // Reopened: the hour it found stored is read, and its count goes on.
    store = openStore(file, { rollupsAtHourEnd: true });
    store.recordRun(runOf(T0 + HOUR_MS + 20 * MIN, 'k', 4, false));
    expect(store.stats().rollupReads).toBe(1);
    // A run of an hour the key has left (out of order) is folded into that hour's stored rollup.
    store.recordRun(runOf(T0 + 2 * HOUR_MS + 10 * MIN, 'k', 5, false));
    store.recordRun(runOf(T0 + 40 * MIN, 'k', 6, false));
    expect(store.stats().rollupReads).toBe(3); // the second: the hour 'other' had stored at open
    store.close();
    expect(rowsOf(file, 'k')).toEqual([
      [T0, 3],
      [T0 + HOUR_MS, 2],
      [T0 + 2 * HOUR_MS, 1],
    ]);

    function rowsOf(f: string, key: string): unknown[] {
      const s = openStore(f);
      try {
        return rows(s, key);
      } finally {
        s.close();
      }
    }
  });
});
