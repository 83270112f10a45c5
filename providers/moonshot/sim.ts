/**
 * A simulated Moonshot API on loopback (`<url>/v1`), per fixtures/SOURCE.md. Scenarios: valid,
 * invalid (401), quota (zero available balance with negative cash, and 429
 * exceeded_current_quota_error on /models), rate_limited, upstream, hang, malformed.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import arrears from './fixtures/balance-arrears.json' with { type: 'json' };
import balance from './fixtures/balance.json' with { type: 'json' };
import error401 from './fixtures/error-401.json' with { type: 'json' };
import quota429 from './fixtures/error-429-quota.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

const RATE = { 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '199', 'x-ratelimit-reset': '60' };

export function startMoonshotSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '1', ...RATE, 'x-ratelimit-remaining': '0' }, body: error429 },
      routes: {
        '/v1/users/me/balance': (_req, s) => ({ status: 200, headers: RATE, body: s.scenario === 'quota' ? arrears : balance }),
        '/v1/models': (_req, s) => (s.scenario === 'quota' ? { status: 429, body: quota429 } : { status: 200, headers: RATE, body: models }),
      },
    },
    { key: 'sk-moonshottest00000000000000000000000000000000000', ...opts },
  );
}
