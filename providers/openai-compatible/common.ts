/**
 * Helpers every adapter in this repository shares: bearer auth, fetching JSON through the
 * read-only client, reading provider error envelopes (for classification only: bodies never go
 * into an error message, they can echo the key), and the model permission matrix.
 * They live here because most providers speak some dialect of the OpenAI wire format.
 */
import type { z } from 'zod';
import { ProbeError } from '../../src/errors.js';
import { parseJson, parseRetryAfter, throwForTransientStatus, type GetOptions, type HttpResponse } from '../../src/http/client.js';
import type { ProbeContext } from '../../src/provider.js';
import { Secret } from '../../src/secret.js';
import type { KeyFacts, ModelAccess, RateLimits } from '../../probes/types.js';
import { OpenAiModelList } from './schema.js';

const bearers = new WeakMap<Secret, Secret>();

/**
 * `Authorization: Bearer <key>` as a Secret, so the header value is only ever revealed by the HTTP
 * client. Cached per key: a derived Secret registers its value with the scrubber once.
 */
export function bearer(key: Secret): Secret {
  let b = bearers.get(key);
  if (b === undefined) {
    b = new Secret(`Bearer ${key.reveal()}`);
    bearers.set(key, b);
  }
  return b;
}

/** GET `path` under the probe's base URL (ctx.http is already bound to the adapter's allowlist). */
export function get(ctx: ProbeContext, path: string, opts: GetOptions = {}): Promise<HttpResponse> {
  if (ctx.baseUrl === '') {
    throw new ProbeError('config', 'no base URL configured for this provider (set baseUrl)');
  }
  return ctx.http.get(path, { timeoutMs: ctx.timeoutMs, ...opts });
}

/** Parses and validates a body, or throws bad_response naming the endpoint (never the body). */
export function decode<T extends z.ZodType>(res: HttpResponse, schema: T, what: string): z.output<T> {
  const json = parseJson(res);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ProbeError('bad_response', `unexpected response shape from ${what} (HTTP ${res.status})`, {
      status: res.status,
    });
  }
  return parsed.data;
}

/** What an error body says, in the envelopes providers use; for classification, not for display. */
export interface ErrorInfo {
  message: string;
  type: string;
  code: string;
  status: string;
  reasons: string[];
}

export function errorInfo(text: string): ErrorInfo {
  const info: ErrorInfo = { message: '', type: '', code: '', status: '', reasons: [] };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    info.message = text.slice(0, 500);
    return info;
  }
  if (typeof body !== 'object' || body === null) return info;
  const b = body as Record<string, unknown>;
  const e = b.error;
  if (typeof e === 'string') info.message = e; // xAI: {"code": "...", "error": "Incorrect API key ..."}
  if (typeof e === 'object' && e !== null) {
    const eo = e as Record<string, unknown>;
    info.message = str(eo.message);
    info.type = str(eo.type);
    info.code = str(eo.code);
    info.status = str(eo.status);
    if (Array.isArray(eo.details)) {
      for (const d of eo.details) {
        const reason = (d as { reason?: unknown } | null)?.reason;
        if (typeof reason === 'string') info.reasons.push(reason);
      }
    }
  }
  if (info.code === '') info.code = str(b.code);
  if (info.message === '') info.message = str(b.message) || str(b.msg);
  return info;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

/** 429 or 5xx with `Retry-After` etc. -> ProbeError; everything else passes through. */
export function throwTransient(res: HttpResponse, ctx: ProbeContext): void {
  throwForTransientStatus(res, ctx.now());
}

/** A status the adapter did not expect on this endpoint: we cannot tell what it means. */
export function unexpectedStatus(res: HttpResponse, what: string): ProbeError {
  if (res.status === 404) {
    return new ProbeError('config', `${what} answered HTTP 404: wrong base URL or provider?`, { status: 404 });
  }
  return new ProbeError('bad_response', `${what} answered HTTP ${res.status}`, { status: res.status });
}

/** Strips a provider prefix such as Gemini's `models/` for comparison with watchModels. */
export function sameModel(id: string, wanted: string): boolean {
  const bare = (s: string) => s.replace(/^models\//, '');
  return bare(id) === bare(wanted);
}

/** The model permission matrix: how many models, and may this key use each watched one. */
export function modelAccess(
  ids: readonly string[],
  watch: readonly string[],
  source: ModelAccess['source'],
  pricingKnown?: (id: string) => boolean | undefined,
): ModelAccess {
  const access: Record<string, boolean> = {};
  const pricing: Record<string, boolean> = {};
  for (const w of watch) {
    const hit = ids.find((id) => sameModel(id, w));
    access[w] = hit !== undefined;
    if (hit !== undefined && pricingKnown) {
      const p = pricingKnown(hit);
      if (p !== undefined) pricing[w] = p;
    }
  }
  return { count: ids.length, source, access, pricingKnown: pricing };
}

/** A decimal string or number as a number; undefined when it is neither. */
export function money(v: string | number | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v.trim());
  return Number.isFinite(n) && !(typeof v === 'string' && v.trim() === '') ? n : undefined;
}

/** Cents (or hundredths) to units without binary-float residue (`12345` -> 123.45). */
export function fromCents(cents: number): number {
  return Math.round(cents) === cents ? cents / 100 : Math.round(cents * 1e6) / 1e8;
}

