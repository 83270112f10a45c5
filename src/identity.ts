/**
 * Who answers a key: for `provider: auto`, and as a check on a declared provider. Evidence comes
 * from the key's format, the base URL's host, response headers, error-body and /models shapes,
 * and OpenAI's legacy-billing 403 "session key" reply (which gateways answer with a 200). Each
 * signal has a weight; a provider's confidence is the noisy-OR of its signals.
 *
 * The core never names a provider; the signal table below names the ones whose wire shapes we
 * recognise, and the adapters' own `identify` signals (key patterns, hosts, headers) come from the
 * registry. Probing is read-only: GETs to paths on the candidate adapters' allowlists.
 */
import type { ResolvedKey } from './config/load.js';
import { isProbeError } from './errors.js';
import { isAllowed, type GetOptions, type HttpClient, type HttpResponse, type ScopedHttp } from './http/client.js';
import type { ProviderAdapter, ProviderRegistry } from './provider.js';
import { Secret } from './secret.js';
import type { Identity, IdentityEvidence, KeyFacts } from '../probes/types.js';

/** One response seen while probing (or passively, by a probe run). */
export interface Observation {
  path: string;
  status: number;
  headers: Record<string, string>;
  text: string;
}

export interface IdentifyInput {
  /** Configured provider id, or `auto`. */
  claimed: string;
  key?: Secret;
  baseUrl?: string;
  observations: readonly Observation[];
  registry: ProviderRegistry;
  /** Providers whose probe accepted the key, and those that refused it. */
  accepted?: readonly string[];
  refused?: readonly string[];
}

/** Below this, we do not name a provider. */
export const MIN_CONFIDENCE = 0.3;
/** Providers tried per key when probing (each try is one or two GETs). */
const MAX_TRIES = 5;
/** Generic `sk-` keys: the order the reference recommends probing (§10). */
const GENERIC_SK_ORDER = ['deepseek', 'moonshot', 'siliconflow', 'openai'];
/** Adapters whose key endpoint only that provider serves: an answer there is strong evidence. */
const DISTINCTIVE_ENDPOINT = new Set(['openrouter', 'deepseek', 'moonshot', 'siliconflow', 'xai', 'anthropic', 'gemini']);
const GATEWAYS = new Set(['one-api', 'new-api']);
const OPENAI_FAMILY = new Set(['openai', 'openai-compatible', 'one-api', 'new-api']);

/** Scores evidence into an Identity, or undefined when nothing points anywhere. */
export function identify(input: IdentifyInput): Identity | undefined {
  let evidence: IdentityEvidence[] = [
    ...keyEvidence(input.registry, input.key),
    ...hostEvidence(input.registry, input.baseUrl),
    ...input.observations.flatMap((o) => observationEvidence(input.registry, o)),
    ...(input.accepted ?? []).map((p) => ({
      signal: `its ${p} key endpoint accepted the key`,
      provider: p,
      weight: DISTINCTIVE_ENDPOINT.has(p) ? 0.85 : 0.4,
    })),
  ];
  // new-api is a one-api fork: shared gateway signals belong to new-api once a new-api-only one shows.
  if (evidence.some((e) => e.provider === 'new-api' && /new-api|supported_endpoint_types|new_api_error/i.test(e.signal))) {
    evidence = evidence.map((e) => (e.provider === 'one-api' ? { ...e, provider: 'new-api' } : e));
  }
  evidence = dedupe(evidence);
  const scores = new Map<string, number>();
  for (const e of evidence) scores.set(e.provider, 1 - (1 - (scores.get(e.provider) ?? 0)) * (1 - e.weight));
  // A gateway answering in OpenAI's place is not OpenAI, however OpenAI-like the path looks.
  const gateway = [...scores.entries()].filter(([p]) => GATEWAYS.has(p)).sort((a, b) => b[1] - a[1])[0];
  if (gateway && gateway[1] >= 0.6) {
    scores.delete('openai');
    scores.delete('openai-compatible');
  }
  const ranked = [...scores.entries()].sort((a, b) => b[1] - a[1] || specificity(a[0]) - specificity(b[0]));
  const top = ranked[0];
  if (top === undefined || top[1] < MIN_CONFIDENCE) return undefined;
  const [provider, score] = top;
  return {
    provider,
    confidence: Math.min(0.99, Math.round(score * 1000) / 1000),
    matchesClaim: input.claimed === 'auto' || input.claimed === provider,
    evidence: evidence.filter((e) => e.provider === provider).sort((a, b) => b.weight - a.weight),
    ...accountOf(provider, input.observations),
  };
}

