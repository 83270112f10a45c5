/**
 * When each key runs. Built for 10,000 keys: one timer armed for the earliest due time of a
 * min-heap, not a timer per key. First runs are spread over the interval (jitter) so a fleet does
 * not fire in one second; each provider has a concurrency cap and a request-rate cap (GCRA token
 * bucket, one second of burst); a key never overlaps itself; failures back off exponentially
 * (capped) and a 429 waits at least as long as the provider asked.
 */
import { Cron } from 'croner';
import type { Logger } from './log.js';

export interface JobOutcome {
  /** The run told us nothing (every probe failed, or the provider rate-limited us): back off. */
  failed: boolean;
  /** The provider asked us to wait this long (Retry-After). */
  retryAfterMs?: number;
}

export interface JobContext {
  /** Await before each request: the provider's rate cap. */
  acquire: () => Promise<void>;
}

export interface Job {
  /** Unique: a key name, or `account:<name>`. */
  id: string;
  /** Concurrency and rate caps are per provider. */
  provider: string;
  intervalMs: number;
  /** Croner pattern (seconds field allowed); wins over intervalMs. */
  schedule?: string;
  /** Epoch ms of the last completed run (after a restart): keeps the cadence instead of re-jittering. */
  lastRunAt?: number;
  run: (ctx: JobContext) => Promise<JobOutcome>;
}

export interface ProviderLimits {
  concurrency: number;
  maxRequestsPerSecond: number;
}

export interface SchedulerOptions {
  now?: () => number;
  /** Fraction of the interval over which first runs are spread (0..1). */
  jitter?: number;
  limits?: (provider: string) => ProviderLimits;
  /** Longest backoff after repeated failures (default 30 min; never shorter than the interval). */
  maxBackoffMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
  /**
   * Timer slack: the timer fires at most once per this many ms and starts every run due by then
   * (default 0: one firing per due time). Keys due within one window start together instead of
   * each waking the process on its own (see the daemon's TICK_MS); a run starts at most this much
   * later than it was due.
   */
  tickMs?: number;
}

