/**
 * One key's probe run: resolve the adapter, run its probes in PROBE_KINDS order, fold what each
 * learns into `known` so later probes see it, and report one outcome per probe. Never throws: a
 * failing probe is an outcome, and the next probe still runs. Fleet discovery (accounts:) lives
 * here too: one listing call yields every key of the account, with no per-key request.
 */
import type { ResolvedAccount, ResolvedKey } from './config/load.js';
import { isProbeError, ProbeError, type ProbeErrorKind } from './errors.js';
import type { GetOptions, HttpClient, ScopedHttp } from './http/client.js';
import { adapterCurrency, type ProbeContext, type ProviderAdapter, type ProviderRegistry } from './provider.js';
import { scrubSecrets, type Secret } from './secret.js';
import { SETTLED } from './scheduler.js';
import { share } from './share.js';
import type { KeyState } from './state.js';
import type { RunRecord } from './store/index.js';
import { PROBE_KINDS, type Identity, type KeyFacts, type ProbeKind, type ProbeOutcome } from '../probes/types.js';

/** Confidence above which an identity probe's verdict overrides the claimed provider label. */
export const IDENTITY_OVERRIDE_CONFIDENCE = 0.8;

export type Identify = (
  key: ResolvedKey,
  http: HttpClient,
  /** Awaited before each identification request (it may try several hosts). */
  acquire?: () => Promise<void>,
) => Promise<{ provider: string; identity: Identity } | undefined>;

export interface RunDeps {
  registry: ProviderRegistry;
  http: HttpClient;
  now?: () => number;
  /** For `provider: auto` (src/identity.ts, passed in by the wiring). */
  identify?: Identify;
  /** Awaited before each request (the scheduler's per-provider rate cap). */
  acquire?: () => Promise<void>;
}

export interface RunTarget {
  key: ResolvedKey;
  /** The key's last state: its facts seed `known`; its detected provider spares re-identifying. */
  previous?: KeyState;
}

/** Why a run counts as failed: a probe's error kind, or `invalid` when the key was refused. */
export type RunFailureKind = ProbeErrorKind | 'invalid';

export interface RunResult {
  key: string;
  claimedProvider: string;
  /** The provider label: detected (auto), or claimed unless identity says otherwise with confidence. */
  provider: string;
  startedAt: number;
  durationMs: number;
  outcomes: ProbeOutcome[];
  /** What this run learned (not merged with earlier runs). */
  facts: KeyFacts;
  /** Every probe answered and the key was not refused. */
  ok: boolean;
  failedProbe?: ProbeKind;
  errorKind?: RunFailureKind;
  /** Every probe failed for reasons other than findings (no answer at all). */
  allFailed: boolean;
  /** Longest wait a provider asked for in this run (429 Retry-After). */
  retryAfterMs?: number;
  rateLimited: boolean;
  account?: string;
  /** Discovered keys: the provider's stable id (not secret). */
  discoveredId?: string;
}

const MESSAGE_MAX = 200;

export async function runKey(target: RunTarget, deps: RunDeps): Promise<RunResult> {
  const now = deps.now ?? Date.now;
  const { key, previous } = target;
  const startedAt = now();
  const outcomes: ProbeOutcome[] = [];
  let facts: KeyFacts = {};
  let provider = key.provider;

  try {
    if (key.provider === 'auto') {
      const reused = previous?.provider !== undefined && previous.provider !== 'auto' && previous.fingerprint === key.key.fingerprint();
      if (reused && deps.registry.has(previous.provider)) {
        provider = previous.provider;
      } else {
        const at = now();
        const found = await identifyKey(key, deps);
        const durationMs = now() - at;
        if (found.ok) {
          provider = found.provider;
          facts = mergeFacts(facts, { identity: found.identity });
          outcomes.push({ probe: 'identity', ok: true, durationMs, at, facts: { identity: found.identity } });
        } else {
          outcomes.push({ probe: 'identity', ok: false, errorKind: found.kind, message: found.message, durationMs, at });
        }
      }
    }

    const adapter = deps.registry.get(provider);
    if (adapter === undefined) {
      if (provider !== 'auto') {
        outcomes.push({
          probe: 'current_key',
          ok: false,
          errorKind: 'config',
          message: `no adapter for provider "${provider}"`,
          durationMs: 0,
          at: now(),
        });
      }
    } else {
      facts = await runProbes(adapter, key, previous, facts, outcomes, deps, now);
    }
  } catch (err) {
    // Only our own bugs land here; still an outcome, never a crash of the daemon.
    outcomes.push(failedOutcome('current_key', err, now(), 0));
  }

  const label = identityLabel(provider, facts.identity);
  return summarizeRun(key.name, key.provider, label, startedAt, now() - startedAt, outcomes, facts);
}

