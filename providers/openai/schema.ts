/**
 * OpenAI wire shapes beyond the shared model list. Source: ../shared/reference/providers.md §6
 * (OpenAI API reference, Costs object: `amount.value` is in DOLLARS, not cents).
 */
import { z } from 'zod';

const CostResult = z.looseObject({
  amount: z.looseObject({ value: z.number(), currency: z.string().optional() }).optional(),
});

/** `GET /v1/organization/costs` page -> buckets with their dollar totals. */
export const CostsPage = z
  .looseObject({
    data: z.array(
      z.looseObject({
        start_time: z.number(),
        end_time: z.number(),
        results: z.array(CostResult),
      }),
    ),
    has_more: z.boolean().optional(),
    next_page: z.string().nullable().optional(),
  })
  .transform((p) => ({
    buckets: p.data.map((b) => ({
      start: b.start_time,
      end: b.end_time,
      dollars: b.results.reduce((sum, r) => sum + (r.amount?.value ?? 0), 0),
      currencies: [...new Set(b.results.map((r) => (r.amount?.currency ?? 'usd').toLowerCase()))],
    })),
    nextPage: p.has_more === true ? (p.next_page ?? undefined) : undefined,
  }));
export type CostsPage = z.output<typeof CostsPage>;
