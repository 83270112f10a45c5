/**
 * DeepSeek: `GET /user/balance` is both the validity probe (401 "Authentication Fails") and the
 * account balance (decimal strings, CNY or USD); `GET /models` gives the model matrix. 402
 * "Insufficient Balance" is quota. No rate-limit headers are documented (limits are account-level
 * concurrency). Facts: ../shared/reference/providers.md §2.
 */
import type { Currency, KeyFacts } from '../../probes/types.js';
import type { ProbeContext, ProviderAdapter } from '../../src/provider.js';
import {
  bearer,
  decode,
  get,
  modelsProbe,
  refused,
} from '../openai-compatible/common.js';
import { UserBalance } from './schema.js';

export const deepseek = {
  id: 'deepseek',
  displayName: 'DeepSeek',
  defaultBaseUrl: 'https://api.deepseek.com',
  currency: 'CNY',
  allowedPaths: ['/user/balance', '/models'],
  identify: {
    // The prefix is generic (`sk-` + 32 lowercase hex-ish): weak alone.
    keyPatterns: [{ pattern: /^sk-[a-z0-9]{32}$/, weight: 0.3 }],
    hosts: ['api.deepseek.com'],
  },
  probes: {
    current_key: balance,
    models: modelsProbe({
      paths: ['/models'],
    }),
  },
} satisfies ProviderAdapter;

async function balance(ctx: ProbeContext): Promise<KeyFacts> {
  const res = await get(ctx, '/user/balance', { headers: { authorization: bearer(ctx.key) } });
  if (res.status !== 200) return refused(res, ctx, 'GET /user/balance');
  const body = decode(res, UserBalance, 'GET /user/balance');
  const pick = pickBalance(body);
  const facts: KeyFacts = { valid: true };
  if (pick !== undefined) {
    facts.balance = pick.total_balance;
    facts.balanceCurrency = pick.currency;
    facts.currency = pick.currency;
  } else if (!body.is_available) {
    // No entry at all and "not available": nothing left to spend, in the account's default currency.
    facts.balance = 0;
    facts.balanceCurrency = 'CNY';
  }
  return facts;
}

/** One balance per fact: the currency that holds money (CNY first, as DeepSeek's home currency). */
export function pickBalance(b: UserBalance): { currency: Currency; total_balance: number } | undefined {
  const order: Currency[] = ['CNY', 'USD'];
  const sorted = [...b.balance_infos].sort((x, y) => order.indexOf(x.currency) - order.indexOf(y.currency));
  return sorted.find((i) => i.total_balance !== 0) ?? sorted[0];
}
