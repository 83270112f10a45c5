/**
 * The probes one-api and new-api share (new-api is a fork and kept the wire format): validity and
 * the model matrix from `/v1/models`, the token's grant and spend from the OpenAI-clone billing
 * endpoints. Two traps: billing errors come back as HTTP 200 with an `error` body, and an
 * exhausted token answers 401 "该令牌额度已用尽" (quota), not a revoked key.
 */
import type { KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { parseJson, type HttpResponse } from '../../src/http/client.js';
import type { ProbeContext } from '../../src/provider.js';
import {
  bearer,
  decode,
  errorInfo,
  fromCents,
  get,
  isQuotaError,
  modelAccess,
  throwTransient,
  unexpectedStatus,
} from '../openai-compatible/common.js';
import { OpenAiModelList } from '../openai-compatible/schema.js';
import { BillingSubscription, BillingUsage, GatewayError, UNLIMITED_USD } from './schema.js';

/** Base URLs are configured with or without `/v1`; both layouts are allowed. */
export const GATEWAY_PATHS = [
  '/models',
  '/v1/models',
  '/dashboard/billing/subscription',
  '/v1/dashboard/billing/subscription',
  '/dashboard/billing/usage',
  '/v1/dashboard/billing/usage',
] as const;

/** A finding, an error, or the parsed JSON of a real 200. */
async function gatewayGet(ctx: ProbeContext, path: string): Promise<{ facts: KeyFacts } | { json: unknown; res: HttpResponse }> {
  let res = await get(ctx, path, { headers: { authorization: bearer(ctx.key) } });
  if (res.status === 404 && !ctx.baseUrl.endsWith('/v1')) {
    res = await get(ctx, `/v1${path}`, { headers: { authorization: bearer(ctx.key) } });
  }
  if (res.status !== 200) {
    const info = errorInfo(res.text);
    if (isQuotaError(info)) throw new ProbeError('quota', `token quota exhausted (HTTP ${res.status})`, { status: res.status });
    if (res.status === 401) return { facts: { valid: false, validity: 'revoked' } };
    if (res.status === 403) return { facts: { valid: false, validity: 'restricted' } };
    throwTransient(res, ctx);
    throw unexpectedStatus(res, `GET ${path}`);
  }
  const json = parseJson(res);
  const err = GatewayError.safeParse(json);
  if (err.success) {
    // HTTP 200 with an error body: the gateway's way of failing a billing call.
    const info = errorInfo(res.text);
    if (isQuotaError(info)) throw new ProbeError('quota', `token quota exhausted (error body on HTTP 200 from ${path})`);
    if (/无效的令牌|invalid token|未提供令牌/i.test(info.message)) return { facts: { valid: false, validity: 'revoked' } };
    throw new ProbeError('upstream', `the gateway reported an error on HTTP 200 from ${path} (type ${info.type || 'unknown'})`);
  }
  return { json, res };
}

export async function gatewayModels(ctx: ProbeContext): Promise<KeyFacts> {
  const got = await gatewayGet(ctx, '/models');
  if ('facts' in got) return got.facts;
  const list = OpenAiModelList.safeParse(got.json);
  if (!list.success) throw new ProbeError('bad_response', 'unexpected response shape from GET /models');
  return { valid: true, models: modelAccess(list.data.data.map((m) => m.id), ctx.watchModels, 'user') };
}

/**
 * The token's grant and spend. hard_limit_usd = remaining + used (dollars); total_usage is in
 * hundredths of a dollar. Unlimited tokens (100000000) have no limit to report.
 */
export async function gatewayBilling(ctx: ProbeContext): Promise<KeyFacts> {
  const sub = await gatewayGet(ctx, '/dashboard/billing/subscription');
  if ('facts' in sub) return sub.facts;
  const subscription = decode(sub.res, BillingSubscription, 'GET /dashboard/billing/subscription');
  const use = await gatewayGet(ctx, '/dashboard/billing/usage');
  if ('facts' in use) return use.facts;
  const usage = decode(use.res, BillingUsage, 'GET /dashboard/billing/usage');
  const used = fromCents(usage.total_usage);
  const facts: KeyFacts = { currency: 'USD', usage: { total: used } };
  if (subscription.hard_limit_usd >= UNLIMITED_USD) {
    facts.limit = null;
    facts.limitRemaining = null;
  } else {
    facts.limit = subscription.hard_limit_usd;
    facts.limitRemaining = Math.max(0, Math.round((subscription.hard_limit_usd - used) * 1e8) / 1e8);
  }
  if (subscription.access_until !== undefined) facts.expiresAt = subscription.access_until > 0 ? subscription.access_until : null;
  return facts;
}