export interface LatenessStats {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SchedulerStats {
  jobs: number;
  running: number;
  queued: number;
  runs: number;
  failures: number;
  /** start - due, for runs started by the timer (not runOnce). */
  lateness: LatenessStats;
  /** Highest number of concurrent runs seen per provider. */
  peakConcurrency: Record<string, number>;
}

export interface Scheduler {
  /** Reconciles the job set: new jobs start, missing ones stop, changed timing reschedules. */
  set(jobs: readonly Job[]): void;
  start(): void;
  /** Runs every job now (waiting for any run in flight first); resolves when all finished. */
  runOnce(): Promise<void>;
  /** Stops scheduling and waits up to timeoutMs for runs in flight; true when all finished. */
  stop(timeoutMs?: number): Promise<boolean>;
  setLimits(limits: (provider: string) => ProviderLimits): void;
  /** When the job is next due (epoch ms), for tests and the API. */
  nextDue(id: string): number | undefined;
  readonly running: boolean;
  stats(): SchedulerStats;
}

interface Entry {
  job: Job;
  due: number;
  /** Fixed offset added to cron due times (spreads cron keys like jitter spreads intervals). */
  offset: number;
  cron?: Cron;
  gen: number;
  state: 'idle' | 'queued' | 'running';
  failures: number;
  current?: Promise<void>;
  /** Set when started by the timer: lateness is measured against it. */
  timedDue?: number;
  removed: boolean;
  /** Its last heap item, reused once popped: each run would otherwise leave one more object behind. */
  node?: HeapItem;
}

interface HeapItem {
  due: number;
  id: string;
  gen: number;
  inHeap: boolean;
}

interface ProviderSlot {
  running: number;
  peak: number;
  waiting: { entry: Entry; resolve: () => void }[];
  limiter: RateLimiter;
  limits: ProviderLimits;
  /** One context per provider, not per run: acquire reads the current limiter when called. */
  ctx: JobContext;
}

const DEFAULT_LIMITS: ProviderLimits = { concurrency: 16, maxRequestsPerSecond: 50 };
const LATENESS_SAMPLES = 10_000;

export function createScheduler(opts: SchedulerOptions = {}): Scheduler {
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const jitter = opts.jitter ?? 1;
  const maxBackoffMs = opts.maxBackoffMs ?? 30 * 60_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let limitsOf = opts.limits ?? (() => DEFAULT_LIMITS);
  const tickMs = Math.max(0, opts.tickMs ?? 0);
  let lastTickAt = -Infinity;

  const entries = new Map<string, Entry>();
  const heap = new MinHeap<HeapItem>((a, b) => a.due - b.due);
  const providers = new Map<string, ProviderSlot>();
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let started = false;
  let stopped = false;
  const counters = { runs: 0, failures: 0 };
  const lateness: number[] = [];
  let latenessCount = 0;
  let latenessSum = 0;
  let latenessMax = 0;

  function slot(provider: string): ProviderSlot {
    let s = providers.get(provider);
    if (s === undefined) {
      const limits = limitsOf(provider);
      const made: ProviderSlot = {
        running: 0,
        peak: 0,
        waiting: [],
        limits,
        limiter: createRateLimiter(limits.maxRequestsPerSecond, { now, sleep }),
        ctx: { acquire: () => made.limiter.acquire() },
      };
      s = made;
      providers.set(provider, s);
    }
    return s;
  }

  function push(entry: Entry): void {
    entry.gen++;
    const node = entry.node;
    if (node !== undefined && !node.inHeap) {
      node.due = entry.due;
      node.id = entry.job.id;
      node.gen = entry.gen;
      node.inHeap = true;
      heap.push(node);
    } else {
      entry.node = { due: entry.due, id: entry.job.id, gen: entry.gen, inHeap: true };
      heap.push(entry.node);
    }
    arm();
  }

  /** One timer, for the earliest due time. */
  function arm(): void {
    if (!started || stopped) return;
    const top = heap.peek();
    if (top === undefined) return;
    const at = Math.max(top.due, lastTickAt + tickMs);
    if (timer !== undefined && at >= timerAt) return;
    if (timer !== undefined) clearTimeout(timer);
    timerAt = at;
    // Timers cap at ~24.8 days; far-off jobs just re-arm.
    const delay = Math.min(Math.max(0, at - now()), 2 ** 31 - 1);
    timer = setTimeout(tick, delay);
    timer.unref();
  }

  function tick(): void {
    timer = undefined;
    timerAt = Infinity;
    const t = now();
    lastTickAt = t;
    for (;;) {
      const top = heap.peek();
      if (top === undefined || top.due > t) break;
      heap.pop();
      top.inHeap = false;
      const entry = entries.get(top.id);
      // Stale heap items (rescheduled or removed jobs) are skipped, not searched for and deleted.
      if (entry === undefined || entry.gen !== top.gen || entry.removed || entry.state !== 'idle') continue;
      entry.timedDue = top.due;
      void dispatch(entry);
    }
    arm();
  }

  function dispatch(entry: Entry): Promise<void> {
    entry.state = 'queued';
    entry.gen++; // any heap item for this job is now stale
    const s = slot(entry.job.provider);
    // Under the cap (the usual case) the run's own promise is the one to wait on; only a queued
    // run needs a promise of its own, settled when it has run or was cancelled.
    const done =
      s.running < s.limits.concurrency ? start(entry, s) : new Promise<void>((resolve) => s.waiting.push({ entry, resolve }));
    entry.current = done;
    return done;
  }

  async function start(entry: Entry, s: ProviderSlot): Promise<void> {
    s.running++;
    s.peak = Math.max(s.peak, s.running);
    entry.state = 'running';
    try {
      await execute(entry, s);
    } finally {
      s.running--;
      const next = s.waiting.shift();
      if (next !== undefined) startWaiting(next, s);
    }
  }

  function startWaiting(w: { entry: Entry; resolve: () => void }, s: ProviderSlot): void {
    void start(w.entry, s).finally(w.resolve);
  }

  function cancel(w: { entry: Entry; resolve: () => void }): void {
    w.entry.state = 'idle';
    w.entry.current = undefined;
    w.resolve();
  }

  async function execute(entry: Entry, s: ProviderSlot): Promise<void> {
    const startedAt = now();
    if (entry.timedDue !== undefined) {
      recordLateness(startedAt - entry.timedDue);
      entry.timedDue = undefined;
    }
    let outcome: JobOutcome;
    try {
      outcome = await entry.job.run(s.ctx);
    } catch (err) {
      opts.log?.error({ err, job: entry.job.id }, 'scheduled run threw');
      outcome = { failed: true };
    }
    counters.runs++;
    if (outcome.failed) counters.failures++;
    entry.failures = outcome.failed ? entry.failures + 1 : 0;
    entry.state = 'idle';
    entry.current = undefined;
    if (entry.removed || stopped) return;
    entry.due = nextDue(entry, startedAt, now(), outcome);
    push(entry);
  }

  function nextDue(entry: Entry, startedAt: number, t: number, outcome: JobOutcome): number {
    let regular: number;
    if (entry.cron !== undefined) {
      regular = cronNext(entry.cron, t - entry.offset) + entry.offset;
    } else {
      // Keep the jittered phase: the next multiple of the interval after now. A run that started
      // before it was due (runOnce) counts as this period's run: the next one is an interval later.
      const iv = entry.job.intervalMs;
      const base = startedAt < entry.due ? startedAt : entry.due;
      regular = base + iv;
      if (regular <= t) regular = base + Math.ceil((t - base + 1) / iv) * iv;
    }
    if (!outcome.failed && outcome.retryAfterMs === undefined) return regular;
    const period = Math.max(1, periodOf(entry));
    const backoff = outcome.failed ? Math.min(period * 2 ** Math.max(0, entry.failures - 1), Math.max(period, maxBackoffMs)) : 0;
    return Math.max(regular, t + backoff, t + (outcome.retryAfterMs ?? 0));
  }

  function firstDue(entry: Entry, t: number): number {
    const last = entry.job.lastRunAt;
    const period = periodOf(entry);
    if (last !== undefined && last + period > t) return last + period;
    if (entry.cron !== undefined) return cronNext(entry.cron, t - entry.offset) + entry.offset;
    return t + Math.floor(random() * jitter * entry.job.intervalMs);
  }

  function periodOf(entry: Entry): number {
    if (entry.cron === undefined) return entry.job.intervalMs;
    const a = entry.cron.nextRun(new Date(now()));
    const b = a ? entry.cron.nextRun(a) : null;
    return a && b ? b.getTime() - a.getTime() : entry.job.intervalMs;
  }

  function makeEntry(job: Job, t: number): Entry {
    const cron = job.schedule !== undefined ? new Cron(job.schedule, { paused: true }) : undefined;
    const entry: Entry = { job, due: 0, offset: 0, gen: 0, state: 'idle', failures: 0, removed: false };
    if (cron !== undefined) {
      entry.cron = cron;
      entry.offset = Math.floor(random() * jitter * periodOf(entry));
    }
    entry.due = firstDue(entry, t);
    return entry;
  }

  function recordLateness(ms: number): void {
    const v = Math.max(0, ms);
    latenessCount++;
    latenessSum += v;
    latenessMax = Math.max(latenessMax, v);
    if (lateness.length < LATENESS_SAMPLES) lateness.push(v);
    else lateness[latenessCount % LATENESS_SAMPLES] = v;
  }

  return {
    set(jobs) {
      // An interval of 0 (or NaN) makes every run due again at once: a tight loop against the
      // provider. Refuse the whole set before changing anything, so the caller keeps what it had.
      const bad = jobs.find((j) => !(Number.isFinite(j.intervalMs) && j.intervalMs > 0));
      if (bad !== undefined) throw new RangeError(`job ${bad.id}: intervalMs must be a positive number of milliseconds`);
      const t = now();
      const ids = new Set(jobs.map((j) => j.id));
      for (const [id, entry] of entries) {
        if (ids.has(id)) continue;
        entry.removed = true;
        entry.gen++;
        entries.delete(id);
      }
      for (const job of jobs) {
        const old = entries.get(job.id);
        if (old === undefined) {
          const entry = makeEntry(job, t);
          entries.set(job.id, entry);
          push(entry);
          continue;
        }
        // The provider only picks the concurrency/rate slot at dispatch: changing it needs no reschedule.
        const timing = old.job.intervalMs !== job.intervalMs || old.job.schedule !== job.schedule;
        old.job = job;
        if (timing) {
          const fresh = makeEntry({ ...job, lastRunAt: undefined }, t);
          old.cron = fresh.cron;
          old.offset = fresh.offset;
          old.due = fresh.due;
          if (old.state === 'idle') push(old);
          // A running job reschedules itself from the new timing when it finishes.
        }
      }
    },
    start() {
      started = true;
      stopped = false;
      arm();
    },
    async runOnce() {
      const all = [...entries.values()].map(async (entry) => {
        if (entry.current !== undefined) await entry.current;
        if (entry.removed) return;
        await dispatch(entry);
      });
      await Promise.all(all);
    },
    async stop(timeoutMs = 10_000) {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      timerAt = Infinity;
      // Queued (not yet started) runs are dropped; only runs already talking to a provider are awaited.
      for (const s of providers.values()) for (const w of s.waiting.splice(0)) cancel(w);
      const inFlight = [...entries.values()].filter((e) => e.state === 'running' && e.current).map((e) => e.current!);
      if (inFlight.length === 0) return true;
      let t: NodeJS.Timeout | undefined;
      const bound = new Promise<boolean>((r) => {
        t = setTimeout(() => r(false), timeoutMs);
        t.unref();
      });
      const finished = await Promise.race([Promise.all(inFlight).then(() => true), bound]);
      clearTimeout(t);
      return finished;
    },
    setLimits(limits) {
      limitsOf = limits;
      for (const [provider, s] of providers) {
        const l = limits(provider);
        s.limits = l;
        s.limiter = createRateLimiter(l.maxRequestsPerSecond, { now, sleep });
        while (s.running < l.concurrency && s.waiting.length > 0) startWaiting(s.waiting.shift()!, s);
      }
    },
    nextDue: (id) => {
      const e = entries.get(id);
      return e === undefined || e.state !== 'idle' ? undefined : e.due;
    },
    get running() {
      return started && !stopped;
    },
    stats() {
      const sorted = [...lateness].sort((a, b) => a - b);
      const pct = (p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
      let running = 0;
      let queued = 0;
      const peakConcurrency: Record<string, number> = {};
      for (const [id, s] of providers) {
        running += s.running;
        queued += s.waiting.length;
        peakConcurrency[id] = s.peak;
      }
      return {
        jobs: entries.size,
        running,
        queued,
        runs: counters.runs,
        failures: counters.failures,
        lateness: {
          count: latenessCount,
          meanMs: latenessCount === 0 ? 0 : latenessSum / latenessCount,
          p50Ms: pct(0.5),
          p95Ms: pct(0.95),
          p99Ms: pct(0.99),
          maxMs: latenessMax,
        },
        peakConcurrency,
      };
    },
  };
}

function cronNext(cron: Cron, after: number): number {
  const next = cron.nextRun(new Date(after));
  // A pattern with no future run (a past one-off date) never fires again.
  return next === null ? Number.MAX_SAFE_INTEGER : next.getTime();
}

export interface RateLimiter {
  /** Resolves when the caller may make one request. */
  acquire(): Promise<void>;
}

/**
 * GCRA (a token bucket as arithmetic): `rate` requests per second with a burst of one second's
 * worth. Callers are served in order of arrival; each waits until its reserved slot.
 */
export function createRateLimiter(
  ratePerSecond: number,
  opts: { now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): RateLimiter {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const emissionMs = 1000 / ratePerSecond;
  const burstMs = Math.max(0, Math.ceil(ratePerSecond) - 1) * emissionMs;
  let tat = -Infinity; // theoretical arrival time of the next request
  return {
    acquire() {
      const t = now();
      const start = Math.max(t, tat - burstMs);
      tat = Math.max(tat, t) + emissionMs;
      const wait = start - t;
      // Not async: a request within the burst (nearly all of them) gets the one settled promise.
      return wait > 0 ? sleep(wait) : SETTLED;
    },
  };
}

/**
 * What acquire() returns when the request may go now: one settled promise, which a caller may
 * compare against to send at once instead of awaiting it (src/runner.ts politely).
 */
export const SETTLED: Promise<void> = Promise.resolve();

/** Binary min-heap: O(log n) push/pop for the due-time queue. */
export class MinHeap<T> {
  readonly #items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => number) {}
  get size(): number {
    return this.#items.length;
  }
  peek(): T | undefined {
    return this.#items[0];
  }
  push(item: T): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
