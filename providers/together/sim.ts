/**
 * A simulated Together AI API on loopback (`<url>/v1`), per fixtures/SOURCE.md: `/v1/models` is a
 * bare array. Scenarios: valid, invalid (401), restricted (403), rate_limited, upstream, hang,
 * malformed. No balance, no quota scenario.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

const RATE = { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59', 'x-ratelimit-reset': '1', 'x-tokenlimit-limit': '60000', 'x-tokenlimit-remaining': '59990' };

export function startTogetherSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '1', ...RATE, 'x-ratelimit-remaining': '0' }, body: error429 },
      routes: {
        '/v1/models': (_req, s) =>
          s.scenario === 'restricted'
            ? { status: 403, body: { error: { message: 'Forbidden', type: 'permission_error', param: null, code: null } } }
            : { status: 200, headers: RATE, body: models },
      },
    },
    { key: `tgp_v1_${'T'.repeat(43)}`, ...opts },
  );
}
