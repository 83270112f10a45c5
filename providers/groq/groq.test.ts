import { expect } from 'vitest';
import { runProviderContract } from '../../test/contract.js';
import { groq } from './index.js';
import { startGroqSim } from './sim.js';

runProviderContract(groq, {
  startSim: startGroqSim,
  key: `gsk_${'T'.repeat(52)}`,
  watchModels: ['llama-3.3-70b-versatile', 'mixtral-8x7b-32768'],
  valid: {
    facts: (f) => {
      // The inactive model is not usable.
      expect(f.models).toMatchObject({ count: 2, access: { 'llama-3.3-70b-versatile': true, 'mixtral-8x7b-32768': false } });
      expect(f.rateLimits?.requests).toMatchObject({ limit: 14400, remaining: 14370 });
      expect(f.rateLimits?.tokens?.resetAt).toBeGreaterThan(Date.now() / 1000);
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'restricted' }) },
  quota: null,
});
