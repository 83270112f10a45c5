/**
 * Moonshot / Kimi: `GET /v1/users/me/balance` is validity and balance (CNY on api.moonshot.cn,
 * USD on api.moonshot.ai; available = cash + voucher, cash may be negative); `GET /v1/models`
 * gives the matrix. Insufficient balance has been reported both as 429
 * `exceeded_current_quota_error` and as 403: both are quota. Facts: ../shared/reference/providers.md §3.
 */
import type { Currency, KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import { plainRateLimit } from '../../src/http/ratelimit.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import {
  bearer,
  type Classify,
  classifyOpenAiStyle,
  decode,
  get,
  isQuotaError,
  modelsProbe,
  refused,
} from '../openai-compatible/common.js';
import { UserBalance } from './schema.js';

export function moonshotCurrency(baseUrl: string): Currency {
  return URL.canParse(baseUrl) && new URL(baseUrl).hostname.endsWith('moonshot.ai') ? 'USD' : 'CNY';
}

export const moonshot = {
  id: 'moonshot',
  displayName: 'Moonshot (Kimi)',
  defaultBaseUrl: 'https://api.moonshot.cn/v1',
  currency: moonshotCurrency,
  allowedPaths: ['/users/me/balance', '/models'],
  identify: {
    hosts: ['api.moonshot.cn', 'api.moonshot.ai'],
  },
  probes: {
    current_key: balance,
    models: modelsProbe({
      paths: ['/models'],
      classify: classifyMoonshot,
      rateLimits: (h, now) => plainRateLimit(h, { dimension: 'requests', now }),
    }),
  },
} satisfies ProviderAdapter;

function classifyMoonshot(...[res, info]: Parameters<Classify>): ReturnType<Classify> {
  if (res.status === 403 || isQuotaError(info)) {
    return new ProbeError('quota', `insufficient balance (HTTP ${res.status})`, { status: res.status });
  }
  return classifyOpenAiStyle(res, info);
}

async function balance(ctx: ProbeContext): Promise<KeyFacts> {
  const res = await get(ctx, '/users/me/balance', { headers: { authorization: bearer(ctx.key) } });
  if (res.status !== 200) return refused(res, ctx, 'GET /users/me/balance', classifyMoonshot);
  const body = decode(res, UserBalance, 'GET /users/me/balance');
  if (!body.status || body.code !== 0 || body.data === undefined) {
    throw new ProbeError('upstream', `Moonshot reported failure in the envelope (code ${body.code})`);
  }
  const currency = moonshotCurrency(ctx.baseUrl);
  const facts: KeyFacts = { valid: true, currency, balance: body.data.available_balance, balanceCurrency: currency };
  const rateLimits = plainRateLimit(res.headers, { dimension: 'requests', now: ctx.now() });
  if (Object.keys(rateLimits).length > 0) facts.rateLimits = rateLimits;
  return facts;
}
