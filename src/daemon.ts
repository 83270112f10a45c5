/**
 * The daemon's wiring: config -> scheduler -> runner -> state -> store, analysis, alerting ->
 * metrics and HTTP. Hot reload (SIGHUP, POST /-/reload, a debounced watch on the config file)
 * applies a new config without a restart and keeps the old one when the new one is bad. Graceful
 * shutdown stops scheduling, waits for runs in flight (bounded), flushes alerting and the store.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Alerting, AlertingFactory } from './alerting/types.js';
import type { Analyze, AnalyzeInput, HistoryFigures, KeyAnalysis, SplitAnalyze } from './analysis/types.js';
import { FAR_LIFETIME_MS, type FarFigures } from './analysis/index.js';
import { loadConfigFile, thresholdsFor, type ResolvedAccount, type ResolvedConfig, type ResolvedKey } from './config/load.js';
import { cronProblem } from './config/schema.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { HttpClient } from './http/client.js';
import { Agent } from './http/undici.js';
import { silentLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { ProviderRegistry } from './provider.js';
import { gcMode } from './runtime.js';
import { mergeFactsShared, runAccount, runKey, runRecordOf, type Identify, type RunResult } from './runner.js';
import { createScheduler, type Job, type JobOutcome, type Scheduler } from './scheduler.js';
import { startServer, type KeywatchServer } from './server.js';
import { ownsKey, type Shard } from './shard.js';
import { updateInPlace } from './steady.js';
import { withoutFacts, type KeyState } from './state.js';
import { openStore, HOUR_MS, type HistoryOptions, type Store, type StoreOptions } from './store/index.js';
import { pruneInSteps } from './store/prune.js';
import type { ProbeKind } from '../probes/types.js';

export interface DaemonOptions {
  /** The config file (reloadable); or `config` for an in-memory one. */
  configFile?: string;
  config?: ResolvedConfig;
  env?: NodeJS.ProcessEnv;
  registry: ProviderRegistry;
  log?: Logger;
  now?: () => number;
  identify?: Identify;
  /** analyzeKey; a SplitAnalyze lets the daemon keep each key's history figures for defaults.analysisInterval. */
  analyze?: Analyze | SplitAnalyze;
  alerting?: AlertingFactory;
  /** Overrides server.listen (tests: `127.0.0.1:0`). */
  listen?: string;
  /** Overrides storage.path. */
  storePath?: string;
  store?: StoreOptions;
  /** Overrides config `shard`. */
  shard?: Shard;
  /** Start the timer-driven schedule (default true). Tests that drive runs with runOnce() pass false. */
  schedule?: boolean;
  /** SIGHUP reloads, SIGTERM/SIGINT stop (default false: the CLI turns it on). */
  handleSignals?: boolean;
  /** Reload when the config file changes (default true with configFile). */
  watchConfig?: boolean;
  /** Delay of the start-up retention pass after the first /metrics render (default 10 s; tests: 0). */
  maintenanceStartDelayMs?: number;
  /** How long shutdown waits for runs in flight (default 10 s). */
  shutdownTimeoutMs?: number;
  http?: HttpClient;
  /** [0, 1): spreads when each key's history figures are first read again (default Math.random; tests: fixed). */
  random?: () => number;
  /**
   * Opens the store (default openStore) and makes the metrics (default createMetrics): the bench
   * wraps them to price what a key run's store writes and `/metrics` lines cost (bench/wiring.ts).
   */
  openStore?: typeof openStore;
  createMetrics?: typeof createMetrics;
}

export interface ReloadResult {
  ok: boolean;
  issues?: ConfigIssue[];
}

export interface Daemon {
  url: string;
  /** Live state per key name. */
  readonly states: ReadonlyMap<string, KeyState>;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly scheduler: Scheduler;
  config(): ResolvedConfig;
  /**
   * The key's analysis as its last run judged it. The live states do not hold it (see apply1): it is
   * judged again, the same, from the figures the run used; a state loaded from the store carries
   * its own until the key runs.
   */
  analysis(name: string): KeyAnalysis | undefined;
  /** Runs every key (and account) now; resolves when all finished and their state is applied. */
  runOnce(): Promise<void>;
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
  /** Resolves once stop() has finished (whoever called it: a signal or the owner). */
  readonly stopped: Promise<void>;
  /** Resolves once start-up is over: listening and the first /metrics rendered. */
  readonly started: Promise<void>;
}

