/**
 * OpenRouter: the current key (`GET /key`), the account balance (`GET /credits`, management key
 * only), the models this key may use (`GET /models/user`, public `/models` as fallback), and
 * fleet discovery (`GET /keys`, management key). Facts from ../shared/reference/providers.md §1.
 */
import type { Identity, IdentityEvidence, KeyFacts, LimitReset, ModelAccess, RateLimits } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { parseJson, parseRetryAfter, throwForTransientStatus, type GetOptions, type HttpResponse, type ScopedHttp } from '../../src/http/client.js';
import { knownFact, type AccountContext, type DiscoveredKey, type ProbeContext, type ProviderAdapter } from '../../src/provider.js';
import type { Secret } from '../../src/secret.js';
import { ApiKey, Credits, CurrentKey, CurrentKeyResponse, ErrorBody, KeysList, ModelsList } from './schema.js';

/** /keys pages hold at most this many keys ("List the most recent 100 API keys... paginate using offset"). */
export const KEYS_PAGE_SIZE = 100;

export const openrouter = {
  id: 'openrouter',
  displayName: 'OpenRouter',
  defaultBaseUrl: 'https://openrouter.ai/api/v1',
  currency: 'USD',
  allowedPaths: ['/key', '/auth/key', '/credits', '/models', '/models/user', '/keys'],
  identify: {
    keyPatterns: [{ pattern: /^sk-or-v1-[0-9a-f]{64}$/, weight: 0.9 }, { pattern: /^sk-or-/, weight: 0.6 }],
    hosts: ['openrouter.ai'],
    headers: [{ name: 'x-generation-id', weight: 0.5 }],
  },
  probes: {
    current_key: currentKey,
    balance_snapshot: balanceSnapshot,
    models,
  },
  discover,
} satisfies ProviderAdapter;

async function currentKey(ctx: ProbeContext): Promise<KeyFacts> {
  const http = ctx.http;
  let res = await get(http, '/key', ctx.key, ctx.timeoutMs);
  // Older deployments only had /auth/key; the current spec lists /key.
  if (res.status === 404) res = await get(http, '/auth/key', ctx.key, ctx.timeoutMs);
  if (res.status === 401) return { valid: false, validity: 'revoked' };
  if (res.status === 403) return { valid: false, validity: keyLimitMessage(res) ? 'limit_exceeded' : 'forbidden' };
  failUnlessOk(res, ctx.now());
  const json = parseJson(res);
  // The usual answer passes a plain check without zod's copy; anything else gets zod's verdict.
  let key: CurrentKey;
  if (isPlainCurrentKeyResponse(json)) key = json.data;
  else {
    const body = CurrentKeyResponse.safeParse(json);
    if (!body.success) throw shapeError('/key', res);
    key = body.data.data;
  }
  const facts = keyFacts(key, ctx.now());
  facts.identity = openrouterIdentity(res, ctx);
  return facts;
}

const isNum = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const optNum = (v: unknown): boolean => v === undefined || isNum(v);
const optBool = (v: unknown): boolean => v === undefined || typeof v === 'boolean';
const optNullStr = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';

/**
 * True only for what CurrentKeyResponse accepts, with the same value in every field keyFacts reads (a
 * subset: false sends the body to zod, which decides). Unknown fields zod would strip stay, never read.
 */
export function isPlainCurrentKeyResponse(v: unknown): v is { data: CurrentKey } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const k = (v as { data?: unknown }).data;
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return false;
  const o = k as Record<string, unknown>;
  const free = o.free_model_daily_requests;
  return (
    (o.label === undefined || typeof o.label === 'string') &&
    (o.limit === null || isNum(o.limit)) &&
    (o.limit_remaining === null || optNum(o.limit_remaining)) &&
    optNullStr(o.limit_reset) &&
    optBool(o.include_byok_in_limit) &&
    isNum(o.usage) &&
    optNum(o.usage_daily) &&
    optNum(o.usage_weekly) &&
    optNum(o.usage_monthly) &&
    optNum(o.byok_usage) &&
    optNum(o.byok_usage_daily) &&
    optNum(o.byok_usage_weekly) &&
    optNum(o.byok_usage_monthly) &&
    optBool(o.is_free_tier) &&
    optBool(o.is_management_key) &&
    optBool(o.is_provisioning_key) &&
    optNullStr(o.expires_at) &&
    (free === undefined || free === null || isAllowance(free))
  );
}

