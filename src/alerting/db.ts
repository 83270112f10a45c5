/**
 * Alerting's own tables (component `alerting`): alert state per (key, rule), what it remembers per
 * key, API silences, and the durable outbox. Nothing here holds a secret: notifier URLs are
 * looked up from the config at send time, payloads carry key names and fingerprints only.
 */
import type { Database } from 'better-sqlite3';
import { migrate, type Migration } from '../store/migrate.js';
import type { AlertRecord } from './machine.js';
import type { KeyMemory } from './rules.js';
import type { SilenceRule } from './silences.js';
import type { Notification } from './notification.js';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE alert_state (
        key TEXT NOT NULL, rule TEXT NOT NULL, phase TEXT NOT NULL, data TEXT NOT NULL, updated_at INTEGER NOT NULL,
        PRIMARY KEY (key, rule));
      CREATE TABLE alert_memory (key TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE alert_silences (id TEXT PRIMARY KEY, data TEXT NOT NULL, ends_at INTEGER NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedupe TEXT NOT NULL UNIQUE,
        notifier TEXT NOT NULL,
        payload TEXT NOT NULL,
        digest INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER,
        -- The head row's id of the message that carried this row (one Slack message may carry several).
        batch INTEGER,
        last_error TEXT);
      CREATE INDEX alert_outbox_queue ON alert_outbox (notifier, status, id);
      CREATE INDEX alert_outbox_delivered ON alert_outbox (notifier, delivered_at);
    `,
  },
];

export type OutboxStatus = 'pending' | 'delivered' | 'failed';

export interface OutboxRow {
  id: number;
  dedupe: string;
  notifier: string;
  payload: Notification;
  digest: boolean;
  status: OutboxStatus;
  attempts: number;
  nextAt: number;
  createdAt: number;
  deliveredAt?: number;
  lastError?: string;
}

export interface NewOutboxRow {
  dedupe: string;
  notifier: string;
  payload: Notification;
  digest: boolean;
  nextAt: number;
}

interface RawOutbox {
  id: number;
  dedupe: string;
  notifier: string;
  payload: string;
  digest: number;
  status: OutboxStatus;
  attempts: number;
  next_at: number;
  created_at: number;
  delivered_at: number | null;
  last_error: string | null;
}

export type AlertDb = ReturnType<typeof openAlertDb>;

export function openAlertDb(db: Database) {
  migrate(db, 'alerting', MIGRATIONS);
  const q = {
    allStates: db.prepare('SELECT data FROM alert_state'),
    putState: db.prepare(
      'INSERT INTO alert_state (key, rule, phase, data, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, rule) DO UPDATE SET phase = excluded.phase, data = excluded.data, updated_at = excluded.updated_at',
    ),
    dropStates: db.prepare('DELETE FROM alert_state WHERE key = ?'),
    getMemory: db.prepare('SELECT data FROM alert_memory WHERE key = ?'),
    putMemory: db.prepare(
      'INSERT INTO alert_memory (key, data, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at',
    ),
    dropMemory: db.prepare('DELETE FROM alert_memory WHERE key = ?'),
    silences: db.prepare('SELECT data FROM alert_silences WHERE ends_at > ? ORDER BY created_at'),
    putSilence: db.prepare('INSERT INTO alert_silences (id, data, ends_at, created_at) VALUES (?, ?, ?, ?)'),
    pruneSilences: db.prepare('DELETE FROM alert_silences WHERE ends_at <= ?'),
    enqueue: db.prepare(
      'INSERT INTO alert_outbox (dedupe, notifier, payload, digest, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe) DO NOTHING',
    ),
    pendingNotifiers: db.prepare("SELECT DISTINCT notifier FROM alert_outbox WHERE status = 'pending'"),
    pendingFor: db.prepare("SELECT * FROM alert_outbox WHERE status = 'pending' AND notifier = ? ORDER BY id LIMIT ?"),
    markDelivered: db.prepare(
      "UPDATE alert_outbox SET status = 'delivered', delivered_at = ?, batch = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
    ),
    markRetry: db.prepare('UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?'),
    markFailed: db.prepare("UPDATE alert_outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?"),
    hold: db.prepare('UPDATE alert_outbox SET next_at = ? WHERE id = ?'),
    deliveredSince: db.prepare(
      "SELECT COUNT(DISTINCT batch) AS n, MIN(delivered_at) AS first FROM alert_outbox WHERE notifier = ? AND status = 'delivered' AND delivered_at > ?",
    ),
    pruneOutbox: db.prepare("DELETE FROM alert_outbox WHERE status != 'pending' AND created_at < ?"),
    all: db.prepare('SELECT * FROM alert_outbox ORDER BY id'),
  };

  // Each key's memory as last read or written, with its JSON: evaluate() runs for every key run, and
  // the memory rarely changes, so it is read from SQLite once per key and written only when it changed.
  const memories = new Map<string, { memory: KeyMemory; json: string }>();

  return {
    loadStates(): AlertRecord[] {
      return (q.allStates.all() as { data: string }[]).map((r) => JSON.parse(r.data) as AlertRecord);
    },
    putState(r: AlertRecord, now: number): void {
      q.putState.run(r.key, r.rule, r.phase, JSON.stringify(r), now);
    },
    dropKey(key: string): void {
      memories.delete(key);
      db.transaction(() => {
        q.dropStates.run(key);
        q.dropMemory.run(key);
      })();
    },
    /** The key's memory (shared with the cache: treat it as read-only; updateMemory returns a copy). */
    getMemory(key: string): KeyMemory | undefined {
      const cached = memories.get(key);
      if (cached !== undefined) return cached.memory;
      const row = q.getMemory.get(key) as { data: string } | undefined;
      if (row === undefined) return undefined;
      const memory = JSON.parse(row.data) as KeyMemory;
      memories.set(key, { memory, json: row.data });
      return memory;
    },
    /** The JSON putMemory would write, or undefined when the stored row already holds exactly it. */
    memoryChange(key: string, m: KeyMemory): string | undefined {
      const json = JSON.stringify(m);
      return memories.get(key)?.json === json ? undefined : json;
    },
    putMemory(key: string, m: KeyMemory, now: number, json = JSON.stringify(m)): void {
      q.putMemory.run(key, json, now);
    },
    /** After the transaction that wrote it committed: this is now the stored memory. */
    memoryStored(key: string, m: KeyMemory, json: string): void {
      memories.set(key, { memory: m, json });
    },
    silences(now: number): SilenceRule[] {
      return (q.silences.all(now) as { data: string }[]).map((r) => JSON.parse(r.data) as SilenceRule);
    },
    addSilence(s: SilenceRule, now: number): void {
      q.putSilence.run(s.id, JSON.stringify(s), s.endsAt, now);
    },
    enqueue(rows: readonly NewOutboxRow[], now: number): void {
      for (const r of rows) q.enqueue.run(r.dedupe, r.notifier, JSON.stringify(r.payload), r.digest ? 1 : 0, r.nextAt, now);
    },
    pendingNotifiers(): string[] {
      return (q.pendingNotifiers.all() as { notifier: string }[]).map((r) => r.notifier);
    },
    /** The head of a notifier's queue, oldest first: delivery is strictly in order per notifier. */
    pendingFor(notifier: string, limit: number): OutboxRow[] {
      return (q.pendingFor.all(notifier, limit) as RawOutbox[]).map(toRow);
    },
    markDelivered(ids: readonly number[], now: number): void {
      db.transaction(() => {
        for (const id of ids) q.markDelivered.run(now, ids[0], id);
      })();
    },
    markRetry(ids: readonly number[], nextAt: number, error: string): void {
      db.transaction(() => {
        for (const id of ids) q.markRetry.run(nextAt, error, id);
      })();
    },
    markFailed(ids: readonly number[], error: string): void {
      db.transaction(() => {
        for (const id of ids) q.markFailed.run(error, id);
      })();
    },
    hold(id: number, until: number): void {
      q.hold.run(until, id);
    },
    /** Messages (not rows: one combined message carries several rows) sent since `since`. */
    sentSince(notifier: string, since: number): { count: number; first?: number } {
      const r = q.deliveredSince.get(notifier, since) as { n: number; first: number | null };
      return { count: r.n, ...(r.first !== null ? { first: r.first } : {}) };
    },
    prune(now: number, keepMs: number): void {
      q.pruneOutbox.run(now - keepMs);
      q.pruneSilences.run(now - keepMs);
    },
    /** Everything in the outbox, oldest first (tests, diagnostics). */
    outbox(): OutboxRow[] {
      return (q.all.all() as RawOutbox[]).map(toRow);
    },
    transaction<T>(fn: () => T): T {
      return db.transaction(fn)();
    },
  };
}

function toRow(r: RawOutbox): OutboxRow {
  return {
    id: r.id,
    dedupe: r.dedupe,
    notifier: r.notifier,
    payload: JSON.parse(r.payload) as Notification,
    digest: r.digest === 1,
    status: r.status,
    attempts: r.attempts,
    nextAt: r.next_at,
    createdAt: r.created_at,
    ...(r.delivered_at !== null ? { deliveredAt: r.delivered_at } : {}),
    ...(r.last_error !== null ? { lastError: r.last_error } : {}),
  };
}
