/** The seam between the daemon and alerting: the daemon calls these; alerting owns its tables. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Database } from 'better-sqlite3';
import type { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config/load.js';
import type { RULE_NAMES } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { KeyState } from '../state.js';

/** The rule names: one list, the config's enum (src/config/schema.ts RULE_NAMES). */
export type RuleName = (typeof RULE_NAMES)[number];

export type Severity = 'critical' | 'warning' | 'info';

export interface FiringAlert {
  key: string;
  rule: RuleName;
  severity: Severity;
  provider: string;
  value?: number | string;
  threshold?: number | string;
  startsAt: number;
  summary: string;
  /** Firing but not announced: silenced, or inhibited (the key is invalid). */
  muted?: 'silenced' | 'inhibited';
}

export interface Alerting {
  /** After each probe run (and analysis) of a key. */
  evaluate(state: KeyState, now: number): void;
  /** The key left the config: resolve its alerts quietly and drop its state. */
  forget(key: string): void;
  /** Firing and announced (not silenced or inhibited): keywatch_alert_firing. */
  firing(): FiringAlert[];
  /** Firing but silenced or inhibited (keywatch_alert_muted, registered by alerting itself). */
  muted?(): FiringAlert[];
  /** Serves /api/alerts and /api/silences; resolves true when it handled the request. Auth is the server's. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** A new config was loaded (thresholds, notifiers, silences). */
  reload(config: ResolvedConfig): void;
  /** Try to deliver what is queued, for at most timeoutMs. */
  flush(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
  /** The durable outbox, oldest first (diagnostics and tests). */
  outbox?(): import('./db.js').OutboxRow[];
}

export interface AlertingDeps {
  db: Database;
  /** Register notification counters here (keywatch_notifications_total, ..._failures_total). */
  metrics: Registry;
  config: ResolvedConfig;
  log: Logger;
  now: () => number;
  /** Outbox retry policy (tests shorten it); defaults: 1s doubling to 5m, give up after 24h. */
  retry?: Partial<import('./outbox.js').RetryPolicy>;
}

export type AlertingFactory = (deps: AlertingDeps) => Alerting;