function isAllowance(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return isNum(o.limit) && isNum(o.remaining) && optNum(o.used);
}

/**
 * Account balance = total_credits - total_usage, only from a management key. An ordinary key can get
 * a 403, or worse a 200 `{0,0}`; neither is ever reported as an empty balance.
 */
async function balanceSnapshot(ctx: ProbeContext): Promise<KeyFacts | undefined> {
  const credential = knownFact(ctx, 'isManagementKey') === true ? ctx.key : ctx.adminKey;
  if (credential === undefined) return undefined;
  const res = await get(ctx.http, '/credits', credential, ctx.timeoutMs);
  if (res.status === 401 || res.status === 403) {
    throw new ProbeError('auth', `the management key was refused by /credits (HTTP ${res.status})`, { status: res.status });
  }
  failUnlessOk(res, ctx.now());
  const body = Credits.safeParse(parseJson(res));
  if (!body.success) throw shapeError('/credits', res);
  const { total_credits, total_usage } = body.data.data;
  if (total_credits === 0 && total_usage === 0 && credential !== ctx.key) {
    // The {0,0} trap: confirm the admin key really is a management key before believing it.
    const who = await get(ctx.http, '/key', credential, ctx.timeoutMs);
    const parsed = who.status === 200 ? CurrentKeyResponse.safeParse(parseJson(who)) : undefined;
    const isManagement = parsed?.success === true && (parsed.data.data.is_management_key ?? parsed.data.data.is_provisioning_key);
    if (!isManagement) {
      throw new ProbeError('auth', 'adminKey is not a management key: /credits answered {0,0}, balance unknown');
    }
  }
  return { balance: round(total_credits - total_usage), balanceCurrency: 'USD' };
}

async function models(ctx: ProbeContext): Promise<KeyFacts> {
  let source: ModelAccess['source'] = 'user';
  let res = await get(ctx.http, '/models/user', ctx.key, ctx.timeoutMs);
  if (res.status === 401 || res.status === 403 || res.status === 404) {
    // A management key, or an older deployment: fall back to the public catalogue.
    source = 'public';
    res = await get(ctx.http, '/models', undefined, ctx.timeoutMs);
  }
  failUnlessOk(res, ctx.now());
  const body = ModelsList.safeParse(parseJson(res));
  if (!body.success) throw shapeError('/models', res);
  const byId = new Map(body.data.data.map((m) => [m.id, m]));
  const access: Record<string, boolean> = {};
  const pricingKnown: Record<string, boolean> = {};
  for (const id of ctx.watchModels) {
    const m = byId.get(id);
    access[id] = m !== undefined;
    if (m !== undefined) pricingKnown[id] = priceKnown(m.pricing?.prompt) && priceKnown(m.pricing?.completion);
  }
  return { models: { count: body.data.data.length, source, access, pricingKnown } };
}

/** Every key of the account, one request per page of 100, with usage and limits from the listing. */
async function discover(ctx: AccountContext): Promise<DiscoveredKey[]> {
  const out: DiscoveredKey[] = [];
  for (let offset = 0; ; offset += KEYS_PAGE_SIZE) {
    const res = await ctx.http.get('/keys', {
      headers: { authorization: bearer(ctx.adminKey) },
      query: { offset, include_disabled: 'true' },
      timeoutMs: ctx.timeoutMs,
    });
    if (res.status === 401 || res.status === 403) {
      throw new ProbeError('auth', `the management key was refused by /keys (HTTP ${res.status})`, { status: res.status });
    }
    failUnlessOk(res, ctx.now());
    const body = KeysList.safeParse(parseJson(res));
    if (!body.success) throw shapeError('/keys', res);
    for (const k of body.data.data) out.push(discovered(k, ctx.now()));
    if (body.data.data.length < KEYS_PAGE_SIZE) return out;
  }
}