async function runProbes(
  adapter: ProviderAdapter,
  key: ResolvedKey,
  previous: KeyState | undefined,
  learned: KeyFacts,
  outcomes: ProbeOutcome[],
  deps: RunDeps,
  now: () => number,
): Promise<KeyFacts> {
  const baseUrl = (key.baseUrl ?? adapter.defaultBaseUrl).replace(/\/+$/, '');
  const http = politely(deps.http.scoped(baseUrl, adapter.allowedPaths), key.timeoutMs, deps.acquire);
  const carried = previous?.facts ?? {};
  const httpAt = (other: string) => politely(deps.http.scoped(other, adapter.allowedPaths), key.timeoutMs, deps.acquire);
  // One context for the run's probes. `known` is merged only when a probe reads it (OpenRouter's
  // do not: its balance probe reads its one field with knownFact); while nothing is learned this
  // run it is the carried facts themselves (probes and callers never write into facts they are
  // given; every merge makes a new object).
  const ctx = new RunContext(http, baseUrl, key, now, httpAt, carried, learned);
  for (const kind of PROBE_KINDS) {
    const probe = adapter.probes[kind];
    if (probe === undefined) continue;
    const at = now();
    // The model list changes rarely: its last good answer stands for modelsInterval (facts carry it).
    if (kind === 'models' && fresh(previous?.probes.models, key.modelsIntervalMs, at)) continue;
    try {
      const got = await bounded(probe(ctx), key.timeoutMs);
      if (got === undefined) continue; // not applicable to this key: no outcome at all
      ctx.learn(got);
      outcomes.push({ probe: kind, ok: true, durationMs: now() - at, at, facts: got });
    } catch (err) {
      outcomes.push(failedOutcome(kind, err, at, now() - at));
    }
  }
  let facts = ctx.learned;
  // Money always carries a currency: when a probe did not say, it is the adapter's.
  const hasMoney = facts.usage !== undefined || typeof facts.limit === 'number' || facts.limitRemaining != null;
  if (hasMoney && facts.currency === undefined) facts = { ...facts, currency: adapterCurrency(adapter, baseUrl) };
  if (facts.balance !== undefined && facts.balanceCurrency === undefined) {
    facts = { ...facts, balanceCurrency: facts.currency ?? adapterCurrency(adapter, baseUrl) };
  }
  return facts;
}

/**
 * The probes' context for one key run. `known` (the carried facts merged with what this run has
 * learned so far) is built when a probe first reads it after the run learned something, not for
 * every probe; `learned` is the run's own facts, for knownFact. Merging for every probe after the
 * first cost a whole facts copy a run (mergeFacts, 23-34 ms of a 60 s profile at 10,000 keys;
 * docs/performance.md, session 22, fix 68).
 */
class RunContext implements ProbeContext {
  readonly timeoutMs: number;
  readonly watchModels: readonly string[];
  readonly key: Secret;
  adminKey?: Secret;
  /** What this run has learned so far (its probes' facts merged, in order). */
  learned: KeyFacts;
  private learnedAny: boolean;
  private merged: KeyFacts | undefined;

  constructor(
    readonly http: ScopedHttp,
    readonly baseUrl: string,
    rk: ResolvedKey,
    readonly now: () => number,
    readonly httpAt: (baseUrl: string) => ScopedHttp,
    private readonly carried: KeyFacts,
    learned: KeyFacts,
  ) {
    this.key = rk.key;
    this.timeoutMs = rk.timeoutMs;
    this.watchModels = rk.watchModels;
    if (rk.adminKey !== undefined) this.adminKey = rk.adminKey;
    this.learned = learned;
    this.learnedAny = hasKeys(learned);
    this.merged = undefined;
  }

