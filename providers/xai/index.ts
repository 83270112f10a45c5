/**
 * xAI: `GET /v1/api-key` introspects the key (team, ACLs, blocked/disabled; a bad key is HTTP 400,
 * not 401), `GET /v1/models` gives the list the ACLs are checked against, and the prepaid balance
 * comes from the Management API (management-api.x.ai, a management key as adminKey) as a negated
 * ledger in cents. Facts: ../shared/reference/providers.md §5.
 */
import type { KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { suffixRateLimits } from '../../src/http/ratelimit.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import {
  bearer,
  type Classify,
  decode,
  fromCents,
  get,
  isQuotaError,
  modelAccess,
  parseOpenAiList,
  refused,
  throwTransient,
  unexpectedStatus,
} from '../openai-compatible/common.js';
import { ApiKeyInfo, PrepaidBalance } from './schema.js';

const BALANCE_PATH = /^\/v1\/billing\/teams\/[A-Za-z0-9-]+\/prepaid\/balance$/;

export const xai = {
  id: 'xai',
  displayName: 'xAI',
  defaultBaseUrl: 'https://api.x.ai/v1',
  currency: 'USD',
  allowedPaths: ['/api-key', '/models', BALANCE_PATH],
  identify: {
    keyPatterns: [
      { pattern: /^xai-[0-9A-Za-z_]{80}$/, weight: 0.95 },
      { pattern: /^xai-/, weight: 0.85 },
    ],
    hosts: ['api.x.ai'],
  },
  probes: {
    current_key: apiKey,
    balance_snapshot: prepaidBalance,
    models,
  },
} satisfies ProviderAdapter;

/** 400 "Incorrect API key provided" and 401 are a dead key; 403 permission-denied about credits is quota. */
function classifyXai(...[res, info]: Parameters<Classify>): ReturnType<Classify> {
  if (isQuotaError(info)) return new ProbeError('quota', `team out of credits or at its spending limit (HTTP ${res.status})`, { status: res.status });
  if (res.status === 401 || (res.status === 400 && /incorrect api key|invalid-argument|invalid argument/i.test(`${info.message} ${info.code}`))) {
    return { valid: false, validity: 'revoked' };
  }
  if (res.status === 403) return { valid: false, validity: 'restricted' };
  return undefined;
}

async function apiKey(ctx: ProbeContext): Promise<KeyFacts> {
  const res = await get(ctx, '/api-key', { headers: { authorization: bearer(ctx.key) } });
  if (res.status !== 200) return refused(res, ctx, 'GET /api-key', classifyXai);
  const k = decode(res, ApiKeyInfo, 'GET /api-key');
  const facts: KeyFacts = {
    valid: !(k.team_blocked || k.api_key_blocked || k.api_key_disabled),
    disabled: k.api_key_disabled,
    identity: {
      provider: 'xai',
      confidence: 0.95,
      matchesClaim: true,
      evidence: [{ signal: '/v1/api-key answered with xAI key fields (team_id, acls)', provider: 'xai', weight: 0.95 }],
      account: k.team_id,
    },
  };
  if (k.name !== undefined) facts.label = k.name;
  if (k.api_key_disabled) facts.validity = 'disabled';
  else if (k.team_blocked || k.api_key_blocked) facts.validity = 'blocked';
  else if (!hasWildcardModels(k.acls)) facts.validity = 'restricted';
  const rateLimits = suffixRateLimits(res.headers, { now: ctx.now() });
  if (Object.keys(rateLimits).length > 0) facts.rateLimits = rateLimits;
  return facts;
}

function hasWildcardModels(acls: readonly string[]): boolean {
  return acls.some((a) => a === 'api-key:model:*' || a === '*' || a === 'api-key:*');
}

/** The models this key may use: the catalogue, narrowed by the key's `api-key:model:<name>` ACLs. */
async function models(ctx: ProbeContext): Promise<KeyFacts> {
  const res = await get(ctx, '/models', { headers: { authorization: bearer(ctx.key) } });
  if (res.status !== 200) return refused(res, ctx, 'GET /models', classifyXai);
  const { ids } = parseOpenAiList('GET /models')(res);
  const keyRes = await get(ctx, '/api-key', { headers: { authorization: bearer(ctx.key) } });
  let allowed = ids;
  let source: 'user' | 'acl' = 'user';
  if (keyRes.status === 200) {
    const acls = decode(keyRes, ApiKeyInfo, 'GET /api-key').acls;
    if (!hasWildcardModels(acls)) {
      const named = new Set(acls.filter((a) => a.startsWith('api-key:model:')).map((a) => a.slice('api-key:model:'.length)));
      allowed = ids.filter((id) => named.has(id));
      source = 'acl';
    }
  }
  return { models: modelAccess(allowed, ctx.watchModels, source) };
}

/** The Management API lives on its own host; on a custom base URL (a sim, a proxy) the same origin. */
export function managementBase(baseUrl: string): string {
  const u = new URL(baseUrl);
  return u.hostname === 'api.x.ai' ? 'https://management-api.x.ai' : u.origin;
}

/**
 * Prepaid credit left, from the management key. The ledger is negated cents: "-1000" = $10.00 left.
 * It is posted at billing-cycle close, so it can run ahead of the live credit.
 */
async function prepaidBalance(ctx: ProbeContext): Promise<KeyFacts | undefined> {
  const team = ctx.known.identity?.account;
  if (ctx.adminKey === undefined || team === undefined || ctx.httpAt === undefined) return undefined;
  if (!/^[A-Za-z0-9-]+$/.test(team)) throw new ProbeError('bad_response', 'xAI reported a team id that is not a plain id');
  const res = await ctx.httpAt(managementBase(ctx.baseUrl)).get(`/v1/billing/teams/${team}/prepaid/balance`, {
    headers: { authorization: bearer(ctx.adminKey) },
    timeoutMs: ctx.timeoutMs,
  });
  if (res.status === 400 || res.status === 401 || res.status === 403) {
    throw new ProbeError('auth', `adminKey was refused by the xAI Management API (HTTP ${res.status}); it needs a management key`, {
      status: res.status,
    });
  }
  throwTransient(res, ctx);
  if (res.status !== 200) throw unexpectedStatus(res, 'GET prepaid balance');
  const { cents } = decode(res, PrepaidBalance, 'GET prepaid balance');
  return { balance: fromCents(cents), balanceCurrency: 'USD' };
}