function discovered(k: ApiKey, now: number): DiscoveredKey {
  const facts = keyFacts(k, now);
  return {
    name: k.name,
    id: k.hash,
    facts: { ...facts, disabled: k.disabled, ...(k.disabled ? { valid: false, validity: 'disabled' } : {}) },
  };
}

export function keyFacts(k: CurrentKey, now: number): KeyFacts {
  const reset = asReset(k.limit_reset);
  const facts: KeyFacts = {
    valid: true,
    currency: 'USD',
    usage: { total: k.usage, daily: k.usage_daily, weekly: k.usage_weekly, monthly: k.usage_monthly },
    byokUsage: { total: k.byok_usage, daily: k.byok_usage_daily, weekly: k.byok_usage_weekly, monthly: k.byok_usage_monthly },
    // null = unlimited, never zero.
    limit: k.limit,
    limitRemaining: k.limit === null ? null : (k.limit_remaining ?? null),
    limitReset: reset,
    isFreeTier: k.is_free_tier,
    isManagementKey: k.is_management_key ?? k.is_provisioning_key,
    expiresAt: k.expires_at ? Math.floor(Date.parse(k.expires_at) / 1000) : null,
  };
  if (k.label !== undefined) facts.label = k.label;
  if (reset) facts.limitResetAt = nextReset(reset, now);
  const free = k.free_model_daily_requests;
  if (free) facts.rateLimits = { free_daily: { limit: free.limit, remaining: free.remaining, resetAt: nextReset('daily', now) } };
  return facts;
}

/** Resets happen at midnight UTC; weeks run Monday through Sunday. Returns epoch seconds. */
export function nextReset(reset: LimitReset, now: number): number {
  // The same all day (UTC days are 86,400,000 ms in epoch time): worked out once a day per period.
  const day = Math.floor(now / 86_400_000);
  if (day !== resetsDay) {
    resetsDay = day;
    resets.daily = resets.weekly = resets.monthly = undefined;
  }
  return (resets[reset] ??= resetAfter(reset, now));
}

let resetsDay = Number.NaN;
const resets: Partial<Record<LimitReset, number>> = {};

function resetAfter(reset: LimitReset, now: number): number {
  const d = new Date(now);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (reset === 'daily') return (day + 86_400_000) / 1000;
  if (reset === 'weekly') {
    const daysToMonday = (8 - d.getUTCDay()) % 7 || 7;
    return (day + daysToMonday * 86_400_000) / 1000;
  }
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
}

function asReset(v: string | null | undefined): LimitReset | null {
  return v === 'daily' || v === 'weekly' || v === 'monthly' ? v : null;
}

/** Router prices of "-1" mean dynamic/unknown, never a negative cost. */
function priceKnown(p: string | undefined): boolean {
  if (p === undefined) return false;
  const n = Number(p);
  return Number.isFinite(n) && n >= 0;
}

/**
 * The request options per credential and timeout, made once: they are the same on every run of a
 * key (a new header object and Bearer string per request were most of this adapter's allocation).
 */
const requestOptions = new WeakMap<Secret, GetOptions>();
const NO_CREDENTIAL = new Map<number, GetOptions>();

function get(http: ScopedHttp, path: string, credential: Secret | undefined, timeoutMs: number): Promise<HttpResponse> {
  let opts = credential ? requestOptions.get(credential) : NO_CREDENTIAL.get(timeoutMs);
  if (opts === undefined || opts.timeoutMs !== timeoutMs) {
    opts = { headers: credential ? { authorization: bearer(credential) } : {}, timeoutMs };
    if (credential) requestOptions.set(credential, opts);
    else if (NO_CREDENTIAL.size < 16) NO_CREDENTIAL.set(timeoutMs, opts);
  }
  return http.get(path, opts);
}

function bearer(s: Secret): string {
  return `Bearer ${s.reveal()}`;
}

/**
 * 429: rate_limited, with X-RateLimit-* (reset in epoch ms or s, also echoed in error.metadata.headers)
 * and Retry-After; 402: quota; 408/5xx: upstream; any other non-200: bad_response.
 */
