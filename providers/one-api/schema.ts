/**
 * one-api / new-api gateway billing shapes. Source: ../shared/reference/providers.md §9
 * (songquanpeng/one-api and QuantumNous/new-api `controller/billing.go`, `router/dashboard.go`):
 * `hard_limit_usd` is the TOTAL granted (remaining + used) in dollars, `total_usage` is in
 * HUNDREDTHS of a dollar ("unit: 0.01 dollar"), an unlimited token reports 100000000.
 */
import { z } from 'zod';

/** What one-api prints for an unlimited token's hard limit. */
export const UNLIMITED_USD = 100_000_000;

/** `GET /v1/dashboard/billing/subscription` */
export const BillingSubscription = z.looseObject({
  object: z.literal('billing_subscription').optional(),
  has_payment_method: z.boolean().optional(),
  soft_limit_usd: z.number().optional(),
  hard_limit_usd: z.number(),
  system_hard_limit_usd: z.number().optional(),
  /** Unix seconds; 0 = never. */
  access_until: z.number().optional(),
});

/** `GET /v1/dashboard/billing/usage` */
export const BillingUsage = z.looseObject({
  object: z.string().optional(),
  total_usage: z.number(),
});

/** Gateways answer billing errors with HTTP 200 and this body; always look for it. */
export const GatewayError = z.looseObject({
  error: z.looseObject({ message: z.string().optional(), type: z.string().optional(), code: z.unknown().optional() }),
});