/** History handed to analysis: enough for the 7-day burn window and the stability window. */
const ANALYSIS_HISTORY_MS = 7 * 24 * HOUR_MS;
/** A key whose spending drifted from its figures is read again at most this many times an analysisInterval. */
const DRIFT_READS = 3;
const MAINTENANCE_EVERY_MS = HOUR_MS;
const WATCH_DEBOUNCE_MS = 300;
/**
 * The scheduler's timer slack: keys due within 100 ms start together, one wake-up for ~17 of them at
 * 10,000 keys every 60 s instead of one each (their requests then share the loop's turns too).
 * A key starts at most 100 ms after it was due; probing runs on a 60 s scale.
 */
export const TICK_MS = 100;
/** After start-up (listening, first /metrics rendered), before the first retention pass. */
const MAINTENANCE_START_DELAY_MS = 10_000;

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const log = (opts.log ?? silentLogger()).child({ component: 'daemon' });
  const now = opts.now ?? Date.now;
  const registry = opts.registry;
  const providerIds = [...registry.keys()];
  const load = (): ResolvedConfig => {
    if (opts.configFile === undefined) throw new Error('no config file to reload');
    return loadConfigFile(opts.configFile, { ...(opts.env !== undefined ? { env: opts.env } : {}), providers: providerIds });
  };
  let cfg: ResolvedConfig = opts.config ?? load();
  const startIssues = preflight(cfg);
  if (startIssues.length > 0) throw new ConfigError(startIssues, opts.configFile);
  const shard = (c: ResolvedConfig = cfg): Shard | undefined => opts.shard ?? c.raw.shard;

  const store = (opts.openStore ?? openStore)(opts.storePath ?? cfg.raw.storage.path, {
    log,
    stateSaveIntervalMs: cfg.raw.storage.stateSaveInterval,
    // A state written later than its run (held back by stateSaveInterval) is written with its analysis.
    analysisOf: (state) => analysisOf(state),
    // The daemon is its store's only writer: rollups of the hour in progress stay in memory.
    rollupsAtHourEnd: true,
    ...opts.store,
  });
  // Our own pool, so shutdown can abort requests still hanging after the drain bound
  // (HttpClient.close() would wait for them).
  const agent = opts.http === undefined ? new Agent({ connections: 16, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 }) : undefined;
  const http = opts.http ?? new HttpClient({ defaultTimeoutMs: cfg.raw.defaults.timeout, dispatcher: agent! });
  const states = new Map<string, KeyState>();
  /** Per key, the history figures its analysis last read (kept for defaults.analysisInterval). */
  const figures = new Map<string, HistoryFigures>();
  /** Figures a reload made stale: read again at the key's next run. */
  const staleFigures = new WeakSet<HistoryFigures>();
  /** Per key, the part of its week of history before the last 25 hours (see readFigures). */
  const farFigures = new Map<string, FarFigures>();
  /**
   * When each key's figures are next read again. A key's first figures in this process live a random
   * part of analysisInterval, later ones all of it: each key keeps its own phase. Without that, every
   * key read its history again in the same minute (its first run after start-up + analysisInterval),
   * at 10,000 keys ~166 reads a second for one minute in five.
   */
  const figuresDue = new Map<string, number>();
  const random = opts.random ?? Math.random;
  /** Discovered key names per account, so a key gone from the listing goes from the daemon too. */
  const discovered = new Map<string, Set<string>>();
  let alerting: Alerting | undefined;
  let closed = false;

  const metrics: Metrics = (opts.createMetrics ?? createMetrics)({ states: () => states.values(), analysis: (s) => analysisOf(s), firing: () => alerting?.firing() ?? [], now });
  metrics.setReloadResult(true, now());

  // A restarted daemon serves the last known state at once, before any probe completes.
  const saved = store.loadStates();
  for (const [name, state] of saved) {
    if (state.account !== undefined) {
      if (!cfg.accounts.some((a) => a.name === state.account)) continue;
      let names = discovered.get(state.account);
      if (names === undefined) discovered.set(state.account, (names = new Set()));
      names.add(name);
      states.set(name, state);
    }
  }
  syncStaticStates(saved);

  if (opts.alerting !== undefined) {
    alerting = opts.alerting({ db: store.db, metrics: metrics.registry, config: cfg, log: log.child({ component: 'alerting' }), now });
  }

  const scheduler: Scheduler = createScheduler({
    now,
    jitter: cfg.raw.defaults.jitter,
    tickMs: TICK_MS,
    limits: limitsFor(cfg),
    log: log.child({ component: 'scheduler' }),
  });
  scheduler.set(jobsFor(cfg));
  if (opts.schedule !== false) scheduler.start();

  const server: KeywatchServer = await startServer(opts.listen ?? cfg.raw.server.listen, {
    metrics,
    states: () => states.values(),
    state: (name) => states.get(name),
    describe: (name) => {
      const due = scheduler.nextDue(name);
      const analysis = analysisByName(name);
      return { ...(due === undefined ? {} : { nextRunAt: due }), ...(analysis !== undefined ? { analysis } : {}) };
    },
    ready: () => {
      const checks = { config: true, store: !closed, scheduler: scheduler.running || opts.schedule === false };
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    reload: () => reload(),
    auth: () => ({ ...(cfg.raw.server.token !== undefined ? { token: cfg.raw.server.token } : {}), metricsAuth: cfg.raw.server.metricsAuth }),
    ...(alerting !== undefined ? { handle: (req, res, url) => alerting!.handle(req, res, url) } : {}),
    log: log.child({ component: 'server' }),
  });
  log.info({ url: server.url, keys: states.size, store: store.path, gc: gcMode() }, 'keywatch started');

  // The first /metrics render is the slowest one (every key's lines, in a cold process: ~0.3-0.6 s
  // for 10,000 keys): render every key's lines now, so the first scrape only copies them.
  const warmed = new Promise<void>((r) => setImmediate(r))
    .then(() => (closed ? undefined : metrics.prepareAll()))
    .then(
      () => undefined,
      (err: unknown) => log.warn({ err }, 'metrics pre-render failed'),
    );

  // Retention: once at start (a daemon that was down has old rows to drop), then hourly. Rollups
  // are kept current as runs are recorded, so this only deletes, in steps timed and sized to hold
  // the event loop ~20 ms each (store/prune.ts), with it free between them (probes and scrapes go
  // on). The start-up pass begins once the server is listening and the first /metrics is rendered,
  // plus MAINTENANCE_START_DELAY_MS: scrapes right after a restart (answered from the loaded
  // states) should not queue behind it.
  let pruning: Promise<void> | undefined;
  let stopRequested = false;
  const maintain = (): Promise<void> =>
    (pruning ??= (async () => {
      try {
        const { storage } = cfg.raw;
        const r = await pruneInSteps(store, { now, rawRetentionMs: storage.rawRetention, retentionMs: storage.retention, stopped: () => closed || stopRequested });
        if (r.deleted > 0) log.info({ deleted: r.deleted, steps: r.steps, maxStepMs: Math.round(r.maxStepMs) }, 'store pruned');
      } catch (err) {
        log.error({ err }, 'store maintenance failed');
      } finally {
        pruning = undefined;
      }
    })());
  let firstMaintenance: NodeJS.Timeout | undefined;
  void warmed.then(() => {
    if (closed || stopRequested) return;
    firstMaintenance = setTimeout(() => void maintain(), opts.maintenanceStartDelayMs ?? MAINTENANCE_START_DELAY_MS);
    firstMaintenance.unref();
  });
  const maintenance = setInterval(() => void maintain(), MAINTENANCE_EVERY_MS);
  maintenance.unref();

  // ---- reload -------------------------------------------------------------------------------
  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: true });
  let lastText = configText();

  function reload(): Promise<ReloadResult> {
    reloading = reloading.then(doReload, doReload);
    return reloading;
  }

  async function doReload(): Promise<ReloadResult> {
    if (closed) return { ok: false, issues: [{ path: '', message: 'daemon is stopping' }] };
    if (opts.configFile === undefined) return { ok: true };
    let next: ResolvedConfig;
    try {
      lastText = configText();
      next = load();
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [{ path: '', message: 'config could not be loaded' }];
      for (const issue of issues) log.error({ file: opts.configFile, path: issue.path, issue: issue.message }, 'config reload rejected');
      metrics.setReloadResult(false, now());
      return { ok: false, issues };
    }
    // Whatever the scheduler would refuse is found before anything is swapped: the old config keeps running.
    const refused = preflight(next);
    if (refused.length > 0) {
      for (const issue of refused) log.error({ file: opts.configFile, path: issue.path, issue: issue.message }, 'config reload rejected');
      metrics.setReloadResult(false, now());
      return { ok: false, issues: refused };
    }
    try {
      apply(next);
    } catch (err) {
      log.error({ err, file: opts.configFile }, 'config reload failed while applying');
      metrics.setReloadResult(false, now());
      return { ok: false, issues: [{ path: '', message: 'config could not be applied (see the log)' }] };
    }
    metrics.setReloadResult(true, now());
    // Windows, thresholds or keys may have changed: every key's next run reads its history again.
    // The figures stay until then: the keys' analysis is judged from them (analysisOf).
    for (const f of figures.values()) staleFigures.add(f);
    farFigures.clear();
    log.info({ keys: next.keys.length, accounts: next.accounts.length }, 'config reloaded');
    return { ok: true };
  }

  /**
   * Timing the scheduler cannot run (an interval of 0, a pattern croner refuses). The loader reports
   * these too; this keeps a config that slipped past it from being half-applied.
   */
  function preflight(next: ResolvedConfig): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    // Each pattern is checked once, and a key's index is looked up only for an issue: with 10,000
    // keys, finding every key's index up front was 50 million comparisons at start-up.
    const problems = new Map<string, string | undefined>();
    const problemOf = (schedule: string): string | undefined => {
      if (!problems.has(schedule)) problems.set(schedule, cronProblem(schedule));
      return problems.get(schedule);
    };
    const check = (path: () => string, t: { intervalMs: number; schedule?: string }) => {
      if (!(Number.isFinite(t.intervalMs) && t.intervalMs > 0)) issues.push({ path: `${path()}.interval`, message: 'must be more than 0' });
      const problem = t.schedule !== undefined ? problemOf(t.schedule) : undefined;
      if (problem !== undefined) issues.push({ path: `${path()}.schedule`, message: problem });
    };
    for (const k of next.keys) check(() => `keys[${next.raw.keys.findIndex((r) => r.name === k.name)}]`, k);
    next.accounts.forEach((a, i) => check(() => `accounts[${i}]`, a));
    return issues;
  }

  function apply(next: ResolvedConfig): void {
    const before = cfg;
    // Built and handed over before the swap: if the scheduler refuses them, nothing has changed yet.
    scheduler.set(jobsFor(next));
    cfg = next;
    try {
      if (next.raw.server.listen !== before.raw.server.listen && opts.listen === undefined) {
        log.warn({ listen: next.raw.server.listen }, 'server.listen changed: takes effect after a restart');
      }
      if (next.raw.storage.path !== before.raw.storage.path && opts.storePath === undefined) {
        log.warn('storage.path changed: takes effect after a restart');
      }
      // Accounts that went away take their discovered keys with them.
      for (const [account, names] of discovered) {
        if (next.accounts.some((a) => a.name === account && ownsKey(a.name, shard()))) continue;
        for (const name of names) dropKey(name);
        discovered.delete(account);
      }
      syncStaticStates(new Map());
      scheduler.setLimits(limitsFor(next));
      alerting?.reload(next);
    } catch (err) {
      // Half a config must not run: the old one goes back (its jobs were valid), the caller reports the failure.
      cfg = before;
      scheduler.set(jobsFor(before));
      scheduler.setLimits(limitsFor(before));
      throw err;
    } finally {
      metrics.invalidate();
    }
  }

  /** Static keys: states for new keys, meta (labels, watchModels) refreshed, removed keys dropped. */
  function syncStaticStates(saved: ReadonlyMap<string, KeyState>): void {
    const wanted = new Map(ownedKeys(cfg).map((k) => [k.name, k]));
    for (const [name, state] of states) {
      if (state.account === undefined && !wanted.has(name)) dropKey(name);
    }
    for (const k of wanted.values()) {
      const fingerprint = k.key.fingerprint();
      const existing = states.get(k.name) ?? saved.get(k.name);
      // A rotated secret is another key: its old facts are not this one's.
      const base = existing !== undefined && existing.fingerprint === fingerprint && existing.account === undefined ? existing : undefined;
      states.set(k.name, {
        ...(base ?? emptyState(k.name, k.provider)),
        name: k.name,
        claimedProvider: k.provider,
        labels: k.labels,
        watchModels: k.watchModels,
        fingerprint,
        masked: k.key.masked(),
      });
    }
  }

  function dropKey(name: string): void {
    states.delete(name);
    figures.delete(name);
    figuresDue.delete(name);
    farFigures.delete(name);
    store.forgetState(name);
    alerting?.forget(name);
  }

  // ---- runs ---------------------------------------------------------------------------------
  function jobsFor(c: ResolvedConfig): Job[] {
    const jobs: Job[] = ownedKeys(c).map((k) => {
      const last = states.get(k.name);
      const provider = k.provider === 'auto' && last !== undefined && last.provider !== 'auto' ? last.provider : k.provider;
      return {
        id: k.name,
        provider,
        intervalMs: k.intervalMs,
        ...(k.schedule !== undefined ? { schedule: k.schedule } : {}),
        ...(last?.lastRunAt !== undefined ? { lastRunAt: last.lastRunAt } : {}),
        run: ({ acquire }) => runStatic(k, acquire),
      };
    });
    for (const a of c.accounts) {
      if (!ownsKey(a.name, shard(c))) continue;
      jobs.push({
        id: `account:${a.name}`,
        provider: a.provider,
        intervalMs: a.intervalMs,
        ...(a.schedule !== undefined ? { schedule: a.schedule } : {}),
        run: ({ acquire }) => runDiscovery(a, acquire),
      });
    }
    return jobs;
  }

  function ownedKeys(c: ResolvedConfig): ResolvedKey[] {
    return c.keys.filter((k) => ownsKey(k.name, shard(c)));
  }

  async function runStatic(k: ResolvedKey, acquire: () => Promise<void>): Promise<JobOutcome> {
    const previous = states.get(k.name);
    const result = await runKey(
      { key: k, ...(previous !== undefined ? { previous } : {}) },
      { registry, http, now, acquire, ...(opts.identify !== undefined ? { identify: opts.identify } : {}) },
    );
    // The key may have been removed or rotated by a reload while it ran: drop a stale result.
    const current = keysByName(cfg).get(k.name);
    if (current === undefined || !current.key.equals(k.key)) return outcomeOf(result);
    apply1(result, { labels: current.labels, watchModels: current.watchModels, thresholds: current.thresholds });
    return outcomeOf(result);
  }

  async function runDiscovery(a: ResolvedAccount, acquire: () => Promise<void>): Promise<JobOutcome> {
    const r = await runAccount(a, { registry, http, now, acquire });
    const current = cfg.accounts.find((x) => x.name === a.name);
    if (current === undefined || closed) return { failed: !r.outcome.ok };
    if (r.keys === undefined) {
      log.warn({ account: a.name, kind: r.outcome.errorKind, status: r.outcome.status }, 'fleet discovery failed');
      return { failed: true, ...(r.outcome.retryAfterMs !== undefined ? { retryAfterMs: r.outcome.retryAfterMs } : {}) };
    }
    const staticNames = keysByName(cfg);
    const seen = new Set<string>();
    for (const result of r.keys) {
      if (staticNames.has(result.key)) continue; // a configured key of the same name wins
      seen.add(result.key);
      const prev = states.get(result.key);
      if (prev === undefined || prev.account !== a.name) {
        states.set(result.key, {
          ...emptyState(result.key, a.provider),
          account: a.name,
          fingerprint: (result.discoveredId ?? '').slice(0, 8),
          masked: maskedLabel(result.facts.label),
        });
      }
      apply1(result, { labels: current.labels, watchModels: current.watchModels, thresholds: current.thresholds });
    }
    for (const name of discovered.get(a.name) ?? []) if (!seen.has(name)) dropKey(name);
    discovered.set(a.name, seen);
    return { failed: false };
  }

  /**
   * The key's analysis after a run. With a SplitAnalyze, the history figures (history read from the
   * store, see readFigures: most of the cost) are kept per key for defaults.analysisInterval and
   * recomputed at once when the run says they moved (see figuresMoved; a run written into the state
   * in place moved nothing by construction, see src/steady.ts); the live state is judged against
   * them on every run.
   */
  function analyse(analyze: Analyze | SplitAnalyze, prev: KeyState, state: KeyState, result: RunResult, thresholds: ResolvedKey['thresholds'], t: number): KeyAnalysis {
    const d = cfg.raw.defaults;
    const input = judgeInput(state, t, thresholds);
    if (!('figures' in analyze) || d.analysisInterval <= 0) return analyze({ ...input, history: store.history(result.key, t - Math.max(ANALYSIS_HISTORY_MS, d.stabilityWindow), { cleanHourAsRollupAt: t }) });
    let f = figures.get(result.key);
    if (f === undefined || t >= figuresDue.get(result.key)! || t < f.at || staleFigures.has(f) || (prev !== state && figuresMoved(prev, state, result)) || drifted(analyze, f, state, t)) {
      const lifetime = f === undefined ? d.analysisInterval * (1 - random()) : d.analysisInterval;
      f = readFigures(analyze, result.key, state, t);
      figures.set(result.key, f);
      figuresDue.set(result.key, t + lifetime);
    }
    return analyze.judge(input, f);
  }

  /**
   * Whether a key's figures are read again before analysisInterval ends because it spent otherwise
   * than they say (SplitAnalyze.drifted): no sooner than a third of the interval after they were
   * read, so a key whose spending changed is read about as often as a steady one was with a third of
   * the interval, and a steady key once an interval.
   */
  function drifted(analyze: SplitAnalyze, f: HistoryFigures, state: KeyState, t: number): boolean {
    return analyze.drifted !== undefined && t - f.at >= cfg.raw.defaults.analysisInterval / DRIFT_READS && analyze.drifted(f, state);
  }

  /**
   * A key's history figures at `t`: from the last 25 hours read again and the week before them kept
   * (farFigures, read whole at most every FAR_LIFETIME_MS), else from the whole week read now.
   */
  function readFigures(analyze: SplitAnalyze, key: string, state: KeyState, t: number): HistoryFigures {
    const stabilityWindowMs = cfg.raw.defaults.stabilityWindow;
    // A clean current hour as its rollup, from memory: the same figures, no raw runs out of SQLite (HistoryOptions).
    const read: HistoryOptions = { cleanHourAsRollupAt: t };
    const kept = farFigures.get(key);
    if (kept !== undefined && analyze.near !== undefined && analyze.farServes?.(kept, { state, now: t, stabilityWindowMs }) === true) {
      const f = analyze.near({ state, history: store.history(key, kept.burn.cut, read), now: t, stabilityWindowMs }, kept);
      if (f !== undefined) return f;
    }
    const input = { state, history: store.history(key, t - Math.max(ANALYSIS_HISTORY_MS, stabilityWindowMs), read), now: t, stabilityWindowMs };
    // As with figuresDue: a key's first kept week in this process serves a random part of the hour,
    // so the keys do not all read their week again in the same minute an hour after start-up.
    const far = analyze.far?.(input, kept === undefined ? FAR_LIFETIME_MS * (1 - random()) : FAR_LIFETIME_MS);
    if (far !== undefined) farFigures.set(key, far);
    else farFigures.delete(key);
    return analyze.figures(input);
  }

  /** What judging a key's state at `t` takes besides its history figures. */
  function judgeInput(state: KeyState, t: number, thresholds: ResolvedKey['thresholds']): Omit<AnalyzeInput, 'history'> {
    const d = cfg.raw.defaults;
    return { state, now: t, thresholds, stabilityWindowMs: d.stabilityWindow, readinessHorizonMs: d.readinessHorizon };
  }

  /** Whether a key's analysis can be judged again from kept figures (so the live state need not hold it). */
  function judgedAgain(analyze: Analyze | SplitAnalyze): analyze is SplitAnalyze {
    return 'figures' in analyze && cfg.raw.defaults.analysisInterval > 0;
  }

  /**
   * The key's analysis as its last run judged it: the state's own (loaded from the store, or kept
   * without figures), else judged again from the figures that run used, at the time it used.
   */
  function analysisOf(state: KeyState): KeyAnalysis | undefined {
    if (state.analysis !== undefined) return state.analysis;
    const analyze = opts.analyze;
    const f = figures.get(state.name);
    if (analyze === undefined || !('figures' in analyze) || f === undefined || state.analysedAt === undefined) return undefined;
    try {
      return analyze.judge(judgeInput(state, state.analysedAt, thresholdsFor(cfg, keysByName(cfg).get(state.name), state.account)), f);
    } catch (err) {
      log.error({ err, key: state.name }, 'analysis failed');
      return undefined;
    }
  }

  function analysisByName(name: string): KeyAnalysis | undefined {
    const state = states.get(name);
    return state === undefined ? undefined : analysisOf(state);
  }

  /** Folds one run into the key's live state, stores it, analyses it and lets alerting see it. */
  function apply1(result: RunResult, meta: Pick<ResolvedKey, 'labels' | 'watchModels' | 'thresholds'>): void {
    if (closed) return;
    const last = states.get(result.key);
    const judgedAt = now();
    // Kept only where it cannot be judged again (then the previous one, for judgeKey to share from).
    const keepAnalysis = opts.analyze !== undefined && !judgedAgain(opts.analyze);
    let prev: KeyState;
    let state: KeyState;
    if (last !== undefined && updateInPlace(last, result, meta)) {
      // A steady run, written into the key's state (src/steady.ts): the same object, new numbers.
      prev = state = last;
      state.analysedAt = judgedAt;
      if (!keepAnalysis && state.analysis !== undefined) state.analysis = undefined;
    } else {
      prev = last ?? emptyState(result.key, result.claimedProvider);
      const probes: KeyState['probes'] = { ...prev.probes };
      const lastSuccessAt = { ...prev.lastSuccessAt };
      for (const o of result.outcomes) {
        probes[o.probe] = withoutFacts(o);
        if (o.ok) lastSuccessAt[o.probe as ProbeKind] = o.at;
      }
      state = {
        ...prev,
        claimedProvider: result.claimedProvider,
        provider: result.provider,
        labels: meta.labels,
        watchModels: meta.watchModels,
        // Parts that came out the same stay the previous objects (see share.ts: what survives a run).
        facts: mergeFactsShared(prev.facts, result.facts),
        probes,
        lastSuccessAt,
        lastRunAt: result.startedAt,
        consecutiveFailures: result.allFailed ? prev.consecutiveFailures + 1 : 0,
        analysedAt: judgedAt,
        analysis: keepAnalysis ? prev.analysis : undefined,
      };
    }
    store.recordRun(runRecordOf(result));
    let analysis: KeyAnalysis | undefined;
    if (opts.analyze !== undefined) {
      try {
        analysis = analyse(opts.analyze, prev, state, result, meta.thresholds, judgedAt);
      } catch (err) {
        log.error({ err, key: result.key }, 'analysis failed');
      }
    }
    // The analysis is used here -- stored, rendered into /metrics, seen by alerting -- and not kept
    // in the live state: it can be judged again, the same, from the figures kept per key
    // (analysisOf). Kept, every run's analysis outlived two scavenges, was promoted and became
    // old-generation garbage a run later: measured at 10,000 keys, ~0.15 ms of CPU per run and
    // 30 MB. Without kept figures (no SplitAnalyze, or analysisInterval 0) it stays in the state.
    if (analysis !== undefined && !judgedAgain(opts.analyze!)) state.analysis = analysis;
    if (state !== last) states.set(result.key, state);
    store.saveState(state, analysis);
    metrics.invalidate();
    metrics.prepare(state, analysis);
    try {
      alerting?.evaluate(analysis === undefined || state.analysis === analysis ? state : { ...state, analysis }, now());
    } catch (err) {
      log.error({ err, key: result.key }, 'alert evaluation failed');
    }
    if (!result.ok) {
      log.debug({ key: result.key, provider: result.provider, probe: result.failedProbe, kind: result.errorKind }, 'key run not ok');
    }
  }

  // ---- watch, signals, stop -------------------------------------------------------------------
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  if (opts.configFile !== undefined && opts.watchConfig !== false) {
    const file = resolve(opts.configFile);
    try {
      // Watch the directory: editors and Kubernetes ConfigMaps replace the file rather than write it.
      watcher = watch(dirname(file), (_event, name) => {
        if (name !== null && name !== basename(file) && !name.startsWith('..')) return;
        if (debounce !== undefined) clearTimeout(debounce);
        debounce = setTimeout(() => {
          debounce = undefined;
          if (configText() === lastText) return;
          void reload();
        }, WATCH_DEBOUNCE_MS);
        debounce.unref();
      });
      watcher.unref();
      watcher.on('error', (err) => log.warn({ err }, 'config watch failed'));
    } catch (err) {
      log.warn({ err }, 'config watch unavailable');
    }
  }

  const onHup = () => void reload();
  const onTerm = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'shutting down');
    void stop();
  };
  if (opts.handleSignals === true) {
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
  }

  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((r) => (markStopped = r));

  function stop(): Promise<void> {
    stopping ??= (async () => {
      if (opts.handleSignals === true) {
        process.off('SIGHUP', onHup);
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onTerm);
      }
      watcher?.close();
      if (debounce !== undefined) clearTimeout(debounce);
      clearInterval(maintenance);
      stopRequested = true;
      if (firstMaintenance !== undefined) clearTimeout(firstMaintenance);
      await warmed;
      await pruning;
      const timeout = opts.shutdownTimeoutMs ?? 10_000;
      const drained = await scheduler.stop(timeout);
      if (!drained) log.warn({ timeoutMs: timeout }, 'runs still in flight at shutdown were abandoned');
      await reloading.catch(() => undefined);
      if (alerting !== undefined) {
        try {
          await alerting.flush(Math.min(timeout, 5000));
          await alerting.stop();
        } catch (err) {
          log.error({ err }, 'alerting shutdown failed');
        }
      }
      closed = true;
      store.close();
      await server.close();
      if (agent !== undefined) await (drained ? agent.close() : agent.destroy());
      log.info('keywatch stopped');
      markStopped();
    })();
    return stopping;
  }

  function configText(): string | undefined {
    if (opts.configFile === undefined) return undefined;
    try {
      return createHash('sha256').update(readFileSync(opts.configFile)).digest('hex');
    } catch {
      return undefined;
    }
  }

  return {
    url: server.url,
    states,
    store,
    metrics,
    scheduler,
    config: () => cfg,
    analysis: analysisByName,
    runOnce: () => scheduler.runOnce(),
    reload,
    stop,
    stopped,
    started: warmed,
  };
}

