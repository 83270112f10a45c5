/**
 * Anthropic wire shapes. Source: ../shared/reference/providers.md §7 (@anthropic-ai/sdk `ModelInfo`;
 * platform.claude.com/docs/en/api/admin/cost_report: `amount` is "Cost amount in lowest currency
 * units (e.g. cents) as a decimal string. For example, "123.45" in "USD" represents $1.23").
 */
import { z } from 'zod';

/** `GET /v1/models` -> `{data:[{type:"model", id, display_name, created_at}], has_more, first_id, last_id}` */
export const ModelList = z.looseObject({
  data: z.array(z.looseObject({ id: z.string(), type: z.string().optional(), display_name: z.string().optional() })),
  has_more: z.boolean().optional(),
  last_id: z.string().nullable().optional(),
});

/** `{"type":"error","error":{"type","message"},"request_id"}` */
export const ErrorEnvelope = z.looseObject({
  type: z.literal('error'),
  error: z.looseObject({ type: z.string(), message: z.string().optional() }),
});

const CentsString = z.string().regex(/^-?\d+(\.\d+)?$/);

/** `GET /v1/organizations/cost_report` page -> buckets in DOLLARS (cents / 100). */
export const CostReport = z
  .looseObject({
    data: z.array(
      z.looseObject({
        starting_at: z.string(),
        ending_at: z.string().optional(),
        results: z.array(z.looseObject({ amount: CentsString, currency: z.string().optional() })),
      }),
    ),
    has_more: z.boolean().optional(),
    next_page: z.string().nullable().optional(),
  })
  .transform((p) => ({
    buckets: p.data.map((b) => ({
      start: Date.parse(b.starting_at) / 1000,
      cents: b.results.reduce((sum, r) => sum + Number(r.amount), 0),
      currencies: [...new Set(b.results.map((r) => (r.currency ?? 'USD').toUpperCase()))],
    })),
    nextPage: p.has_more === true ? (p.next_page ?? undefined) : undefined,
  }));
