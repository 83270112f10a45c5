/**
 * The durable outbox worker. Every notification is a row before anything is sent; this worker
 * delivers rows with retries and backoff (honouring Retry-After), and marks them delivered in
 * the same synchronous step that sees the 2xx. A crash between the 2xx and that mark is the only
 * way a message goes out twice (at-least-once); receivers can de-duplicate on X-Keywatch-Delivery.
 *
 * Order: per notifier and per alert, rows go out in the order they were queued (a resolved never
 * overtakes its firing); different alerts do not wait for each other.
 */
import type { Counter } from 'prom-client';
import type { Notifier } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { AlertDb, OutboxRow } from './db.js';
import { send, type SendResult } from './send.js';

export interface RetryPolicy {
  /** First retry after this long; doubles per attempt. */
  baseMs: number;
  maxMs: number;
  /** A row still undelivered this long after it was queued is given up (status failed). */
  giveUpAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, maxMs: 5 * 60_000, giveUpAfterMs: 24 * 3_600_000 };

/** Slack messages carry at most this many notifications (well inside its 50-block limit). */
const SLACK_BATCH = 20;
const ALERTMANAGER_BATCH = 64;
const SCAN = 200;

export interface OutboxDeps {
  db: AlertDb;
  notifier: (name: string) => Notifier | undefined;
  externalUrl: () => string | undefined;
  /** server.dashboardUrl (read at each send, so a reload changes it). */
  dashboardUrl?: () => string | undefined;
  log: Logger;
  now: () => number;
  counters: { total: Counter<'notifier'>; failures: Counter<'notifier'> };
  retry: RetryPolicy;
  sendTimeoutMs?: number;
}

export interface Outbox {
  /** Something was queued: deliver now (in the background). */
  kick(): void;
  /** Deliver what is due and wait for what becomes due, for at most timeoutMs of real time. */
  flush(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export function createOutbox(deps: OutboxDeps): Outbox {
  const { db, log } = deps;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const run = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await Promise.all(db.pendingNotifiers().map((name) => drain(name)));
      } while (again && !stopped);
    })()
      .catch((err: unknown) => log.error({ err }, 'outbox worker failed'))
      .finally(() => {
        running = undefined;
        schedule();
      });
    return running;
  };

  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (stopped) return;
    const next = nextWake();
    if (next === undefined) return;
    const delay = Math.min(Math.max(next - deps.now(), 50), 30_000);
    timer = setTimeout(() => void run(), delay);
    timer.unref();
  };

  /** When the next row can go: for each alert, its first queued row decides. */
  function nextWake(): number | undefined {
    let min: number | undefined;
    for (const name of db.pendingNotifiers()) {
      const seen = new Set<string>();
      for (const r of db.pendingFor(name, SCAN)) {
        if (seen.has(r.payload.fingerprint)) continue;
        seen.add(r.payload.fingerprint);
        if (min === undefined || r.nextAt < min) min = r.nextAt;
      }
    }
    return min;
  }

  async function drain(name: string): Promise<void> {
    while (!stopped) {
      const now = deps.now();
      const eligible = eligibleRows(db.pendingFor(name, SCAN), now);
      if (eligible.length === 0) return;
      const notifier = deps.notifier(name);
      if (notifier === undefined) {
        db.markFailed(eligible.map((r) => r.id), 'notifier no longer configured');
        log.warn({ notifier: name, dropped: eligible.length }, 'notifications dropped: notifier removed from config');
        continue;
      }
      if (notifier.type !== 'alertmanager' && notifier.rateLimit) {
        const { max, per } = notifier.rateLimit;
        const sent = db.sentSince(name, now - per);
        if (sent.count >= max) {
          // Held, not dropped: when the window frees, Slack gets them as one combined message.
          const until = (sent.first ?? now) + per + 1;
          for (const r of eligible) db.hold(r.id, until);
          log.info({ notifier: name, held: eligible.length, until }, 'notifier rate limit reached; holding notifications');
          return;
        }
      }
      const size = notifier.type === 'slack' ? SLACK_BATCH : notifier.type === 'alertmanager' ? ALERTMANAGER_BATCH : 1;
      const batch = eligible.slice(0, size);
      const digest = batch.some((r) => r.digest);
      const result = await send(
        notifier,
        batch.map((r) => r.payload),
        {
          ...(deps.externalUrl() !== undefined ? { externalUrl: deps.externalUrl()! } : {}),
          ...(deps.dashboardUrl?.() !== undefined ? { dashboardUrl: deps.dashboardUrl()! } : {}),
          ...(digest && batch.length > 1 ? { title: `keywatch digest: ${batch.length} notifications` } : {}),
          ...(deps.sendTimeoutMs !== undefined ? { timeoutMs: deps.sendTimeoutMs } : {}),
          now: deps.now(),
        },
      );
      settle(name, batch, result);
    }
  }

  function settle(name: string, batch: OutboxRow[], result: SendResult): void {
    const ids = batch.map((r) => r.id);
    deps.counters.total.inc({ notifier: name });
    if (result.ok) {
      db.markDelivered(ids, deps.now());
      log.info({ notifier: name, notifications: batch.map(describe) }, 'notification delivered');
      return;
    }
    deps.counters.failures.inc({ notifier: name });
    const now = deps.now();
    const head = batch[0]!;
    const attempts = head.attempts + 1;
    const fields = { notifier: name, status: result.status, error: result.error, attempts, notifications: batch.map(describe) };
    if (result.permanent || now - head.createdAt >= deps.retry.giveUpAfterMs) {
      db.markFailed(ids, result.error ?? 'failed');
      log.error(fields, 'notification delivery failed; giving up');
      return;
    }
    const backoff = Math.min(deps.retry.maxMs, deps.retry.baseMs * 2 ** (attempts - 1));
    const delay = result.retryAfterMs ?? backoff;
    db.markRetry(ids, now + delay, result.error ?? 'failed');
    log.warn({ ...fields, retryInMs: delay }, 'notification delivery failed; will retry');
  }

  return {
    kick: () => void run(),
    async flush(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await run();
        const next = nextWake();
        if (next === undefined || stopped) return;
        const wait = Math.max(next - deps.now(), 10);
        if (Date.now() + wait > deadline) return;
        await new Promise((r) => setTimeout(r, wait));
      }
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (running) await Promise.race([running, new Promise((r) => setTimeout(r, 5000).unref())]);
    },
  };
}

/**
 * Due rows that may go now: a row waits while an earlier row of the same alert is still queued,
 * so one alert's notifications keep their order while other alerts flow past a stuck one.
 */
function eligibleRows(rows: readonly OutboxRow[], now: number): OutboxRow[] {
  const blocked = new Set<string>();
  const out: OutboxRow[] = [];
  for (const r of rows) {
    const fp = r.payload.fingerprint;
    if (blocked.has(fp)) continue;
    if (r.nextAt > now) {
      blocked.add(fp);
      continue;
    }
    out.push(r);
    // Only one row per alert per message, so a firing and its resolved never share a batch out of order.
    blocked.add(fp);
  }
  return out;
}

function describe(r: OutboxRow): Record<string, unknown> {
  return { alertKey: r.payload.key, rule: r.payload.rule, status: r.payload.status, sequence: r.payload.sequence };
}
