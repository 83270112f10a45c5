/**
 * SiliconFlow wire shapes. Source: ../shared/reference/providers.md §4
 * (https://docs.siliconflow.cn/cn/api-reference/userinfo/get-user-info): success iff
 * `code == 20000`; balances are DECIMAL STRINGS (`balance` gift, `chargeBalance` paid,
 * `totalBalance` the sum).
 */
import { z } from 'zod';

const Amount = z.string().regex(/^-?\d+(\.\d+)?$/).transform(Number);

/** `GET /v1/user/info` */
export const UserInfo = z.looseObject({
  code: z.number(),
  message: z.string().optional(),
  status: z.boolean().optional(),
  data: z
    .looseObject({
      id: z.string().optional(),
      status: z.string().optional(),
      balance: Amount.optional(),
      chargeBalance: Amount.optional(),
      totalBalance: Amount,
    })
    .optional(),
});