function failUnlessOk(res: HttpResponse, now: number): void {
  if (res.status === 200) return;
  if (res.status === 429) {
    const rateLimits = rateLimitsFrom(res);
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now) ?? untilReset(rateLimits, now);
    throw new ProbeError('rate_limited', 'rate limited (HTTP 429)', {
      status: 429,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(rateLimits ? { rateLimits } : {}),
    });
  }
  if (res.status === 402) throw new ProbeError('quota', 'insufficient credits (HTTP 402)', { status: 402 });
  throwForTransientStatus(res, now);
  throw new ProbeError('bad_response', `unexpected HTTP ${res.status}`, { status: res.status });
}

function rateLimitsFrom(res: HttpResponse): RateLimits | undefined {
  let h: Record<string, unknown> = res.headers;
  if (h['x-ratelimit-limit'] === undefined) {
    const body = ErrorBody.safeParse(safeJson(res.text));
    const echoed = body.success ? body.data.error.metadata?.headers : undefined;
    if (echoed && typeof echoed === 'object') {
      h = Object.fromEntries(Object.entries(echoed as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]));
    }
  }
  const limit = num(h['x-ratelimit-limit']);
  const remaining = num(h['x-ratelimit-remaining']);
  const reset = num(h['x-ratelimit-reset']);
  if (limit === undefined && remaining === undefined && reset === undefined) return undefined;
  return {
    requests: {
      ...(limit !== undefined ? { limit } : {}),
      ...(remaining !== undefined ? { remaining } : {}),
      // Observed in epoch milliseconds; accept seconds too.
      ...(reset !== undefined ? { resetAt: reset > 1e11 ? Math.floor(reset / 1000) : reset } : {}),
    },
  };
}

function untilReset(r: RateLimits | undefined, now: number): number | undefined {
  const at = r?.requests?.resetAt;
  return at === undefined ? undefined : Math.max(0, at * 1000 - now);
}

function keyLimitMessage(res: HttpResponse): boolean {
  const body = ErrorBody.safeParse(safeJson(res.text));
  return body.success && /key limit exceeded/i.test(body.data.error.message ?? '');
}

/**
 * What /key's answer says of who answers. It can say one of four things (the header seen or not, the
 * key's prefix or not), each built once and shared by every run of every key: identities are never
 * written once built (src/share.ts; a steady run writes only numbers, src/steady.ts), and a new
 * identity per run was ~5 objects to allocate, compare with the last run's and drop.
 */
function openrouterIdentity(res: HttpResponse, ctx: ProbeContext): Identity {
  const expose = res.headers['access-control-expose-headers'] ?? '';
  const header = /x-generation-id/i.test(expose) || res.headers['x-generation-id'] !== undefined;
  const prefix = /^sk-or-/.test(ctx.key.reveal());
  const which = (header ? 1 : 0) | (prefix ? 2 : 0);
  return (IDENTITIES[which] ??= identityOf(header, prefix));
}

const IDENTITIES: (Identity | undefined)[] = [];

function identityOf(header: boolean, prefix: boolean): Identity {
  const evidence = [{ signal: '/key answered with OpenRouter key fields (limit_remaining, is_management_key)', provider: 'openrouter', weight: 0.8 }];
  if (header) evidence.push({ signal: 'X-Generation-Id response header', provider: 'openrouter', weight: 0.5 });
  if (prefix) evidence.push({ signal: 'sk-or- key prefix', provider: 'openrouter', weight: 0.6 });
  const confidence = Math.min(0.99, 1 - evidence.reduce((p, e) => p * (1 - e.weight), 1));
  for (const e of evidence) Object.freeze(e);
  return Object.freeze({ provider: 'openrouter', confidence: round(confidence), matchesClaim: true, evidence: Object.freeze(evidence) as IdentityEvidence[] });
}

function shapeError(path: string, res: HttpResponse): ProbeError {
  return new ProbeError('bad_response', `${path} answered a shape OpenRouter does not document (possible API change)`, {
    status: res.status,
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}
