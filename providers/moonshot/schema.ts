/**
 * Moonshot / Kimi wire shapes. Source: ../shared/reference/providers.md §3
 * (https://platform.moonshot.cn/docs/api/balance): floats; CNY on api.moonshot.cn, USD on
 * api.moonshot.ai; `cash_balance` may be negative (arrears); success iff status && code == 0.
 */
import { z } from 'zod';

/** `GET /v1/users/me/balance` */
export const UserBalance = z.looseObject({
  code: z.number(),
  status: z.boolean(),
  scode: z.string().optional(),
  data: z
    .looseObject({
      available_balance: z.number(),
      voucher_balance: z.number().optional(),
      cash_balance: z.number().optional(),
    })
    .optional(),
});
