/**
 * xAI wire shapes. Source: ../shared/reference/providers.md §5 (https://docs.x.ai/docs/api-reference#api-key;
 * management API billing: `total.val` is an INVERTED ledger in string USD CENTS, a $10 top-up = "-1000").
 */
import { z } from 'zod';

/** `GET /v1/api-key` */
export const ApiKeyInfo = z.looseObject({
  redacted_api_key: z.string().optional(),
  name: z.string().optional(),
  team_id: z.string(),
  api_key_id: z.string().optional(),
  acls: z.array(z.string()).default([]),
  team_blocked: z.boolean().default(false),
  api_key_blocked: z.boolean().default(false),
  api_key_disabled: z.boolean().default(false),
});
export type ApiKeyInfo = z.output<typeof ApiKeyInfo>;

/** `GET /v1/billing/teams/{team_id}/prepaid/balance` (management key) -> dollars left. */
export const PrepaidBalance = z
  .looseObject({ total: z.looseObject({ val: z.string().regex(/^-?\d+(\.\d+)?$/) }) })
  .transform((b) => ({ cents: -Number(b.total.val) }));
