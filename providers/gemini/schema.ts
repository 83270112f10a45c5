/**
 * Gemini (AI Studio) wire shapes. Source: ../shared/reference/providers.md "Google Gemini"
 * (https://ai.google.dev/api/models; Google RPC error envelope with ErrorInfo / RetryInfo details).
 */
import { z } from 'zod';

/** `GET /v1beta/models` -> `{models:[{name:"models/gemini-2.0-flash", ...}], nextPageToken}` */
export const ModelsPage = z.looseObject({
  models: z.array(
    z.looseObject({
      name: z.string(),
      displayName: z.string().optional(),
      supportedGenerationMethods: z.array(z.string()).optional(),
    }),
  ).default([]),
  nextPageToken: z.string().optional(),
});

/** `{error:{code,message,status,details:[{"@type", reason, retryDelay, ...}]}}` */
export const GoogleError = z.looseObject({
  error: z.looseObject({
    code: z.number().optional(),
    status: z.string().optional(),
    message: z.string().optional(),
    details: z.array(z.looseObject({ '@type': z.string().optional(), reason: z.string().optional(), retryDelay: z.string().optional() })).default([]),
  }),
});
