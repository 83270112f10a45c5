/**
 * Alerting: rules -> per-(key, rule) state machine -> routing -> durable outbox -> notifiers.
 * Each evaluation of a key is at most one SQLite transaction (state, memory, queued notifications;
 * none when nothing changed), so a restart resumes exactly where it stopped: nothing firing is forgotten or announced twice.
 * See README.md beside this file for the behaviour users can rely on.
 */
import { Counter, Gauge, type Registry } from '../prom-client.js';
import { thresholdsFor, type ResolvedConfig } from '../config/load.js';
import type { Notifier } from '../config/schema.js';
import type { KeyState } from '../state.js';
import { handleApi } from './api.js';
import { openAlertDb, type NewOutboxRow } from './db.js';
import { inactiveRecord, step, type AlertRecord, type Emission } from './machine.js';
import { alertFingerprint, type Notification } from './notification.js';
import { createOutbox, DEFAULT_RETRY, type RetryPolicy } from './outbox.js';
import { DEFAULT_SEVERITIES, emptyMemory, INHIBITED_BY_INVALID, keyInvalid, observeRule, RULES, updateMemory, type Observation, type RuleContext } from './rules.js';
import { activeSilenceFor, fromConfig, globMatch, type SilenceRule } from './silences.js';
import type { Alerting, AlertingDeps, AlertingFactory, FiringAlert, RuleName, Severity } from './types.js';

export type { Alerting, AlertingDeps, AlertingFactory } from './types.js';

/** Alertmanager drops an alert whose endsAt passed; we re-post firing alerts well before that. */
const ALERTMANAGER_MIN_VALIDITY_MS = 15 * 60_000;
const OUTBOX_KEEP_MS = 7 * 86_400_000;