/** A config's keys by name, built once per config (a key run looks its key up: a scan was O(keys) per run). */
const byName = new WeakMap<ResolvedConfig, ReadonlyMap<string, ResolvedKey>>();
function keysByName(c: ResolvedConfig): ReadonlyMap<string, ResolvedKey> {
  let m = byName.get(c);
  if (m === undefined) byName.set(c, (m = new Map(c.keys.map((k) => [k.name, k]))));
  return m;
}

function limitsFor(c: ResolvedConfig): (provider: string) => { concurrency: number; maxRequestsPerSecond: number } {
  return (provider) => ({
    concurrency: c.raw.providers[provider]?.concurrency ?? c.raw.defaults.concurrency,
    maxRequestsPerSecond: c.raw.providers[provider]?.maxRequestsPerSecond ?? c.raw.defaults.maxRequestsPerSecond,
  });
}

function outcomeOf(r: RunResult): JobOutcome {
  return { failed: r.allFailed || r.rateLimited, ...(r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}) };
}

function emptyState(name: string, provider: string): KeyState {
  return {
    name,
    claimedProvider: provider,
    provider,
    labels: {},
    watchModels: [],
    fingerprint: '',
    masked: '…',
    facts: {},
    probes: {},
    lastSuccessAt: {},
    consecutiveFailures: 0,
  };
}

