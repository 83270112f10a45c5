/**
 * Together AI: `GET /v1/models` (a bare array, with per-1M-token pricing) is validity and the
 * matrix; `x-ratelimit-*` (reset in seconds) and `x-tokenlimit-*` headers where present. No balance
 * API. Facts: ../shared/reference/providers.md §8 "Together AI".
 */
import { plainRateLimit } from '../../src/http/ratelimit.js';
import type { ProviderAdapter } from '../../src/provider.js';
import { decode, modelsProbe } from '../openai-compatible/common.js';
import { ModelArray } from './schema.js';

export const together = {
  id: 'together',
  displayName: 'Together AI',
  defaultBaseUrl: 'https://api.together.xyz/v1',
  currency: 'USD',
  allowedPaths: ['/models'],
  identify: {
    hosts: ['api.together.xyz', 'api.together.ai'],
    headers: [{ name: 'x-tokenlimit-limit', weight: 0.6 }],
  },
  probes: {
    current_key: modelsProbe({
      paths: ['/models'],
      parse: (res) => {
        const models = decode(res, ModelArray, 'GET /models');
        const priced = new Map(models.map((m) => [m.id, typeof m.pricing?.input === 'number' && typeof m.pricing.output === 'number' && m.pricing.input >= 0 && m.pricing.output >= 0]));
        return { ids: models.map((m) => m.id), pricingKnown: (id) => priced.get(id) };
      },
      rateLimits: (h, now) => ({
        ...plainRateLimit(h, { dimension: 'requests', reset: 'auto', now }),
        ...plainRateLimit(h, { prefix: 'x-tokenlimit-', dimension: 'tokens', now }),
      }),
    }),
  },
} satisfies ProviderAdapter;