export const createAlerting: AlertingFactory = (deps: AlertingDeps): Alerting => {
  const { log: rootLog } = deps;
  // The daemon hands us a logger already scoped to { component: 'alerting' }.
  const log = rootLog;
  const db = openAlertDb(deps.db);
  let config = deps.config;
  let configSilences = silencesFrom(config);
  // Thousands of keys: look them up by name, not by scanning the list on every run.
  let keysByName = new Map(config.keys.map((k) => [k.name, k]));
  const records = new Map<string, AlertRecord>();
  for (const r of db.loadStates()) records.set(id(r.key, r.rule), r);

  const counters = {
    total: counter(deps.metrics, 'keywatch_notifications_total', 'Notification delivery attempts, per notifier.'),
    failures: counter(deps.metrics, 'keywatch_notification_failures_total', 'Failed notification delivery attempts, per notifier.'),
  };
  // Every configured notifier shows 0 from the start, so rate() and dashboards see a series before the first failure.
  const zeroCounters = (c: typeof config): void => {
    for (const n of c.raw.alerting.notifiers) {
      counters.total.inc({ notifier: n.name }, 0);
      counters.failures.inc({ notifier: n.name }, 0);
    }
  };
  zeroCounters(config);
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...deps.retry };
  const outbox = createOutbox({
    db,
    notifier: (name) => config.raw.alerting.notifiers.find((n) => n.name === name),
    externalUrl: () => config.raw.server.externalUrl,
    dashboardUrl: () => config.raw.server.dashboardUrl,
    log,
    now: deps.now,
    counters,
    retry,
  });
  let lastPrune = 0;
  // What a previous process queued but did not deliver goes out now, not at the first probe run.
  outbox.kick();

  function evaluate(state: KeyState, now: number): void {
    try {
      evaluateKey(state, now);
    } catch (err) {
      // One key's alerting problem must not stop probing or other keys.
      log.error({ err, keyName: state.name }, 'alert evaluation failed');
    }
  }

  function evaluateKey(state: KeyState, now: number): void {
    const thresholds = thresholdsFor(config, keysByName.get(state.name), state.account);
    const storedMemory = db.getMemory(state.name);
    const memory = storedMemory ?? emptyMemory();
    const ctx: RuleContext = { state, thresholds, memory, now };
    const invalid = keyInvalid(state);
    // Read once, and only when some rule has a record to step (most runs step none).
    let silences: SilenceRule[] | undefined;
    const a = config.raw.alerting;
    let rows: NewOutboxRow[] | undefined;

    // Nothing is written when nothing changed (the common case: most runs change neither an alert
    // nor the memory); what changed is written in one transaction, as before.
    let changed: AlertRecord[] | undefined;
    for (const rule of RULES) {
      const rid = id(state.name, rule);
      const prev = records.get(rid);
      // The common case: a rule that never held for this key and does not hold now (nothing to step,
      // store or send; step() would leave it inactive). observeRule() then builds nothing.
      const obs = observeRule(rule, ctx, prev !== undefined);
      if (obs === undefined || (prev === undefined && obs.breach !== true)) continue;
      const severity: Severity = (a.severities[obs.rule] as Severity | undefined) ?? DEFAULT_SEVERITIES[obs.rule];
      const base: AlertRecord = {
        ...(prev ?? inactiveRecord(state.name, obs.rule, severity, state.provider)),
        severity,
        provider: state.provider,
        labels: state.labels,
      };
      const target = { key: state.name, rule: obs.rule, labels: state.labels };
      silences ??= allSilences(now);
      const muted = invalid && INHIBITED_BY_INVALID.has(obs.rule) ? 'inhibited' : activeSilenceFor(silences, target, now) ? 'silenced' : undefined;
      const { next, emit } = step(base, obs, now, { forMs: a.for, forProbes: a.forProbes, repeatMs: a.repeat, sendResolved: a.sendResolved, ...(muted ? { muted } : {}) });
      const mine = emit ? route(next, obs, emit, state, now) : next.phase === 'firing' && !muted ? refreshAlertmanager(next, obs, state, now) : [];
      if (mine.some((r) => r.payload.validForMs !== undefined)) next.refreshedAt = now;
      if (mine.length > 0) (rows ??= []).push(...mine);
      if (prev === undefined && next.phase === 'inactive') continue;
      if (prev !== undefined && !lifeChanged(prev, next)) {
        // Only what the alert shows changed (its value and summary move with every run): kept in
        // memory for /api/alerts and the next notification, not rewritten on disk every run. After a
        // restart the stored record shows the values of its last change until the key's next run.
        records.set(rid, next);
        continue;
      }
      records.set(rid, next);
      (changed ??= []).push(next);
    }
    const nextMemory = updateMemory(memory, state, now);
    // The stored memory itself back (this run changed nothing in it): its JSON is what is stored,
    // so there is nothing to compare or write.
    const memoryJson = nextMemory === storedMemory ? undefined : db.memoryChange(state.name, nextMemory);
    if (changed !== undefined || memoryJson !== undefined || rows !== undefined) {
      db.transaction(() => {
        for (const next of changed ?? []) db.putState(next, now);
        if (memoryJson !== undefined) db.putMemory(state.name, nextMemory, now, memoryJson);
        db.enqueue(rows ?? [], now);
      });
      if (memoryJson !== undefined) db.memoryStored(state.name, nextMemory, memoryJson);
    }
    if (rows !== undefined) outbox.kick();
    if (now - lastPrune > 3_600_000) {
      lastPrune = now;
      db.prune(now, OUTBOX_KEEP_MS);
    }
  }

  /** Which notifiers get this notification, as outbox rows. Alertmanager, when matched, replaces direct notifiers. */
  function route(rec: AlertRecord, obs: Observation, emit: Emission, state: KeyState, now: number): NewOutboxRow[] {
    const n = notificationOf(rec, obs, emit, state, now);
    const { direct, am } = routesFor(config.raw.alerting.notifiers, n);
    const digest = config.raw.alerting.digest;
    const rows: NewOutboxRow[] = [];
    for (const notifier of direct) {
      const inDigest = notifier.type === 'slack' && digest !== undefined && digest.rules.includes(rec.rule);
      rows.push({
        dedupe: `${notifier.name}:${n.fingerprint}:${n.status}:${n.sequence}`,
        notifier: notifier.name,
        payload: n,
        digest: inDigest,
        // Digest rows wait for the next interval boundary and go out together.
        nextAt: inDigest ? Math.ceil((now + 1) / digest.interval) * digest.interval : now,
      });
    }
    for (const notifier of am) {
      rows.push({
        dedupe: `${notifier.name}:${n.fingerprint}:${n.status}:${n.sequence}`,
        notifier: notifier.name,
        payload: { ...n, validForMs: alertmanagerValidity(state) },
        digest: false,
        nextAt: now,
      });
    }
    return rows;
  }

  /** Alertmanager forgets alerts that are not re-sent: re-post firing ones every third of their validity. */
  function refreshAlertmanager(rec: AlertRecord, obs: Observation, state: KeyState, now: number): NewOutboxRow[] {
    const validFor = alertmanagerValidity(state);
    if (rec.refreshedAt !== undefined && now - rec.refreshedAt < validFor / 3) return [];
    const n = notificationOf(rec, obs, { status: 'firing', repeat: true }, state, now);
    const { am } = routesFor(config.raw.alerting.notifiers, n);
    return am.map((notifier) => ({
      dedupe: `${notifier.name}:${n.fingerprint}:refresh:${now}`,
      notifier: notifier.name,
      payload: { ...n, validForMs: validFor },
      digest: false,
      nextAt: now,
    }));
  }

  function alertmanagerValidity(state: KeyState): number {
    const interval = keysByName.get(state.name)?.intervalMs ?? config.raw.defaults.interval;
    return Math.max(4 * interval, ALERTMANAGER_MIN_VALIDITY_MS);
  }

  // Stored silences, read once and kept until one is added or the first of them ends (evaluate()
  // runs for every key run; silences change rarely).
  let stored: { list: SilenceRule[]; until: number } | undefined;
  function allSilences(now: number): SilenceRule[] {
    if (stored === undefined || now >= stored.until) {
      const list = db.silences(now);
      stored = { list, until: Math.min(Infinity, ...list.map((s) => s.endsAt)) };
    }
    const live = stored.list;
    return configSilences.length === 0 ? live : [...configSilences.filter((s) => s.endsAt > now), ...live];
  }

  /** Firing alerts, either the announced ones (keywatch_alert_firing) or the silenced/inhibited ones. */
  function firingAlerts(muted: boolean): FiringAlert[] {
    return [...records.values()]
      .filter((r) => r.phase === 'firing' && (r.muted !== undefined) === muted)
      .map((r) => ({
        key: r.key,
        rule: r.rule,
        severity: r.severity,
        provider: r.provider,
        ...(r.value !== undefined ? { value: r.value } : {}),
        ...(r.threshold !== undefined ? { threshold: r.threshold } : {}),
        startsAt: r.startsAt ?? 0,
        summary: r.summary,
        ...(r.muted ? { muted: r.muted } : {}),
      }));
  }

  // Muted alerts leave keywatch_alert_firing (nobody is told about them) but stay visible here.
  mutedGauge(deps.metrics, () => firingAlerts(true));

  return {
    evaluate,
    forget(key) {
      for (const k of [...records.keys()]) if (records.get(k)!.key === key) records.delete(k);
      db.dropKey(key);
    },
    firing: () => firingAlerts(false),
    muted: () => firingAlerts(true),
    handle(req, res, url) {
      return handleApi(req, res, url, {
        alerts: () => [...records.values()],
        silences: (now) => allSilences(now).filter((s) => s.endsAt > now),
        addSilence: (s, now) => {
          db.addSilence(s, now);
          stored = undefined;
        },
        now: deps.now,
      });
    },
    reload(next) {
      config = next;
      configSilences = silencesFrom(next);
      keysByName = new Map(next.keys.map((k) => [k.name, k]));
      zeroCounters(next);
      outbox.kick();
    },
    flush: (timeoutMs) => outbox.flush(timeoutMs),
    stop: () => outbox.stop(),
    outbox: () => db.outbox(),
  };
};

