/**
 * WHAT keywatch can measure about a key, independent of any provider.
 * A provider adapter answers some of these probe kinds; each answer is a partial KeyFacts
 * that the probe run folds into the key's snapshot.
 */
import type { ProbeErrorKind } from '../src/errors.js';

export type ProbeKind = 'current_key' | 'balance_snapshot' | 'models' | 'rate_limits' | 'identity';

export const PROBE_KINDS: readonly ProbeKind[] = ['current_key', 'balance_snapshot', 'models', 'rate_limits', 'identity'];

export type Currency = 'USD' | 'CNY';

export type LimitReset = 'daily' | 'weekly' | 'monthly';

export interface UsageWindows {
  /** All-time, monotonic (resets never). */
  total?: number;
  /** Current UTC day / week (Mon-Sun) / month. */
  daily?: number;
  weekly?: number;
  monthly?: number;
}

export interface RateLimitWindow {
  limit?: number;
  remaining?: number;
  /** Epoch seconds of the next reset. */
  resetAt?: number;
}

/** Rate-limit signals by dimension, e.g. `requests`, `tokens`, `input_tokens`, `free_daily`. */
export type RateLimits = Record<string, RateLimitWindow>;

export interface ModelAccess {
  /** How many models this key may use. */
  count: number;
  /** `user`: a per-key list; `public`: the provider's catalogue (access not key-specific). */
  source: 'user' | 'public' | 'acl';
  /** For each watched model: may this key use it? */
  access: Record<string, boolean>;
  /** For each watched model present: is its price known (router "-1" = unknown)? */
  pricingKnown: Record<string, boolean>;
}

export interface IdentityEvidence {
  signal: string;
  provider: string;
  weight: number;
}

export interface Identity {
  provider: string;
  confidence: number;
  /** The claimed (configured) provider matches what answers. */
  matchesClaim: boolean;
  evidence: IdentityEvidence[];
  /** Provider-reported account facts that may identify the owner (org id, team id); never secret. */
  account?: string;
}

/** What is known about a key. `undefined` = unknown; `null` on limit fields = unlimited. */
export interface KeyFacts {
  valid?: boolean;
  /** Why it is invalid or restricted: `revoked`, `disabled`, `blocked`, `restricted`, `expired`. */
  validity?: string;
  label?: string;
  currency?: Currency;
  usage?: UsageWindows;
  byokUsage?: UsageWindows;
  /** Spend limit; `null` = unlimited. */
  limit?: number | null;
  limitRemaining?: number | null;
  limitReset?: LimitReset | null;
  /** Epoch seconds of the next limit reset (derived from limitReset). */
  limitResetAt?: number;
  /** Account credit left; never reported from a source that cannot know it. */
  balance?: number;
  balanceCurrency?: Currency;
  isFreeTier?: boolean;
  isManagementKey?: boolean;
  disabled?: boolean;
  /** Epoch seconds, or null for never. */
  expiresAt?: number | null;
  models?: ModelAccess;
  rateLimits?: RateLimits;
  identity?: Identity;
}

/** What one probe run tells: facts, or why it could not. */
export interface ProbeOutcome {
  probe: ProbeKind;
  ok: boolean;
  errorKind?: ProbeErrorKind;
  status?: number;
  /** Scrubbed, truncated; never a provider body. */
  message?: string;
  durationMs: number;
  /** Epoch ms the probe started. */
  at: number;
  retryAfterMs?: number;
  facts?: KeyFacts;
}
