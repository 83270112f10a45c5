/**
 * A simulated one-api or new-api gateway on loopback, served at an OpenAI-looking path
 * (`<url>/v1`), per fixtures/SOURCE.md. Scenarios: valid, invalid (401 无效的令牌), quota (401
 * 该令牌额度已用尽 on every route), rate_limited, upstream, hang, malformed. Billing follows the
 * gateway's units: hard_limit_usd in dollars (granted), total_usage in hundredths.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import exhausted from './fixtures/error-401-exhausted.json' with { type: 'json' };
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import modelsNewApi from './fixtures/models-new-api.json' with { type: 'json' };
import modelsOneApi from './fixtures/models-one-api.json' with { type: 'json' };
import unlimited from './fixtures/subscription-unlimited.json' with { type: 'json' };
import subscription from './fixtures/subscription.json' with { type: 'json' };
import usage from './fixtures/usage.json' with { type: 'json' };

export interface GatewaySimOptions extends SimOptions {
  flavor?: 'one-api' | 'new-api';
  unlimited?: boolean;
}

export function startGatewaySim(opts: GatewaySimOptions = {}): Promise<ProviderSim> {
  const flavor = opts.flavor ?? 'one-api';
  const errorType = flavor === 'new-api' ? 'new_api_error' : 'one_api_error';
  const typed = (body: { error: { message: string; type: string } }) => ({ error: { ...body.error, type: errorType } });
  return startSim(
    {
      basePath: '/v1',
      credential: bearerOf,
      headers: {
        'x-oneapi-request-id': '2024101214105418395279367750613',
        ...(flavor === 'new-api' ? { 'x-new-api-version': 'v0.9.0-test' } : {}),
      },
      invalid: { status: 401, body: typed(error401) },
      rateLimited: { status: 429, headers: { 'retry-after': '5' }, body: typed(error429) },
      upstream: { status: 502, body: { error: { message: 'bad gateway', type: 'upstream_error' } } },
      routes: {
        '/v1/models': (_req, s) => quotaOr(s.scenario, { status: 200, body: flavor === 'new-api' ? modelsNewApi : modelsOneApi }),
        '/v1/dashboard/billing/subscription': (_req, s) => quotaOr(s.scenario, { status: 200, body: opts.unlimited ? unlimited : subscription }),
        '/v1/dashboard/billing/usage': (_req, s) => quotaOr(s.scenario, { status: 200, body: usage }),
      },
    },
    { key: 'sk-gatewaytest000000000000000000000000000000000000', ...opts },
  );

  function quotaOr(scenario: string, reply: { status: number; body: unknown }) {
    return scenario === 'quota' ? { status: 401, body: typed(exhausted) } : reply;
  }
}
