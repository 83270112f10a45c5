/**
 * Anthropic: validity and the model matrix from `GET /v1/models` (x-api-key + anthropic-version),
 * `anthropic-ratelimit-*` headers (RFC 3339 resets), spend from the Admin API cost report with an
 * admin key (amounts are CENTS as decimal strings). Out of credit arrives as HTTP 400 "Your credit
 * balance is too low": quota, not a bad request. Facts: ../shared/reference/providers.md §7.
 */
import type { KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { infixRateLimits } from '../../src/http/ratelimit.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import type { Secret } from '../../src/secret.js';
import { decode, fromCents, get, isQuotaError, modelsProbe, throwTransient, unexpectedStatus, type Classify } from '../openai-compatible/common.js';
import { CostReport, ModelList } from './schema.js';

export const ANTHROPIC_VERSION = '2023-06-01';
const MAX_COST_PAGES = 4;

export const anthropic = {
  id: 'anthropic',
  displayName: 'Anthropic',
  defaultBaseUrl: 'https://api.anthropic.com/v1',
  currency: 'USD',
  allowedPaths: ['/models', '/organizations/cost_report'],
  identify: {
    keyPatterns: [
      { pattern: /^sk-ant-(api03|admin01)-[\w-]{93}AA$/, weight: 0.95 },
      { pattern: /^sk-ant-/, weight: 0.85 },
    ],
    hosts: ['api.anthropic.com'],
    headers: [
      { name: 'anthropic-organization-id', weight: 0.9 },
      { name: 'anthropic-ratelimit-requests-limit', weight: 0.7 },
    ],
  },
  probes: {
    current_key: modelsProbe({
      paths: ['/models'],
      auth: (ctx) => headers(ctx.key),
      query: () => ({ limit: 1000 }),
      parse: (res) => ({ ids: decode(res, ModelList, 'GET /models').data.map((m) => m.id) }),
      classify: classifyAnthropic,
      rateLimits: (h, now) => infixRateLimits(h, { prefix: 'anthropic-ratelimit-', reset: 'rfc3339', now }),
    }),
    balance_snapshot: costReport,
  },
} satisfies ProviderAdapter;

function headers(key: Secret): Record<string, string | Secret> {
  return { 'x-api-key': key, 'anthropic-version': ANTHROPIC_VERSION };
}

/** 401, and 404 ("returned if api key is disabled or not found"), mean a dead key; 400 is never one. */
function classifyAnthropic(...[res, info]: Parameters<Classify>): ReturnType<Classify> {
  if (isQuotaError(info) || info.type === 'billing_error') {
    return new ProbeError('quota', `credit balance too low (HTTP ${res.status})`, { status: res.status });
  }
  if (res.status === 401 || (res.status === 404 && info.type !== '')) return { valid: false, validity: 'revoked' };
  if (res.status === 403) return { valid: false, validity: 'restricted' };
  if (res.status === 529) return new ProbeError('upstream', 'Anthropic overloaded (HTTP 529)', { status: 529 });
  return undefined;
}

/** This UTC month's and today's organization spend from the cost report, converted from cents. */
async function costReport(ctx: ProbeContext): Promise<KeyFacts | undefined> {
  if (ctx.adminKey === undefined) return undefined;
  const now = new Date(ctx.now());
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000;
  let monthCents = 0;
  let dayCents = 0;
  let page: string | undefined;
  for (let i = 0; i < MAX_COST_PAGES; i++) {
    const res = await get(ctx, '/organizations/cost_report', {
      headers: headers(ctx.adminKey),
      query: { starting_at: new Date(monthStart).toISOString(), bucket_width: '1d', limit: 31, page },
    });
    if (res.status === 401 || res.status === 403) {
      throw new ProbeError('auth', `adminKey was refused by the cost report (HTTP ${res.status}); it needs an sk-ant-admin01 key`, {
        status: res.status,
      });
    }
    throwTransient(res, ctx);
    if (res.status !== 200) throw unexpectedStatus(res, 'GET /organizations/cost_report');
    const body = decode(res, CostReport, 'GET /organizations/cost_report');
    if (body.buckets.some((b) => b.currencies.some((c) => c !== 'USD'))) {
      throw new ProbeError('bad_response', 'the cost report used a currency other than USD');
    }
    for (const b of body.buckets) {
      monthCents += b.cents;
      if (b.start >= dayStart) dayCents += b.cents;
    }
    page = body.nextPage;
    if (page === undefined) break;
  }
  return { currency: 'USD', usage: { monthly: fromCents(monthCents), daily: fromCents(dayCents) } };
}