  get known(): KeyFacts {
    if (!this.learnedAny) return this.carried;
    return (this.merged ??= mergeFacts(this.carried, this.learned));
  }

  learn(got: KeyFacts): void {
    this.learned = this.learnedAny ? mergeFacts(this.learned, got) : got;
    this.learnedAny = true;
    this.merged = undefined;
  }
}

/**
 * Fleet discovery: one listing call with the account's management key; each key's facts come from
 * the listing. Keys are named `<account>.<slug(name)>`. A failed listing returns `keys: undefined`
 * (the caller keeps the keys it had); a successful one is the complete current set.
 */
export interface AccountRunResult {
  account: string;
  provider: string;
  outcome: ProbeOutcome;
  keys?: RunResult[];
}

export async function runAccount(account: ResolvedAccount, deps: RunDeps): Promise<AccountRunResult> {
  const now = deps.now ?? Date.now;
  const at = now();
  const adapter = deps.registry.get(account.provider);
  if (adapter?.discover === undefined) {
    const outcome: ProbeOutcome = {
      probe: 'current_key',
      ok: false,
      errorKind: 'config',
      message: `provider "${account.provider}" has no fleet discovery`,
      durationMs: 0,
      at,
    };
    return { account: account.name, provider: account.provider, outcome };
  }
  const baseUrl = (account.baseUrl ?? adapter.defaultBaseUrl).replace(/\/+$/, '');
  try {
    const found = await bounded(
      adapter.discover({
        http: politely(deps.http.scoped(baseUrl, adapter.allowedPaths), account.timeoutMs, deps.acquire),
        baseUrl,
        adminKey: account.adminKey,
        timeoutMs: account.timeoutMs,
        now,
      }),
      account.timeoutMs,
    );
    const durationMs = now() - at;
    const names = new Set<string>();
    const keys: RunResult[] = [];
    // Sorted by the stable id so that, when two keys share a name, the same one gets the suffix every time.
    for (const d of [...found].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      if (!account.includeDisabled && d.facts.disabled === true) continue;
      let name = `${account.name}.${slug(d.name) || d.id.slice(0, 8).toLowerCase()}`;
      if (names.has(name)) name = `${name}-${d.id.slice(0, 6).toLowerCase()}`;
      names.add(name);
      const outcome: ProbeOutcome = { probe: 'current_key', ok: true, durationMs, at, facts: d.facts };
      keys.push({
        ...summarize({
          key: name,
          claimedProvider: account.provider,
          provider: account.provider,
          startedAt: at,
          durationMs,
          outcomes: [outcome],
          facts: d.facts,
        }),
        account: account.name,
        discoveredId: d.id,
      });
    }
    return { account: account.name, provider: account.provider, outcome: { probe: 'current_key', ok: true, durationMs, at }, keys };
  } catch (err) {
    return { account: account.name, provider: account.provider, outcome: failedOutcome('current_key', err, at, now() - at) };
  }
}

/** Lowercase, [a-z0-9_.-] only, dashes collapsed: a provider's key name made safe as a config name. */
export function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-z0-9]+|[-.]+$/g, '');
}

/** Later facts win field by field; usage windows and rate-limit dimensions merge one level deep. */
export function mergeFacts(base: KeyFacts, next: KeyFacts): KeyFacts {
  const out: KeyFacts = { ...base, ...next };
  if (base.usage !== undefined && next.usage !== undefined) out.usage = { ...base.usage, ...next.usage };
  if (base.byokUsage !== undefined && next.byokUsage !== undefined) out.byokUsage = { ...base.byokUsage, ...next.byokUsage };
  if (base.rateLimits !== undefined && next.rateLimits !== undefined) out.rateLimits = { ...base.rateLimits, ...next.rateLimits };
  return out;
}

