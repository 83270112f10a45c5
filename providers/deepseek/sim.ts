/**
 * A simulated DeepSeek on loopback (base URL = server root, like https://api.deepseek.com),
 * per fixtures/SOURCE.md. Scenarios: valid, invalid (401), quota (402 on /models and an empty,
 * unavailable balance), rate_limited, upstream, hang, malformed. DeepSeek has no restricted keys.
 */
import { bearerOf, startSim, type ProviderSim, type SimOptions } from '../openai-compatible/sim-kit.js';
import balanceEmpty from './fixtures/balance-empty.json' with { type: 'json' };
import balanceUsd from './fixtures/balance-usd.json' with { type: 'json' };
import balance from './fixtures/balance.json' with { type: 'json' };
import error401 from './fixtures/error-401.json' with { type: 'json' };
import error402 from './fixtures/error-402.json' with { type: 'json' };
import error429 from './fixtures/error-429.json' with { type: 'json' };
import models from './fixtures/models.json' with { type: 'json' };

export interface DeepSeekSimOptions extends SimOptions {
  /** Which balance body to serve in the valid scenario. */
  account?: 'cny' | 'usd';
}

export function startDeepSeekSim(opts: DeepSeekSimOptions = {}): Promise<ProviderSim> {
  return startSim(
    {
      basePath: '',
      credential: bearerOf,
      invalid: { status: 401, body: error401 },
      rateLimited: { status: 429, headers: { 'retry-after': '3' }, body: error429 },
      routes: {
        '/user/balance': (_req, s) => {
          if (s.scenario === 'quota') return { status: 200, body: balanceEmpty };
          return { status: 200, body: opts.account === 'usd' ? balanceUsd : balance };
        },
        '/models': (_req, s) => (s.scenario === 'quota' ? { status: 402, body: error402 } : { status: 200, body: models }),
      },
    },
    { key: 'sk-0123456789abcdef0123456789abcdef', ...opts },
  );
}
