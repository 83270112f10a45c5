/**
 * The OpenAI wire shapes most providers copy. Lenient: unknown fields are kept (identification
 * reads gateway extras such as one-api's `permission` or new-api's `supported_endpoint_types`).
 * Source: openai-node `Model` (id, object, created, owned_by); ../shared/reference/providers.md §6, §11.
 */
import { z } from 'zod';

export const OpenAiModel = z.looseObject({
  id: z.string(),
  object: z.string().optional(),
  created: z.number().nullable().optional(),
  owned_by: z.string().nullable().optional(),
});
export type OpenAiModel = z.infer<typeof OpenAiModel>;

/** `{"object":"list","data":[Model...]}` */
export const OpenAiModelList = z.looseObject({
  object: z.string().optional(),
  data: z.array(OpenAiModel),
});
export type OpenAiModelList = z.infer<typeof OpenAiModelList>;

/** The OpenAI error envelope `{"error":{"message","type","param","code"}}`. */
export const OpenAiError = z.looseObject({
  error: z.looseObject({
    message: z.string().optional(),
    type: z.string().nullable().optional(),
    code: z.union([z.string(), z.number()]).nullable().optional(),
  }),
});