/**
 * `share(prev, mergeFacts(prev, next))` in one pass, without building the merged copy first: the
 * previous facts themselves when the run changed nothing, else one copy of them with what the run
 * changed (parts that came out the same are the previous objects, as share() makes them). A key's
 * run usually moves a few numbers of a ~20-field object; merging then sharing copied every field
 * twice and compared every part again (share and mergeFacts: 193 ms of a 58 s profile of 10,000
 * keys, ~9,700 runs; docs/performance.md, session 20).
 */
export function mergeFactsShared(prev: KeyFacts, next: KeyFacts): KeyFacts {
  const before = prev as Record<string, unknown>;
  const after = next as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k in after) {
    const b = before[k];
    const a = after[k];
    let v: unknown;
    if (a === b) v = a;
    else if (b !== undefined && a !== undefined && (k === 'usage' || k === 'byokUsage' || k === 'rateLimits')) {
      // Merged one level deep, as mergeFacts does.
      v = share(b, { ...(b as object), ...(a as object) });
    } else v = share(b, a);
    if (v === b && (v !== undefined || Object.hasOwn(before, k))) continue;
    // Keys stay in mergeFacts' order: the previous ones in theirs, then the run's new ones.
    out ??= { ...before };
    out[k] = v;
  }
  return (out ?? prev) as KeyFacts;
}

function identityLabel(provider: string, identity: Identity | undefined): string {
  if (identity !== undefined && identity.confidence >= IDENTITY_OVERRIDE_CONFIDENCE && identity.provider !== provider) {
    return identity.provider;
  }
  return provider;
}

function summarize(r: Omit<RunResult, 'ok' | 'allFailed' | 'rateLimited'>): RunResult {
  return summarizeRun(r.key, r.claimedProvider, r.provider, r.startedAt, r.durationMs, r.outcomes, r.facts);
}

