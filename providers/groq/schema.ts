/**
 * Groq wire shapes. Source: ../shared/reference/providers.md §8 "Groq": OpenAI-style /models with
 * extra `active`, `context_window`, `max_completion_tokens`.
 */
import { z } from 'zod';

export const ModelList = z.looseObject({
  data: z.array(z.looseObject({ id: z.string(), active: z.boolean().optional(), context_window: z.number().optional() })),
});
