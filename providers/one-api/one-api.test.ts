import { afterAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import { oneApi } from './index.js';
import error200 from './fixtures/error-200-upstream.json' with { type: 'json' };
import { startGatewaySim } from './sim.js';

const KEY = 'sk-gatewaytest000000000000000000000000000000000000';

runProviderContract(oneApi, {
  startSim: startGatewaySim,
  key: KEY,
  watchModels: ['gpt-4o-mini', 'o1'],
  valid: {
    facts: (f) => {
      expect(f.models).toMatchObject({ count: 3, access: { 'gpt-4o-mini': true, o1: false } });
      expect(f).toMatchObject({ currency: 'USD', limit: 25, limitRemaining: 12.66, usage: { total: 12.34 }, expiresAt: null });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: null,
  // An exhausted token answers 401 "该令牌额度已用尽": quota, not a revoked key.
  quota: { error: 'quota' },
});

describe('one-api money and traps', () => {
  const http = new HttpClient();
  afterAll(() => http.close());

  it('usage is in hundredths of a dollar: total_usage 1234 = $12.34 of a $25 grant', async () => {
    const sim = await startGatewaySim({ key: KEY });

    const { facts } = await runProbes(oneApi, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(facts.usage?.total).toBe(12.34);
    expect(facts.limit).toBe(25);
    expect(facts.limitRemaining).toBe(12.66);
  });

  it('an unlimited token (hard_limit_usd 100000000) has no limit; access_until becomes expiresAt', async () => {
    const sim = await startGatewaySim({ key: KEY, unlimited: true });

    const { facts } = await runProbes(oneApi, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(facts).toMatchObject({ limit: null, limitRemaining: null, expiresAt: 1798761600 });
  });

  it('a billing error on HTTP 200 is an upstream error, never a zero balance', async () => {
    const sim = await startGatewaySim({ key: KEY });
    sim.server.route('/v1/dashboard/billing/subscription', () => ({ status: 200, body: error200 }));

    const { facts, outcomes } = await runProbes(oneApi, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(outcomes.find((o) => o.probe === 'balance_snapshot')?.errorKind).toBe('upstream');
    expect(facts.limitRemaining).toBeUndefined();
  });

  it('a base URL without /v1 reaches the /v1 paths', async () => {
    const sim = await startGatewaySim({ key: KEY });

    const { facts } = await runProbes(oneApi, { http, baseUrl: sim.baseUrl.replace(/\/v1$/, ''), key: KEY });
    await sim.close();

    expect(facts.valid).toBe(true);
    expect(facts.limit).toBe(25);
  });
});
