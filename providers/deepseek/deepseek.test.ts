import { afterAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import { deepseek } from './index.js';
import { startDeepSeekSim } from './sim.js';

const KEY = 'sk-0123456789abcdef0123456789abcdef';

runProviderContract(deepseek, {
  startSim: startDeepSeekSim,
  key: KEY,
  watchModels: ['deepseek-reasoner', 'deepseek-coder'],
  valid: {
    facts: (f) => {
      expect(f).toMatchObject({ balance: 110, balanceCurrency: 'CNY', currency: 'CNY' });
      expect(f.models?.access).toEqual({ 'deepseek-reasoner': true, 'deepseek-coder': false });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: null,
  // The balance says empty (a finding), and /models answers 402 Insufficient Balance (quota).
  quota: { error: 'quota' },
});

describe('deepseek money', () => {
  const http = new HttpClient();
  afterAll(() => http.close());

  it('reads the decimal-string balance "110.00" as 110 CNY', async () => {
    const sim = await startDeepSeekSim({ key: KEY });

    const { facts } = await runProbes(deepseek, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(facts.balance).toBe(110);
    expect(facts.balanceCurrency).toBe('CNY');
  });

  it('reports the USD entry when that is where the money is ("7.35" USD, CNY "0.00")', async () => {
    const sim = await startDeepSeekSim({ key: KEY, account: 'usd' });

    const { facts } = await runProbes(deepseek, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(facts.balance).toBe(7.35);
    expect(facts.balanceCurrency).toBe('USD');
  });

  it('an exhausted account is a balance of 0, and the key is still valid', async () => {
    const sim = await startDeepSeekSim({ key: KEY, scenario: 'quota' });

    const { facts } = await runProbes(deepseek, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(facts).toMatchObject({ valid: true, balance: 0, balanceCurrency: 'CNY' });
  });
});