/** One pass over the outcomes, and the result built in one literal (one shape for every run). */
function summarizeRun(
  key: string,
  claimedProvider: string,
  provider: string,
  startedAt: number,
  durationMs: number,
  outcomes: ProbeOutcome[],
  facts: KeyFacts,
): RunResult {
  let failed: ProbeOutcome | undefined;
  let refusedBy: ProbeOutcome | undefined;
  let retry = 0;
  let allFailed = outcomes.length > 0;
  let rateLimited = false;
  for (const o of outcomes) {
    if (!o.ok) failed ??= o;
    else allFailed = false;
    if (refusedBy === undefined && o.facts?.valid === false) refusedBy = o;
    const r = o.retryAfterMs ?? 0;
    if (r > retry) retry = r;
    if (o.errorKind === 'rate_limited') rateLimited = true;
  }
  const refused = facts.valid === false;
  const result: RunResult = {
    key,
    claimedProvider,
    provider,
    startedAt,
    durationMs,
    outcomes,
    facts,
    ok: failed === undefined && !refused && outcomes.length > 0,
    allFailed,
    rateLimited,
  };
  if (retry > 0) result.retryAfterMs = retry;
  if (failed !== undefined) {
    result.failedProbe = failed.probe;
    result.errorKind = failed.errorKind ?? 'bad_response';
  } else if (refused) {
    result.failedProbe = refusedBy?.probe ?? 'current_key';
    result.errorKind = 'invalid';
  } else if (outcomes.length === 0) {
    result.errorKind = 'config';
  }
  return result;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

function failedOutcome(probe: ProbeKind, err: unknown, at: number, durationMs: number): ProbeOutcome {
  if (isProbeError(err)) {
    const o: ProbeOutcome = { probe, ok: false, errorKind: err.kind, message: cleanMessage(err.message), durationMs, at };
    if (err.status !== undefined) o.status = err.status;
    if (err.retryAfterMs !== undefined) o.retryAfterMs = err.retryAfterMs;
    return o;
  }
  // Anything else is a shape we did not expect (or our bug). Its message may quote the body
  // (JSON.parse does), so only the error's name is kept.
  const name = err instanceof Error ? err.name : typeof err;
  return { probe, ok: false, errorKind: 'bad_response', message: `unexpected ${name}`, durationMs, at };
}

function cleanMessage(message: string): string {
  const one = scrubSecrets(message.replace(/\s+/g, ' ').trim());
  return one.length > MESSAGE_MAX ? `${one.slice(0, MESSAGE_MAX - 1)}…` : one;
}

async function identifyKey(
  key: ResolvedKey,
  deps: RunDeps,
): Promise<{ ok: true; provider: string; identity: Identity } | { ok: false; kind: ProbeErrorKind; message: string }> {
  if (deps.identify === undefined) return { ok: false, kind: 'config', message: 'provider auto needs identification, which is not available' };
  try {
    const found = await bounded(deps.identify(key, deps.http, deps.acquire), key.timeoutMs * 4);
    if (found === undefined) return { ok: false, kind: 'config', message: 'could not identify the provider of this key' };
    return { ok: true, provider: found.provider, identity: found.identity };
  } catch (err) {
    const o = failedOutcome('identity', err, 0, 0);
    return { ok: false, kind: o.errorKind ?? 'bad_response', message: o.message ?? 'identification failed' };
  }
}

/**
 * Every request waits for the provider's rate cap (one token per request, not per probe: a probe
 * may page) and carries the key's timeout unless the adapter sets its own.
 */
function politely(http: ScopedHttp, timeoutMs: number, acquire: (() => Promise<void>) | undefined): ScopedHttp {
  return {
    get: (path: string, opts?: GetOptions) => {
      // Options that carry their own timeout are passed as they are: the copy would be the same.
      const o = opts !== undefined && Object.hasOwn(opts, 'timeoutMs') ? opts : { timeoutMs, ...opts };
      const wait = acquire?.();
      // Within the cap (nearly every request) acquire hands back the one settled promise: the
      // request goes now, without an async frame and a turn of the microtask queue for the await.
      if (wait !== undefined && wait !== SETTLED) return wait.then(() => http.get(path, o));
      try {
        return http.get(path, o);
      } catch (err) {
        return Promise.reject(err); // as the async function this was: a rejection, never a throw
      }
    },
  };
}

/**
 * A last bound on one probe, in case an adapter awaits something the HTTP timeout does not cover:
 * twice the key's timeout (a probe may make two requests) and a second, so the client's own timeout
 * normally wins. The probes in flight are swept once a second by one timer, not bounded by a timer
 * each: a timer per probe was a Timeout object, a list insertion and a removal on every probe (two
 * a key run), for a bound that almost never fires; a second late is nothing at this bound.
 */
function bounded<T>(p: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry: Bound = { deadline: Date.now() + timeoutMs * 2 + 1000, timeoutMs, reject };
    inFlight.add(entry);
    sweeper ??= setInterval(sweep, SWEEP_MS).unref();
    p.then(
      (v) => {
        inFlight.delete(entry);
        resolve(v);
      },
      (err: unknown) => {
        inFlight.delete(entry);
        reject(err);
      },
    );
  });
}

interface Bound {
  deadline: number;
  timeoutMs: number;
  reject: (err: unknown) => void;
}

const SWEEP_MS = 1000;
/** Probes in flight with their last-resort deadlines (a handful: each sweep looks at all). */
const inFlight = new Set<Bound>();
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  const t = Date.now();
  for (const b of inFlight) {
    if (b.deadline > t) continue;
    inFlight.delete(b);
    b.reject(new ProbeError('timeout', `no answer within ${b.timeoutMs} ms`));
  }
  if (inFlight.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** A successful outcome younger than `intervalMs` (undefined or 0: never fresh). */
function fresh(last: ProbeOutcome | undefined, intervalMs: number | undefined, now: number): boolean {
  return last !== undefined && last.ok && intervalMs !== undefined && intervalMs > 0 && now - last.at < intervalMs;
}

/** What the store records of a run (the one mapping the daemon, the CLI and tests share). */
export function runRecordOf(r: RunResult): RunRecord {
  return {
    at: r.startedAt,
    key: r.key,
    provider: r.provider,
    ok: r.ok,
    ...(r.failedProbe !== undefined ? { failedProbe: r.failedProbe } : {}),
    ...(r.errorKind !== undefined ? { errorKind: r.errorKind } : {}),
    durationMs: r.durationMs,
    facts: r.facts,
    outcomes: r.outcomes,
  };
}
