/**
 * A simulated OpenAI on loopback (base URL `<url>/v1`), speaking the documented wire format
 * (fixtures/SOURCE.md). Scenarios: valid, invalid (401), restricted (403 missing scopes),
 * quota (429 insufficient_quota), rate_limited (429 with Retry-After), upstream, hang, malformed.
 * The legacy billing endpoint always answers the real OpenAI's 403 "session key" reply.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import billing403 from './fixtures/billing-403-session.json' with { type: 'json' };
import costs from './fixtures/costs.json' with { type: 'json' };
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error403 from './fixtures/error-403-scopes.json' with { type: 'json' };
import quota429 from './fixtures/error-429-quota.json' with { type: 'json' };
import rate429 from './fixtures/error-429-rate.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

export const OPENAI_SIM_HEADERS = {
  'openai-organization': 'acme-test-org',
  'openai-processing-ms': '23',
  'openai-version': '2020-10-01',
  'x-request-id': 'req_0123456789abcdef0123456789abcdef',
};

export const OPENAI_SIM_RATE_HEADERS = {
  'x-ratelimit-limit-requests': '5000',
  'x-ratelimit-limit-tokens': '800000',
  'x-ratelimit-remaining-requests': '4999',
  'x-ratelimit-remaining-tokens': '799980',
  'x-ratelimit-reset-requests': '12ms',
  'x-ratelimit-reset-tokens': '6m0s',
};

export function startOpenAiSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      headers: OPENAI_SIM_HEADERS,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '11', ...OPENAI_SIM_RATE_HEADERS, 'x-ratelimit-remaining-tokens': '0' }, body: rate429 },
      routes: {
        '/v1/models': (_req, s) => {
          if (s.scenario === 'restricted') return { status: 403, body: error403 };
          if (s.scenario === 'quota') return { status: 429, body: quota429 };
          return { status: 200, headers: OPENAI_SIM_RATE_HEADERS, body: models };
        },
        '/v1/dashboard/billing/subscription': () => ({ status: 403, body: billing403 }),
      },
      adminRoutes: {
        '/v1/organization/costs': () => ({ status: 200, body: costs }),
      },
    },
    { key: 'sk-proj-test-0000000000000000000000T3BlbkFJ000000000000000000000000', ...opts },
  );
}
