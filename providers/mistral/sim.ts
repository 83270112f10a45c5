/**
 * A simulated Mistral API on loopback (`<url>/v1`), per fixtures/SOURCE.md. Scenarios: valid,
 * invalid (401), restricted (403), rate_limited, upstream, hang, malformed. No balance, no quota.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

export const MISTRAL_SIM_RATE_HEADERS = {
  'ratelimitbysize-limit': '500000',
  'ratelimitbysize-remaining': '499000',
  'ratelimitbysize-reset': '38',
  'ratelimitbysize-query-cost': '1000',
  'x-ratelimitbysize-limit-minute': '500000',
  'x-ratelimitbysize-remaining-minute': '499000',
  'x-ratelimitbysize-limit-month': '1000000000',
  'x-ratelimitbysize-remaining-month': '999000000',
};

export function startMistralSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '38', ...MISTRAL_SIM_RATE_HEADERS }, body: error429 },
      routes: {
        '/v1/models': (_req, s) =>
          s.scenario === 'restricted'
            ? { status: 403, body: { message: 'Forbidden', request_id: '0123' } }
            : { status: 200, headers: MISTRAL_SIM_RATE_HEADERS, body: models },
      },
    },
    { key: 'TestMistralKey0000000000000000000', ...opts },
  );
}
