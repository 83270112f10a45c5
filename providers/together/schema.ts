/**
 * Together AI wire shapes. Source: ../shared/reference/providers.md §8 "Together AI"
 * (https://docs.together.ai/reference/models): `/v1/models` is a BARE ARRAY; pricing in USD per 1M tokens.
 */
import { z } from 'zod';

export const ModelArray = z.array(
  z.looseObject({
    id: z.string(),
    type: z.string().optional(),
    pricing: z.looseObject({ input: z.number().optional(), output: z.number().optional() }).optional(),
  }),
);
