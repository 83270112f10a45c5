/**
 * Mistral: `GET /v1/models` is validity and the matrix (aliases count as names of the same model).
 * Rate limits come as `ratelimitbysize-*` (reset in seconds) and `x-ratelimitbysize-*-minute/-month`,
 * and have also been seen as plain `x-ratelimit-*`: all are read. No balance API.
 * Facts: ../shared/reference/providers.md §8 "Mistral".
 */
import type { RateLimits } from '../../probes/types.js';
import { plainRateLimit, suffixRateLimits } from '../../src/http/ratelimit.js';
import type { ProviderAdapter } from '../../src/provider.js';
import { decode, modelsProbe } from '../openai-compatible/common.js';
import { ModelList } from './schema.js';

export const mistral = {
  id: 'mistral',
  displayName: 'Mistral AI',
  defaultBaseUrl: 'https://api.mistral.ai/v1',
  currency: 'USD',
  allowedPaths: ['/models'],
  identify: {
    hosts: ['api.mistral.ai'],
    headers: [{ name: 'ratelimitbysize-limit', weight: 0.7 }],
  },
  probes: {
    current_key: modelsProbe({
      paths: ['/models'],
      parse: (res) => ({
        ids: decode(res, ModelList, 'GET /models').data.flatMap((m) => [m.id, ...m.aliases.filter((a) => a !== m.id)]),
      }),
      rateLimits: mistralRateLimits,
    }),
  },
} satisfies ProviderAdapter;

export function mistralRateLimits(h: Record<string, string>, now: number): RateLimits {
  const out: RateLimits = {
    ...suffixRateLimits(h, { now }),
    ...plainRateLimit(h, { prefix: 'ratelimitbysize-', dimension: 'tokens', reset: 'delta_seconds', now }),
  };
  for (const period of ['minute', 'month'] as const) {
    const limit = h[`x-ratelimitbysize-limit-${period}`];
    const remaining = h[`x-ratelimitbysize-remaining-${period}`];
    const w = plainRateLimit(
      { 'x-limit': limit ?? '', 'x-remaining': remaining ?? '' },
      { prefix: 'x-', dimension: `tokens_${period}`, now },
    );
    Object.assign(out, w);
  }
  return out;
}
