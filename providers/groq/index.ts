/**
 * Groq: `GET /openai/v1/models` is validity and the matrix (inactive models excluded);
 * `x-ratelimit-*` headers where present: `limit-requests` is per DAY and `limit-tokens` per
 * MINUTE (org-wide), resets are Go durations (`2m59.56s`). No balance API.
 * Facts: ../shared/reference/providers.md §8 "Groq".
 */
import { suffixRateLimits } from '../../src/http/ratelimit.js';
import type { ProviderAdapter } from '../../src/provider.js';
import { decode, modelsProbe } from '../openai-compatible/common.js';
import { ModelList } from './schema.js';

export const groq = {
  id: 'groq',
  displayName: 'Groq',
  defaultBaseUrl: 'https://api.groq.com/openai/v1',
  currency: 'USD',
  allowedPaths: ['/models'],
  identify: {
    // gitleaks says 48 characters, trufflehog 52: trust the prefix.
    keyPatterns: [{ pattern: /^gsk_[A-Za-z0-9]{20,}$/, weight: 0.9 }],
    hosts: ['api.groq.com'],
  },
  probes: {
    current_key: modelsProbe({
      paths: ['/models'],
      parse: (res) => ({ ids: decode(res, ModelList, 'GET /models').data.filter((m) => m.active !== false).map((m) => m.id) }),
      rateLimits: (h, now) => suffixRateLimits(h, { reset: 'duration', now }),
    }),
  },
} satisfies ProviderAdapter;
