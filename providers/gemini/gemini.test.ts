import { afterAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import { gemini } from './index.js';
import { startGeminiSim } from './sim.js';

const KEY = `AIzaSy${'T'.repeat(33)}`;

runProviderContract(gemini, {
  startSim: startGeminiSim,
  key: KEY,
  watchModels: ['gemini-2.5-pro', 'models/text-embedding-004', 'gemini-1.0-ultra'],
  valid: {
    facts: (f) => {
      expect(f.models).toMatchObject({
        count: 3,
        access: { 'gemini-2.5-pro': true, 'models/text-embedding-004': true, 'gemini-1.0-ultra': false },
      });
    },
  },
  // HTTP 400 API_KEY_INVALID, not 401.
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'restricted' }) },
  quota: null,
});

describe('gemini specifics', () => {
  const http = new HttpClient();
  afterAll(() => http.close());

  it('sends the key in ?key= and never shows it: errors say key=REDACTED', async () => {
    const sim = await startGeminiSim({ key: KEY });
    sim.server.route('/v1beta/models', () => ({ status: 418, body: { error: { code: 418, message: 'teapot' } } }));

    const { outcomes } = await runProbes(gemini, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(sim.server.requests[0]?.query.get('key')).toBe(KEY);
    expect(outcomes[0]?.ok).toBe(false);
    expect(JSON.stringify(outcomes)).not.toContain(KEY);
  });

  it('takes the 429 wait from RetryInfo.retryDelay ("41s"), since Gemini sends no header', async () => {
    const sim = await startGeminiSim({ key: KEY, scenario: 'rate_limited' });

    const { outcomes } = await runProbes(gemini, { http, baseUrl: sim.baseUrl, key: KEY });
    await sim.close();

    expect(outcomes[0]).toMatchObject({ errorKind: 'rate_limited', retryAfterMs: 41_000 });
  });
});
