/**
 * DeepSeek wire shapes. Source: ../shared/reference/providers.md §2
 * (https://api-docs.deepseek.com/zh-cn/api/get-user-balance.md): amounts are DECIMAL STRINGS,
 * currency `CNY` or `USD`, possibly one entry per currency.
 */
import { z } from 'zod';

const Amount = z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number);

/** `GET /user/balance` */
export const UserBalance = z.looseObject({
  is_available: z.boolean(),
  balance_infos: z.array(
    z.looseObject({
      currency: z.enum(['CNY', 'USD']),
      total_balance: Amount,
      granted_balance: Amount.optional(),
      topped_up_balance: Amount.optional(),
    }),
  ),
});
export type UserBalance = z.output<typeof UserBalance>;
