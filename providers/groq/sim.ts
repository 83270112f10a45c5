/**
 * A simulated Groq API on loopback (`<url>/openai/v1`), per fixtures/SOURCE.md. Scenarios: valid,
 * invalid (401), restricted (403), rate_limited (429 + retry-after), upstream, hang, malformed.
 * Groq has no balance, so no quota scenario.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

export const GROQ_SIM_RATE_HEADERS = {
  'x-ratelimit-limit-requests': '14400',
  'x-ratelimit-limit-tokens': '18000',
  'x-ratelimit-remaining-requests': '14370',
  'x-ratelimit-remaining-tokens': '17997',
  'x-ratelimit-reset-requests': '2m59.56s',
  'x-ratelimit-reset-tokens': '7.66s',
};

export function startGroqSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/openai/v1',
      credential: bearerOf,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '6', ...GROQ_SIM_RATE_HEADERS }, body: error429 },
      routes: {
        '/openai/v1/models': (_req, s) =>
          s.scenario === 'restricted'
            ? { status: 403, body: { error: { message: 'Forbidden', type: 'permissions_error' } } }
            : { status: 200, headers: GROQ_SIM_RATE_HEADERS, body: models },
      },
    },
    { key: `gsk_${'T'.repeat(52)}`, ...opts },
  );
}