/** `openai-compatible` is the fallback, never preferred over a named provider at equal score. */
function specificity(p: string): number {
  return p === 'openai-compatible' ? 1 : 0;
}

function dedupe(list: IdentityEvidence[]): IdentityEvidence[] {
  const best = new Map<string, IdentityEvidence>();
  for (const e of list) {
    const k = `${e.provider}\u0000${e.signal}`;
    const prev = best.get(k);
    if (prev === undefined || prev.weight < e.weight) best.set(k, e);
  }
  return [...best.values()];
}

function keyEvidence(registry: ProviderRegistry, key: Secret | undefined): IdentityEvidence[] {
  if (key === undefined) return [];
  // Revealed only to test it against the adapters' formats; never stored or shown.
  const value = key.reveal();
  const out: IdentityEvidence[] = [];
  for (const a of registry.values()) {
    const hit = (a.identify.keyPatterns ?? []).filter((p) => p.pattern.test(value)).sort((x, y) => y.weight - x.weight)[0];
    if (hit) out.push({ signal: `key format of ${a.displayName}`, provider: a.id, weight: hit.weight });
  }
  return out;
}

function hostEvidence(registry: ProviderRegistry, baseUrl: string | undefined): IdentityEvidence[] {
  if (baseUrl === undefined || !URL.canParse(baseUrl)) return [];
  const host = new URL(baseUrl).hostname.toLowerCase();
  const out: IdentityEvidence[] = [];
  for (const a of registry.values()) {
    if ((a.identify.hosts ?? []).some((h) => host === h || host.endsWith(`.${h}`))) {
      out.push({ signal: `base URL host ${host}`, provider: a.id, weight: 0.9 });
    }
  }
  return out;
}

function observationEvidence(registry: ProviderRegistry, o: Observation): IdentityEvidence[] {
  const out: IdentityEvidence[] = [];
  for (const a of registry.values()) {
    for (const h of a.identify.headers ?? []) {
      if (o.headers[h.name] !== undefined) out.push({ signal: `${h.name} response header`, provider: a.id, weight: h.weight });
    }
  }
  if (/x-generation-id/i.test(o.headers['access-control-expose-headers'] ?? '')) {
    out.push({ signal: 'X-Generation-Id in access-control-expose-headers', provider: 'openrouter', weight: 0.6 });
  }
  const body = json(o.text);
  if (/\/dashboard\/billing\/subscription$/.test(o.path)) out.push(...billingEvidence(o, body));
  if (/\/models$/.test(o.path) && o.status === 200) out.push(...modelsEvidence(body));
  // A 404 says the path does not exist there; its body is whatever the web server says, not a dialect.
  if (o.status !== 404 && (o.status >= 400 || hasErrorField(body))) out.push(...errorEvidence(body, o.status));
  return out;
}

/** OpenAI refuses secret keys on its legacy billing endpoint; one-api/new-api answer it. */
function billingEvidence(o: Observation, body: unknown): IdentityEvidence[] {
  const b = body as { object?: unknown; error?: { message?: unknown } } | undefined;
  if (o.status === 403 && typeof b?.error?.message === 'string' && /session key/i.test(b.error.message)) {
    return [{ signal: 'legacy billing endpoint refused a secret key with the "session key" 403', provider: 'openai', weight: 0.95 }];
  }
  if (o.status === 200 && b?.object === 'billing_subscription') {
    return [{ signal: 'legacy billing endpoint answered 200 billing_subscription (OpenAI answers 403)', provider: 'one-api', weight: 0.85 }];
  }
  return [];
}