/** What an adapter decides about a non-200 answer before the generic handling: facts, an error, or "not mine". */
export type Classify = (res: HttpResponse, info: ErrorInfo) => KeyFacts | ProbeError | undefined;

/** OpenAI's dialect: 401 revoked, 403 refused, 402 / 429 insufficient_quota = out of money. */
export const classifyOpenAiStyle: Classify = (res, info) => {
  if (res.status === 401) return { valid: false, validity: 'revoked' };
  if (res.status === 402 || isQuotaError(info)) {
    return new ProbeError('quota', `out of credit (HTTP ${res.status})`, { status: res.status });
  }
  if (res.status === 403) return { valid: false, validity: 'restricted' };
  return undefined;
};

/**
 * A non-200 answer to a key probe: a finding the classifier recognises (returned), or why we
 * cannot tell (thrown: the classifier's error, 429/5xx, or an unexpected status).
 */
export function refused(res: HttpResponse, ctx: ProbeContext, what: string, classify: Classify = classifyOpenAiStyle): KeyFacts {
  const verdict = classify(res, errorInfo(res.text));
  if (verdict instanceof ProbeError) throw verdict;
  if (verdict !== undefined) return verdict;
  throwTransient(res, ctx);
  throw unexpectedStatus(res, what);
}

/** The quota vocabulary providers use; a 429 carrying it is not a rate limit. */
export function isQuotaError(info: ErrorInfo): boolean {
  const words = `${info.type} ${info.code}`.toLowerCase();
  return (
    /insufficient_quota|billing_not_active|credit_balance_exhausted|exceeded_current_quota|insufficient_user_quota|pre_consume_token_quota_failed|insufficient_balance/.test(words) ||
    /credit balance is too low|insufficient balance|exceeded your current quota|used all available credits|reached its monthly spending limit|额度不足|额度已用尽|余额不足|欠费/i.test(info.message)
  );
}

export interface ModelsProbeOptions {
  /** Paths to try in order; the next one is tried on 404 (`/models`, then `/v1/models`). */
  paths: readonly string[];
  /** Request headers; default `Authorization: Bearer <key>`. */
  auth?: (ctx: ProbeContext) => Record<string, string | Secret>;
  /** Query parameters (a Secret value, Gemini's `?key=`, is sent but never shown). */
  query?: (ctx: ProbeContext) => GetOptions['query'];
  /** Model ids (and whether each one's price is known) from the parsed body; throws bad_response. Default: an OpenAI-style list. */
  parse?: (res: HttpResponse) => { ids: string[]; pricingKnown?: (id: string) => boolean | undefined };
  classify?: Classify;
  rateLimits?: (headers: Record<string, string>, now: number) => RateLimits;
  source?: ModelAccess['source'];
  /** Extra facts from a 200 (e.g. the organization from a header). */
  extra?: (res: HttpResponse) => KeyFacts;
}

/**
 * The probe most providers answer: GET the model list with the key. 200 = valid, with the model
 * permission matrix and whatever rate-limit headers came along; refusals are findings.
 */
export function modelsProbe(o: ModelsProbeOptions): (ctx: ProbeContext) => Promise<KeyFacts> {
  const auth = o.auth ?? ((ctx: ProbeContext) => ({ authorization: bearer(ctx.key) }));
  const parse: NonNullable<ModelsProbeOptions['parse']> = o.parse ?? parseOpenAiList(`GET ${o.paths[0] ?? '/models'}`);
  return async (ctx) => {
    let res: HttpResponse | undefined;
    for (const path of o.paths) {
      const query = o.query?.(ctx);
      res = await get(ctx, path, { headers: auth(ctx), ...(query !== undefined ? { query } : {}) });
      if (res.status !== 404) break;
    }
    if (res === undefined) throw new ProbeError('config', 'no models path configured');
    const rateLimits = o.rateLimits?.(res.headers, ctx.now());
    const hasLimits = rateLimits !== undefined && Object.keys(rateLimits).length > 0;
    if (res.status !== 200) {
      const verdict = (o.classify ?? classifyOpenAiStyle)(res, errorInfo(res.text));
      if (verdict instanceof ProbeError) throw verdict;
      if (verdict !== undefined) return hasLimits ? { ...verdict, rateLimits } : verdict;
      if (res.status === 429 && hasLimits) {
        const retryAfterMs = parseRetryAfter(res.headers['retry-after'], ctx.now());
        throw new ProbeError('rate_limited', 'rate limited (HTTP 429)', {
          status: 429,
          rateLimits,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        });
      }
      throwTransient(res, ctx);
      throw unexpectedStatus(res, `GET ${o.paths[0]}`);
    }
    const { ids, pricingKnown } = parse(res);
    const facts: KeyFacts = {
      valid: true,
      models: modelAccess(ids, ctx.watchModels, o.source ?? 'user', pricingKnown),
      ...(o.extra?.(res) ?? {}),
    };
    if (hasLimits) facts.rateLimits = rateLimits;
    return facts;
  };
}

/** Parses an OpenAI-style `{data:[{id}]}` list. */
export function parseOpenAiList(what: string): (res: HttpResponse) => { ids: string[] } {
  return (res) => ({ ids: decode(res, OpenAiModelList, what).data.map((m) => m.id) });
}
