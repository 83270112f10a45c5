/**
 * SiliconFlow: `GET /v1/user/info` is validity and balance (`code: 20000` envelope, string
 * amounts; CNY on .cn, USD on .com), `GET /v1/models` the matrix. An account whose status is not
 * `normal` is reported disabled. Facts: ../shared/reference/providers.md §4.
 */
import type { Currency, KeyFacts } from '../../probes/types.js';
import { ProbeError } from '../../src/errors.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import {
  bearer,
  decode,
  get,
  modelsProbe,
  refused,
} from '../openai-compatible/common.js';
import { UserInfo } from './schema.js';

/** .com is the international site, priced in USD (UNSURE in the reference; .cn is CNY). */
export function siliconflowCurrency(baseUrl: string): Currency {
  return URL.canParse(baseUrl) && new URL(baseUrl).hostname.endsWith('siliconflow.com') ? 'USD' : 'CNY';
}

export const siliconflow = {
  id: 'siliconflow',
  displayName: 'SiliconFlow',
  defaultBaseUrl: 'https://api.siliconflow.cn/v1',
  currency: siliconflowCurrency,
  allowedPaths: ['/user/info', '/models'],
  identify: {
    hosts: ['api.siliconflow.cn', 'api.siliconflow.com'],
  },
  probes: {
    current_key: userInfo,
    models: modelsProbe({
      paths: ['/models'],
    }),
  },
} satisfies ProviderAdapter;

async function userInfo(ctx: ProbeContext): Promise<KeyFacts> {
  const res = await get(ctx, '/user/info', { headers: { authorization: bearer(ctx.key) } });
  if (res.status !== 200) return refused(res, ctx, 'GET /user/info');
  const body = decode(res, UserInfo, 'GET /user/info');
  if (body.code !== 20000 || body.data === undefined) {
    throw new ProbeError('upstream', `SiliconFlow reported failure in the envelope (code ${body.code})`);
  }
  const currency = siliconflowCurrency(ctx.baseUrl);
  const facts: KeyFacts = { valid: true, currency, balance: body.data.totalBalance, balanceCurrency: currency };
  if (body.data.status !== undefined && body.data.status !== 'normal') {
    facts.valid = false;
    facts.validity = 'disabled';
    facts.disabled = true;
  }
  return facts;
}
