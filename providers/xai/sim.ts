/**
 * A simulated xAI API on loopback, per fixtures/SOURCE.md: the inference API at `<url>/v1` and the
 * Management API's billing path on the same origin (the adapter uses the origin of a non-xAI base
 * URL as the management base). Scenarios: valid, invalid (400), restricted (model-scoped ACLs),
 * quota (403 credits exhausted on /models), rate_limited, upstream, hang, malformed.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import apiKeyRestricted from './fixtures/api-key-restricted.json' with { type: 'json' };
import apiKey from './fixtures/api-key.json' with { type: 'json' };
import balance from './fixtures/balance.json' with { type: 'json' };
import error400 from './fixtures/error-400.json' with { type: 'json' };
import credits403 from './fixtures/error-403-credits.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

export const XAI_SIM_TEAM = apiKey.team_id;

export function startXaiSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      invalid: { status: 400, body: error400 },
      rateLimited: { status: 429, headers: { 'retry-after': '2' }, body: error429 },
      routes: {
        '/v1/api-key': (_req, s) => ({ status: 200, body: s.scenario === 'restricted' ? apiKeyRestricted : apiKey }),
        '/v1/models': (_req, s) => (s.scenario === 'quota' ? { status: 403, body: credits403 } : { status: 200, body: models }),
      },
      adminRoutes: {
        [`/v1/billing/teams/${XAI_SIM_TEAM}/prepaid/balance`]: () => ({ status: 200, body: balance }),
      },
    },
    { key: `xai-${'T'.repeat(80)}`, ...opts },
  );
}
