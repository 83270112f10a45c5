/**
 * A simulated Anthropic API on loopback (base URL `<url>/v1`), per fixtures/SOURCE.md. Scenarios:
 * valid, invalid (401), restricted (403 permission_error), quota (400 "credit balance is too low"),
 * rate_limited (429 + retry-after), upstream (529 overloaded), hang, malformed.
 */
import { headerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import costReport from './fixtures/cost-report.json' with { type: 'json' };
import credit400 from './fixtures/error-400-credit.json' with { type: 'json' };
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error403 from './fixtures/error-403.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

export const ANTHROPIC_SIM_HEADERS = {
  'anthropic-organization-id': '0f2e6b57-test-4c1e-9d3a-000000000000',
  'request-id': 'req_011CTestTestTestTestTest00',
  via: '1.1 google',
  'x-envoy-upstream-service-time': '12',
};

export const ANTHROPIC_SIM_RATE_HEADERS = {
  'anthropic-ratelimit-requests-limit': '1000',
  'anthropic-ratelimit-requests-remaining': '999',
  'anthropic-ratelimit-requests-reset': '2025-08-21T12:40:59Z',
  'anthropic-ratelimit-input-tokens-limit': '80000',
  'anthropic-ratelimit-input-tokens-remaining': '80000',
  'anthropic-ratelimit-input-tokens-reset': '2025-08-21T12:40:59Z',
  'anthropic-ratelimit-output-tokens-limit': '16000',
  'anthropic-ratelimit-output-tokens-remaining': '16000',
  'anthropic-ratelimit-output-tokens-reset': '2025-08-21T12:40:59Z',
  'anthropic-ratelimit-tokens-limit': '96000',
  'anthropic-ratelimit-tokens-remaining': '96000',
  'anthropic-ratelimit-tokens-reset': '2025-08-21T12:40:59Z',
};

export function startAnthropicSim(opts: SimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '/v1',
      credential: headerOf('x-api-key'),
      headers: ANTHROPIC_SIM_HEADERS,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '7' }, body: error429 },
      upstream: { status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } },
      routes: {
        '/v1/models': (req, s) => {
          if (req.headers['anthropic-version'] === undefined) {
            return { status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } } };
          }
          if (s.scenario === 'restricted') return { status: 403, body: error403 };
          if (s.scenario === 'quota') return { status: 400, body: credit400 };
          return { status: 200, headers: ANTHROPIC_SIM_RATE_HEADERS, body: models };
        },
      },
      adminRoutes: {
        '/v1/organizations/cost_report': () => ({ status: 200, body: costReport }),
      },
    },
    { key: `sk-ant-api03-${'t'.repeat(93)}AA`, ...opts },
  );
}
