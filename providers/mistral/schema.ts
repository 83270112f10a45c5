/**
 * Mistral wire shapes. Source: ../shared/reference/providers.md §8 "Mistral" (mistralai client
 * `BaseModelCard`: capabilities, max_context_length, aliases, deprecation).
 */
import { z } from 'zod';

export const ModelList = z.looseObject({
  data: z.array(
    z.looseObject({
      id: z.string(),
      aliases: z.array(z.string()).default([]),
      deprecation: z.string().nullable().optional(),
      capabilities: z.looseObject({ completion_chat: z.boolean().optional() }).optional(),
    }),
  ),
});
