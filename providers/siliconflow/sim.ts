/**
 * A simulated SiliconFlow API on loopback (`<url>/v1`), per fixtures/SOURCE.md. Scenarios: valid,
 * invalid (401), restricted (account status not `normal`), quota (all balances "0.00"),
 * rate_limited, upstream, hang, malformed.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };
import empty from './fixtures/user-info-empty.json' with { type: 'json' };
import frozen from './fixtures/user-info-frozen.json' with { type: 'json' };
import info from './fixtures/user-info.json' with { type: 'json' };

export function startSiliconFlowSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '2' }, body: error429 },
      routes: {
        '/v1/user/info': (_req, s) => ({ status: 200, body: s.scenario === 'quota' ? empty : s.scenario === 'restricted' ? frozen : info }),
        '/v1/models': () => ({ status: 200, body: models }),
      },
    },
    { key: 'sk-siliconflowtest000000000000000000000000000000', ...opts },
  );
}
