import { expect } from 'vitest';
import { runProviderContract } from '../../test/contract.js';
import { mistral } from './index.js';
import { startMistralSim } from './sim.js';

runProviderContract(mistral, {
  startSim: startMistralSim,
  key: 'TestMistralKey0000000000000000000',
  watchModels: ['mistral-large-latest', 'codestral-2501', 'mistral-tiny'],
  valid: {
    facts: (f) => {
      // Aliases are names of the same model.
      expect(f.models?.access).toEqual({ 'mistral-large-latest': true, 'codestral-2501': true, 'mistral-tiny': false });
      expect(f.rateLimits).toMatchObject({
        tokens: { limit: 500000, remaining: 499000 },
        tokens_minute: { limit: 500000, remaining: 499000 },
        tokens_month: { limit: 1000000000, remaining: 999000000 },
      });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'restricted' }) },
  quota: null,
});