/** A provider's own label for a discovered key, if it is already a masked form (`sk-or-v1-abc...xyz`). */
function maskedLabel(label: string | undefined): string {
  return label !== undefined && /(\.\.\.|…)/.test(label) && label.length <= 40 ? label : '…';
}

/**
 * Whether a run moved what the history figures say (burn rates, stability), so they are read again
 * now rather than at the end of analysisInterval: a failed run or the first good one after a
 * failure, a limit or usage reset, a top-up, or a change of validity, provider, currency or limit.
 */
export function figuresMoved(prev: KeyState, next: KeyState, result: Pick<RunResult, 'ok'>): boolean {
  if (!result.ok || prev.consecutiveFailures > 0) return true;
  for (const o of Object.values(prev.probes)) if (o !== undefined && !o.ok) return true;
  const a = prev.facts;
  const b = next.facts;
  if (a.valid !== b.valid || a.currency !== b.currency || a.limit !== b.limit || a.limitReset !== b.limitReset) return true;
  if (prev.provider !== next.provider) return true;
  if (a.balance !== undefined && b.balance !== undefined && b.balance > a.balance) return true;
  for (const w of ['total', 'daily', 'weekly', 'monthly'] as const) {
    const u0 = a.usage?.[w];
    const u1 = b.usage?.[w];
    if (u0 !== undefined && u1 !== undefined && u1 < u0) return true;
  }
  return false;
}
