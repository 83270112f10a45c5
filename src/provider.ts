/**
 * The interface every provider adapter (providers/<id>/) implements. The core never names a
 * provider: it receives a ProviderRegistry as a value from the wiring.
 */
import type { KeyFacts, ProbeKind, Currency } from '../probes/types.js';
import type { ScopedHttp } from './http/client.js';
import type { Secret } from './secret.js';

export interface ProbeContext {
  /** GET-only client bound to this adapter's base URL and allowlist: `ctx.http.get('/key')`. */
  http: ScopedHttp;
  /** Base URL without trailing slash, e.g. https://openrouter.ai/api/v1 */
  baseUrl: string;
  key: Secret;
  adminKey?: Secret;
  timeoutMs: number;
  watchModels: readonly string[];
  /** Facts already learned this run (earlier probes) merged with the last snapshot. */
  known: KeyFacts;
  /**
   * What this run's earlier probes learned, not merged with the last snapshot (the runner gives it;
   * absent, read `known`). `knownFact` reads one fact from it without building `known`.
   */
  learned?: KeyFacts;
  now: () => number;
  /**
   * The same GET-only, allowlisted client bound to another base URL of the same provider (xAI's
   * billing lives on management-api.x.ai, not api.x.ai). Optional: probes that need it skip without it.
   */
  httpAt?: (baseUrl: string) => ScopedHttp;
}

/**
 * Resolves to the facts learned; throws ProbeError when it cannot tell. Resolves to `undefined`
 * when the probe does not apply to this key (e.g. a balance probe without a management key):
 * the runner then records no outcome for it, neither success nor failure.
 */
export type ProbeImpl = (ctx: ProbeContext) => Promise<KeyFacts | undefined>;

export interface IdentitySignals {
  /** Key formats that point at this provider, with how strongly. */
  keyPatterns?: { pattern: RegExp; weight: number }[];
  /** Hostnames of the real service. */
  hosts?: string[];
  /** Response header names (lowercase) whose presence points at this provider. */
  headers?: { name: string; weight: number }[];
}

export interface DiscoveredKey {
  /** Provider's name for the key (becomes `<account>.<slug(name)>`). */
  name: string;
  /** Stable id (e.g. OpenRouter's key hash); stored, not secret. */
  id: string;
  facts: KeyFacts;
}

export interface AccountContext extends Omit<ProbeContext, 'key' | 'watchModels' | 'known'> {
  adminKey: Secret;
}

export interface ProviderAdapter {
  /** Folder name = YAML `provider:` = `provider` label. */
  readonly id: string;
  readonly displayName: string;
  readonly defaultBaseUrl: string;
  /** Currency of the money this provider reports, possibly by base URL (moonshot .cn vs .ai). */
  readonly currency: Currency | ((baseUrl: string) => Currency);
  /** Paths (relative to the base URL, query excluded) a probe may GET. Anything else is refused. */
  readonly allowedPaths: readonly (string | RegExp)[];
  readonly identify: IdentitySignals;
  /** Probe kinds this adapter answers; absent = unsupported. Run in the order of PROBE_KINDS. */
  readonly probes: Partial<Record<ProbeKind, ProbeImpl>>;
  /** Fleet discovery by management key (accounts: in the config). */
  readonly discover?: (ctx: AccountContext) => Promise<DiscoveredKey[]>;
}

export type ProviderRegistry = ReadonlyMap<string, ProviderAdapter>;

export function adapterCurrency(adapter: ProviderAdapter, baseUrl: string): Currency {
  return typeof adapter.currency === 'function' ? adapter.currency(baseUrl) : adapter.currency;
}

/**
 * One fact as `ctx.known` has it, read from what this run learned when a probe of the run set it
 * (a field it set, even to undefined, is the merge's value), else from `known`: `known` merges the
 * last snapshot with the run's facts, a whole copy, for what is usually one field of the run's own
 * answer (docs/performance.md, session 22). For fields merged one level deep (usage, byokUsage,
 * rateLimits) read `known`.
 */
export function knownFact<K extends Exclude<keyof KeyFacts, 'usage' | 'byokUsage' | 'rateLimits'>>(ctx: ProbeContext, name: K): KeyFacts[K] {
  const learned = ctx.learned;
  return learned !== undefined && Object.hasOwn(learned, name) ? learned[name] : ctx.known[name];
}