function notificationOf(rec: AlertRecord, obs: Observation, emit: Emission, state: KeyState, now: number): Notification {
  const runway = state.analysis?.exhaustion.seconds;
  return {
    status: emit.status,
    rule: rec.rule,
    severity: rec.severity,
    key: rec.key,
    provider: rec.provider,
    labels: rec.labels,
    ...(rec.value !== undefined ? { value: rec.value } : {}),
    ...(rec.threshold !== undefined ? { threshold: rec.threshold } : {}),
    unit: obs.unit,
    ...(obs.currency !== undefined ? { currency: obs.currency } : {}),
    summary: rec.summary,
    startsAt: rec.startsAt ?? now,
    ...(emit.status === 'resolved' ? { endsAt: rec.endsAt ?? now } : {}),
    fingerprint: alertFingerprint(rec.key, rec.rule),
    sequence: rec.seq,
    repeat: emit.repeat,
    keyFingerprint: state.fingerprint,
    ...(runway !== undefined && Number.isFinite(runway) ? { runwaySeconds: Math.round(runway) } : {}),
  };
}

export function routesFor(notifiers: readonly Notifier[], n: Pick<Notification, 'severity' | 'key' | 'rule' | 'labels'>): { direct: Notifier[]; am: Notifier[] } {
  const matching = notifiers.filter((x) => matchesRoute(x, n));
  const am = matching.filter((x) => x.type === 'alertmanager');
  // Routed to Alertmanager: it does the paging; we do not also notify directly.
  const direct = am.length > 0 ? [] : matching.filter((x) => x.type !== 'alertmanager');
  return { direct, am };
}