function modelsEvidence(body: unknown): IdentityEvidence[] {
  if (Array.isArray(body)) {
    const first = body[0] as Record<string, unknown> | undefined;
    const weight = first && typeof first.pricing === 'object' ? 0.9 : 0.75;
    return [{ signal: '/models is a bare array (no data wrapper)', provider: 'together', weight }];
  }
  if (typeof body !== 'object' || body === null) return [];
  const b = body as Record<string, unknown>;
  if (Array.isArray(b.models) && (b.models as { name?: unknown }[]).some((m) => typeof m.name === 'string' && m.name.startsWith('models/'))) {
    return [{ signal: '/models lists `models/<id>` names (Google)', provider: 'gemini', weight: 0.9 }];
  }
  if (!Array.isArray(b.data)) return [];
  const items = (b.data as unknown[]).filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null);
  const out: IdentityEvidence[] = [];
  const some = (f: (m: Record<string, unknown>) => boolean) => items.some(f);
  const all = (f: (m: Record<string, unknown>) => boolean) => items.length > 0 && items.every(f);
  if (some((m) => Array.isArray(m.supported_endpoint_types))) {
    out.push({ signal: '/models items carry supported_endpoint_types (new-api)', provider: 'new-api', weight: 0.85 });
  }
  if (some((m) => Array.isArray(m.permission) && JSON.stringify(m.permission).includes('modelperm-LwHkVFn8AcMItP432fKKDIKJ'))) {
    out.push({ signal: "/models items carry one-api's static permission block", provider: 'one-api', weight: 0.85 });
  } else if (some((m) => Array.isArray(m.permission) && 'root' in m)) {
    out.push({ signal: '/models items carry permission/root/parent (one-api family)', provider: 'one-api', weight: 0.6 });
  }
  if (some((m) => typeof m.canonical_slug === 'string' || (typeof m.pricing === 'object' && m.pricing !== null && 'prompt' in m.pricing))) {
    out.push({ signal: '/models items carry canonical_slug and string pricing', provider: 'openrouter', weight: 0.85 });
  }
  if (all((m) => m.type === 'model' && 'display_name' in m) && 'has_more' in b) {
    out.push({ signal: '/models is an Anthropic model page (type, display_name, has_more)', provider: 'anthropic', weight: 0.85 });
  }
  if (some((m) => typeof m.capabilities === 'object' && 'max_context_length' in m)) {
    out.push({ signal: '/models items carry capabilities and max_context_length', provider: 'mistral', weight: 0.8 });
  }
  if (some((m) => 'context_window' in m && 'active' in m)) {
    out.push({ signal: '/models items carry context_window and active', provider: 'groq', weight: 0.75 });
  }
  const owners = new Set(items.map((m) => m.owned_by));
  if (owners.size === 1 && owners.has('xai')) out.push({ signal: '/models owned_by xai', provider: 'xai', weight: 0.5 });
  if (owners.size === 1 && owners.has('deepseek')) out.push({ signal: '/models owned_by deepseek', provider: 'deepseek', weight: 0.5 });
  if (owners.has('mistralai')) out.push({ signal: '/models owned_by mistralai', provider: 'mistral', weight: 0.5 });
  const plainOpenAi = all((m) => Object.keys(m).every((k) => ['id', 'object', 'created', 'owned_by'].includes(k)));
  if (plainOpenAi) {
    out.push({ signal: '/models items have exactly id, object, created, owned_by', provider: 'openai-compatible', weight: 0.5 });
    if (some((m) => m.owned_by === 'openai-internal' || m.owned_by === 'system')) {
      out.push({ signal: '/models owned_by system/openai-internal', provider: 'openai', weight: 0.3 });
    }
  } else if (out.length === 0 && items.every((m) => typeof m.id === 'string')) {
    out.push({ signal: 'OpenAI-style /models list', provider: 'openai-compatible', weight: 0.4 });
  }
  return out;
}

function errorEvidence(body: unknown, status: number): IdentityEvidence[] {
  if (typeof body !== 'object' || body === null) return [];
  const b = body as Record<string, unknown>;
  const e = b.error as Record<string, unknown> | string | undefined;
  if (b.type === 'error' && typeof e === 'object' && e !== null && typeof e.type === 'string') {
    return [{ signal: 'Anthropic error envelope {type:"error", error:{type}}', provider: 'anthropic', weight: 0.8 }];
  }
  if (typeof e === 'string' && typeof b.code === 'string') {
    return [{ signal: 'error envelope {code, error:"..."} (xAI)', provider: 'xai', weight: 0.6 }];
  }
  if (typeof e !== 'object' || e === null) {
    if (b.code === 20000 || (typeof b.code === 'number' && typeof b.message === 'string' && 'status' in b && 'data' in b)) {
      return [{ signal: 'code/message/status/data envelope (SiliconFlow)', provider: 'siliconflow', weight: 0.5 }];
    }
    return [];
  }
  const type = typeof e.type === 'string' ? e.type : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (type === 'new_api_error') return [{ signal: 'new_api_error error type', provider: 'new-api', weight: 0.9 }];
  if (type === 'one_api_error') return [{ signal: 'one_api_error error type', provider: 'one-api', weight: 0.9 }];
  if (/\(request id: \d+\)/.test(message)) return [{ signal: 'error message ends "(request id: ...)" (one-api family)', provider: 'one-api', weight: 0.6 }];
  if (typeof e.status === 'string' && typeof e.code === 'number' && Array.isArray(e.details)) {
    return [{ signal: 'Google RPC error envelope {code, message, status, details}', provider: 'gemini', weight: 0.7 }];
  }
  if (typeof e.code === 'number' && e.code === status && [401, 402, 403, 429].includes(status) && !('type' in e)) {
    return [{ signal: 'error envelope {code:<HTTP status>, message} (OpenRouter)', provider: 'openrouter', weight: 0.4 }];
  }
  return [];
}

