import { afterAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { adapterCurrency } from '../../src/provider.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import { moonshot } from './index.js';
import { startMoonshotSim } from './sim.js';

const KEY = 'sk-moonshottest00000000000000000000000000000000000';

runProviderContract(moonshot, {
  startSim: startMoonshotSim,
  key: KEY,
  watchModels: ['kimi-k2-0905-preview', 'kimi-latest'],
  valid: {
    facts: (f) => {
      // Loopback is not api.moonshot.ai: the .cn default, CNY.
      expect(f).toMatchObject({ balance: 49.58894, balanceCurrency: 'CNY' });
      expect(f.models?.access).toEqual({ 'kimi-k2-0905-preview': true, 'kimi-latest': false });
      expect(f.rateLimits?.requests).toMatchObject({ limit: 200, remaining: 199 });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: null,
  // 429 exceeded_current_quota_error is quota, not a rate limit.
  quota: { error: 'quota' },
});

describe('moonshot money', () => {
  const http = new HttpClient();
  afterAll(() => http.close());

  it('currency follows the host: CNY on api.moonshot.cn, USD on api.moonshot.ai', () => {
    expect(adapterCurrency(moonshot, 'https://api.moonshot.cn/v1')).toBe('CNY');
    expect(adapterCurrency(moonshot, 'https://api.moonshot.ai/v1')).toBe('USD');
  });

  it('negative cash (arrears) leaves an available balance of 0, not a negative one', async () => {
    const sim = await startMoonshotSim({ key: KEY, scenario: 'quota' });

    const { facts } = await runProbes(moonshot, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(facts).toMatchObject({ valid: true, balance: 0, balanceCurrency: 'CNY' });
  });
});
