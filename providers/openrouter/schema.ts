/**
 * OpenRouter wire shapes (only the fields keywatch uses; lenient on the rest).
 * Source: OpenRouter OpenAPI spec (OpenRouterTeam/typescript-sdk .speakeasy/in.openapi.yaml) and
 * ../shared/reference/providers.md §1. Fixtures and the simulator are checked against @openrouter/sdk.
 */
import { z } from 'zod';

const Money = z.number();

/** GET /api/v1/key -> { data: CurrentKey } */
export const CurrentKey = z.object({
  label: z.string().optional(),
  limit: Money.nullable(),
  limit_remaining: Money.nullable().optional(),
  limit_reset: z.string().nullable().optional(),
  include_byok_in_limit: z.boolean().optional(),
  usage: Money,
  usage_daily: Money.optional(),
  usage_weekly: Money.optional(),
  usage_monthly: Money.optional(),
  byok_usage: Money.optional(),
  byok_usage_daily: Money.optional(),
  byok_usage_weekly: Money.optional(),
  byok_usage_monthly: Money.optional(),
  is_free_tier: z.boolean().optional(),
  is_management_key: z.boolean().optional(),
  /** Deprecated name of is_management_key. */
  is_provisioning_key: z.boolean().optional(),
  expires_at: z.string().nullable().optional(),
  /** Newer responses: the free-model daily allowance. */
  free_model_daily_requests: z
    .object({ limit: z.number(), remaining: z.number(), used: z.number().optional() })
    .nullable()
    .optional(),
});
export type CurrentKey = z.infer<typeof CurrentKey>;

export const CurrentKeyResponse = z.object({ data: CurrentKey });

/** GET /api/v1/credits (management key) -> { data: { total_credits, total_usage } } */
export const Credits = z.object({ data: z.object({ total_credits: Money, total_usage: Money }) });

const Pricing = z.object({ prompt: z.string(), completion: z.string() }).passthrough();

export const Model = z.object({ id: z.string(), pricing: Pricing.optional() }).passthrough();
export type Model = z.infer<typeof Model>;

/** GET /api/v1/models[/user] -> { data: Model[], total_count?, links? } (older responses: data only) */
export const ModelsList = z.object({ data: z.array(Model), total_count: z.number().optional() });

/** GET /api/v1/keys (management key) -> { data: ApiKey[] } */
export const ApiKey = CurrentKey.extend({
  hash: z.string(),
  name: z.string(),
  disabled: z.boolean(),
});
export type ApiKey = z.infer<typeof ApiKey>;
export const KeysList = z.object({ data: z.array(ApiKey) });

/** Error envelope: { error: { code, message, metadata? } } */
export const ErrorBody = z.object({
  error: z.object({
    code: z.union([z.number(), z.string()]).optional(),
    message: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  }),
});
