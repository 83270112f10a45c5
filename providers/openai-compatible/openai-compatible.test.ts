import { afterAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import { openaiCompatible } from './index.js';
import { startOpenAiCompatibleSim } from './sim.js';

const KEY = 'sk-local-test-000000000000';

runProviderContract(openaiCompatible, {
  startSim: startOpenAiCompatibleSim,
  key: KEY,
  watchModels: ['Qwen/Qwen2.5-7B-Instruct', 'gpt-4o'],
  valid: {
    facts: (f) => {
      expect(f.models).toMatchObject({ count: 2, access: { 'Qwen/Qwen2.5-7B-Instruct': true, 'gpt-4o': false } });
      expect(f.rateLimits?.requests).toMatchObject({ limit: 60, remaining: 59 });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'restricted' }) },
  quota: { error: 'quota' },
});

describe('openai-compatible specifics', () => {
  const http = new HttpClient();
  afterAll(() => http.close());

  it('finds /v1/models when the base URL has no version prefix', async () => {
    const sim = await startOpenAiCompatibleSim({ key: KEY });

    const { facts } = await runProbes(openaiCompatible, { http, baseUrl: sim.baseUrl.replace(/\/v1$/, ''), key: KEY });
    await sim.close();

    expect(facts.valid).toBe(true);
    expect(facts.models?.count).toBe(2);
  });

  it('without a base URL it says so (config), instead of guessing a host', async () => {
    const { outcomes } = await runProbes(openaiCompatible, { http, baseUrl: '', key: KEY });

    expect(outcomes[0]).toMatchObject({ ok: false, errorKind: 'config' });
  });
});
