/**
 * Any OpenAI-compatible endpoint (vLLM, LiteLLM, LocalAI, resellers): validity and the model
 * matrix from `GET /models` (or `/v1/models` when the base URL has no version prefix), and
 * `x-ratelimit-*` headers in whichever reset format it sends. No balance: there is no standard.
 */
import { suffixRateLimits } from '../../src/http/ratelimit.js';
import type { ProviderAdapter } from '../../src/provider.js';
import { modelsProbe } from './common.js';

export const openaiCompatible = {
  id: 'openai-compatible',
  displayName: 'OpenAI-compatible endpoint',
  // There is no default host: a key must set baseUrl.
  defaultBaseUrl: '',
  currency: 'USD',
  allowedPaths: ['/models', '/v1/models'],
  identify: {},
  probes: {
    current_key: modelsProbe({
      paths: ['/models', '/v1/models'],
      rateLimits: (headers, now) => suffixRateLimits(headers, { reset: 'auto', now }),
    }),
  },
} satisfies ProviderAdapter;
