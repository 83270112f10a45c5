/**
 * OpenAI: validity and the model matrix from `GET /v1/models` (401 = revoked; 403 "Missing scopes"
 * = a restricted key that still works for what it may do), spend from the organization Costs API
 * with an admin key (`sk-admin-...`). OpenAI has no balance API. Facts: ../shared/reference/providers.md §6.
 */
import type { KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { suffixRateLimits } from '../../src/http/ratelimit.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import {
  bearer,
  classifyOpenAiStyle,
  decode,
  get,
  modelsProbe,
  throwTransient,
  unexpectedStatus,
  type Classify,
} from '../openai-compatible/common.js';
import { CostsPage } from './schema.js';

/** At most this many Costs pages per probe (a month of daily buckets is one page of 31). */
const MAX_COST_PAGES = 4;

export const openai = {
  id: 'openai',
  displayName: 'OpenAI',
  defaultBaseUrl: 'https://api.openai.com/v1',
  currency: 'USD',
  allowedPaths: ['/models', '/organization/costs', '/dashboard/billing/subscription'],
  identify: {
    keyPatterns: [
      { pattern: /^sk-(proj|svcacct|service|admin)-[A-Za-z0-9_-]*T3BlbkFJ/, weight: 0.95 },
      { pattern: /^sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}$/, weight: 0.95 },
      { pattern: /^sk-(proj|svcacct|admin)-/, weight: 0.8 },
    ],
    hosts: ['api.openai.com'],
    headers: [
      { name: 'openai-organization', weight: 0.8 },
      { name: 'openai-processing-ms', weight: 0.6 },
      { name: 'openai-version', weight: 0.5 },
    ],
  },
  probes: {
    current_key: modelsProbe({
      paths: ['/models'],
      classify: classifyOpenAi(),
      // Reset values are Go durations relative to now (`6m0s`); present on some responses only.
      rateLimits: (headers, now) => suffixRateLimits(headers, { reset: 'duration', now }),
    }),
    balance_snapshot: costs,
  },
} satisfies ProviderAdapter;

/** 403 "Missing scopes: api.model.read" is a restricted key, which is still a working key. */
function classifyOpenAi(): Classify {
  return (res, info) => {
    if (res.status === 403 && /missing scopes/i.test(info.message)) return { valid: true, validity: 'restricted' };
    return classifyOpenAiStyle(res, info);
  };
}

/**
 * Organization spend this UTC month and today, from `GET /organization/costs` with the admin key.
 * Organization-wide (the Costs API does not break down by API key without a project filter).
 */
async function costs(ctx: ProbeContext): Promise<KeyFacts | undefined> {
  if (ctx.adminKey === undefined) return undefined;
  const now = new Date(ctx.now());
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) / 1000;
  const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000;
  let monthly = 0;
  let daily = 0;
  let page: string | undefined;
  for (let i = 0; i < MAX_COST_PAGES; i++) {
    const res = await get(ctx, '/organization/costs', {
      headers: { authorization: bearer(ctx.adminKey) },
      query: { start_time: monthStart, bucket_width: '1d', limit: 31, page },
    });
    if (res.status === 401 || res.status === 403) {
      throw new ProbeError('auth', `adminKey was refused by /organization/costs (HTTP ${res.status}); it needs an sk-admin key`, {
        status: res.status,
      });
    }
    throwTransient(res, ctx);
    if (res.status !== 200) throw unexpectedStatus(res, 'GET /organization/costs');
    const body = decode(res, CostsPage, 'GET /organization/costs');
    if (body.buckets.some((b) => b.currencies.some((c) => c !== 'usd'))) {
      throw new ProbeError('bad_response', '/organization/costs reported a currency other than USD');
    }
    for (const b of body.buckets) {
      monthly += b.dollars;
      if (b.start >= dayStart) daily += b.dollars;
    }
    page = body.nextPage;
    if (page === undefined) break;
  }
  return { currency: 'USD', usage: { monthly: round(monthly), daily: round(daily) } };
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}