function hasErrorField(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'error' in body;
}

/** Account ids providers put in headers (never secret): OpenAI's org slug, Anthropic's org id. */
function accountOf(provider: string, obs: readonly Observation[]): { account?: string } {
  const header = provider === 'openai' ? 'openai-organization' : provider === 'anthropic' ? 'anthropic-organization-id' : undefined;
  const value = header ? obs.map((o) => o.headers[header]).find((v) => v !== undefined) : undefined;
  return value !== undefined ? { account: value } : {};
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The sentence `keywatch check` prints about who answers the key. */
export function describeIdentity(identity: Identity | undefined, registry?: ProviderRegistry): string {
  if (identity === undefined) return 'provider unknown: nothing the key or the endpoint said points at a known provider';
  const name = registry?.get(identity.provider)?.displayName ?? identity.provider;
  const pct = `${Math.round(identity.confidence * 100)}% confidence`;
  const why = identity.evidence.slice(0, 3).map((e) => e.signal).join('; ');
  const claim = identity.matchesClaim ? '' : ' (not the configured provider)';
  if (GATEWAYS.has(identity.provider)) {
    return `OpenAI-compatible gateway, not OpenAI: ${name}, ${pct}${claim} (${why})`;
  }
  if (identity.provider === 'openai-compatible') {
    return `OpenAI-compatible endpoint, not confirmed as OpenAI: make unknown, ${pct}${claim} (${why})`;
  }
  return `${name}, ${pct}${claim} (${why})`;
}

/**
 * A ScopedHttp that remembers every response it returns, and waits for the rate cap before each
 * request: identification may try several hosts, and each try is a request like any other.
 */
function recording(inner: ScopedHttp, path0: string, sink: Observation[], acquire?: () => Promise<void>): ScopedHttp {
  return {
    get: async (path: string, opts?: GetOptions) => {
      await acquire?.();
      const res: HttpResponse = await inner.get(path, opts);
      sink.push({ path: path0 + path, status: res.status, headers: res.headers, text: res.text.slice(0, 64 * 1024) });
      return res;
    },
  };
}

/** Adapters to try for this key, strongest static evidence first. */
function candidates(key: ResolvedKey, registry: ProviderRegistry): ProviderAdapter[] {
  const scored = new Map<string, number>();
  for (const e of [...keyEvidence(registry, key.key), ...hostEvidence(registry, key.baseUrl)]) {
    scored.set(e.provider, Math.max(scored.get(e.provider) ?? 0, e.weight));
  }
  const ordered = [...scored.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
  if (key.provider !== 'auto') ordered.unshift(key.provider);
  const strong = ordered.some((id) => (scored.get(id) ?? 0) >= 0.8);
  if (!strong) {
    // A generic `sk-` key: the known sk- providers (at their own hosts), or the OpenAI-compatible
    // probe at an explicit base URL.
    if (key.baseUrl === undefined) ordered.push(...GENERIC_SK_ORDER);
    else {
      // At an explicit URL, the sk- providers with endpoints only they serve go first (a gateway
      // answers them 404), then the generic /models probe.
      if (key.key.reveal().startsWith('sk-')) ordered.push(...GENERIC_SK_ORDER.filter((id) => DISTINCTIVE_ENDPOINT.has(id)));
      ordered.push('openai-compatible');
    }
  }
  const out: ProviderAdapter[] = [];
  for (const id of ordered) {
    const a = registry.get(id);
    if (a && !out.includes(a) && (key.baseUrl !== undefined || a.defaultBaseUrl !== '')) out.push(a);
  }
  return out.slice(0, MAX_TRIES);
}

/**
 * Finds who answers a key: tries the candidate adapters' key probes (read-only GETs to their
 * allowlisted paths) at the explicit base URL or at each one's own host, stopping at the first
 * that accepts the key; then, for OpenAI-looking endpoints, asks the legacy billing endpoint,
 * which OpenAI refuses and gateways answer. Returns undefined when nothing identifies it.
 */
export async function identifyKey(
  key: ResolvedKey,
  http: HttpClient,
  registry: ProviderRegistry,
  /** Awaited before each request (the scheduler's rate cap): one token per request, not per key. */
  acquire?: () => Promise<void>,
): Promise<{ provider: string; identity: Identity } | undefined> {
  const observations: Observation[] = [];
  const accepted: string[] = [];
  const refused: string[] = [];
  let unreachable = false;
  const now = Date.now;
  for (const adapter of candidates(key, registry)) {
    const probe = adapter.probes.current_key ?? Object.values(adapter.probes)[0];
    if (probe === undefined) continue;
    const baseUrl = (key.baseUrl ?? adapter.defaultBaseUrl).replace(/\/+$/, '');
    let facts: KeyFacts | undefined;
    try {
      facts = await probe({
        http: recording(http.scoped(baseUrl, adapter.allowedPaths), '', observations, acquire),
        baseUrl,
        key: key.key,
        timeoutMs: key.timeoutMs,
        watchModels: [],
        known: {},
        now,
      });
    } catch (err) {
      if (!isProbeError(err)) throw err;
      // A host that hangs or cannot be reached will not answer the next candidate's path either.
      if (key.baseUrl !== undefined && (err.kind === 'timeout' || err.kind === 'network')) {
        unreachable = true;
        break;
      }
      continue;
    }
    if (facts?.valid === true) {
      accepted.push(adapter.id);
      break;
    }
    if (facts?.valid === false) refused.push(adapter.id);
  }
  const first = identify({ claimed: key.provider, key: key.key, baseUrl: key.baseUrl, observations, registry, accepted, refused });
  if (!unreachable && (first === undefined || OPENAI_FAMILY.has(first.provider))) {
    await billingCheck(key, http, registry, observations, acquire);
  }
  const identity = identify({ claimed: key.provider, key: key.key, baseUrl: key.baseUrl, observations, registry, accepted, refused });
  return identity === undefined ? undefined : { provider: identity.provider, identity };
}

/** GET the legacy billing endpoint at the key's base URL (OpenAI: 403 "session key"; gateways: 200). */
async function billingCheck(
  key: ResolvedKey,
  http: HttpClient,
  registry: ProviderRegistry,
  sink: Observation[],
  acquire?: () => Promise<void>,
): Promise<void> {
  const baseUrl = (key.baseUrl ?? registry.get('openai')?.defaultBaseUrl ?? '').replace(/\/+$/, '');
  if (baseUrl === '') return;
  const path = '/dashboard/billing/subscription';
  const allowed = [...registry.values()].filter((a) => isAllowed(path, a.allowedPaths)).flatMap((a) => a.allowedPaths);
  if (allowed.length === 0) return;
  const scoped = recording(http.scoped(baseUrl, allowed), '', sink, acquire);
  try {
    await scoped.get(path, { headers: { authorization: bearerOf(key.key) }, timeoutMs: key.timeoutMs });
  } catch (err) {
    if (!isProbeError(err)) throw err;
  }
}

const bearers = new WeakMap<Secret, Secret>();

/** `Bearer <key>` as a Secret (only the HTTP client reveals it), one per key. */
function bearerOf(key: Secret): Secret {
  let b = bearers.get(key);
  if (b === undefined) {
    b = new Secret(`Bearer ${key.reveal()}`);
    bearers.set(key, b);
  }
  return b;
}

/** The `Identify` function core's runner takes, bound to a registry. */
export function makeIdentify(
  registry: ProviderRegistry,
): (key: ResolvedKey, http: HttpClient, acquire?: () => Promise<void>) => Promise<{ provider: string; identity: Identity } | undefined> {
  return (key, http, acquire) => identifyKey(key, http, registry, acquire);
}