function matchesRoute(x: Notifier, n: Pick<Notification, 'severity' | 'key' | 'rule' | 'labels'>): boolean {
  const m = x.match;
  if (!m) return true;
  if (m.severity && m.severity.length > 0 && !m.severity.includes(n.severity)) return false;
  if (m.keys && m.keys.length > 0 && !m.keys.some((k) => globMatch(k, n.key))) return false;
  if (m.rules && m.rules.length > 0 && !(m.rules as readonly string[]).includes(n.rule)) return false;
  for (const [k, v] of Object.entries(m.labels ?? {})) if (n.labels[k] !== v) return false;
  return true;
}

function silencesFrom(config: ResolvedConfig): SilenceRule[] {
  return config.raw.alerting.silences.map(fromConfig);
}

function counter(registry: Registry, name: string, help: string): Counter<'notifier'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'notifier'>;
  return new Counter({ name, help, labelNames: ['notifier'], registers: [registry] });
}

function mutedGauge(registry: Registry, muted: () => FiringAlert[]): void {
  const name = 'keywatch_alert_muted';
  // A new alerting instance on the same registry (tests, restarts in-process) reads its own records.
  if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  new Gauge({
    name,
    help: '1 while the alert rule holds for the key but is not announced: silenced, or inhibited because the key is invalid.',
    labelNames: ['key', 'rule', 'severity', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of muted()) this.set({ key: a.key, rule: a.rule, severity: a.severity, reason: a.muted ?? 'silenced' }, 1);
    },
  });
}

function id(key: string, rule: RuleName | string): string {
  return `${key}\u0000${rule}`;
}

/**
 * Whether an alert's life changed: what a restart must know to neither forget a firing alert nor
 * announce it twice (phase, timing, counters, routing). The display fields (value, threshold, unit,
 * currency, summary) are not part of it: they follow every run.
 */
export function lifeChanged(a: AlertRecord, b: AlertRecord): boolean {
  return (
    a.phase !== b.phase ||
    a.activeSince !== b.activeSince ||
    a.heldRuns !== b.heldRuns ||
    a.startsAt !== b.startsAt ||
    a.endsAt !== b.endsAt ||
    a.announced !== b.announced ||
    a.lastNotifiedAt !== b.lastNotifiedAt ||
    a.seq !== b.seq ||
    a.severity !== b.severity ||
    a.provider !== b.provider ||
    a.refreshedAt !== b.refreshedAt ||
    a.muted !== b.muted ||
    a.key !== b.key ||
    a.rule !== b.rule ||
    !sameLabels(a.labels, b.labels)
  );
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}
