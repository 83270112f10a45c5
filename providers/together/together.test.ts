import { expect } from 'vitest';
import { runProviderContract } from '../../test/contract.js';
import { together } from './index.js';
import { startTogetherSim } from './sim.js';

runProviderContract(together, {
  startSim: startTogetherSim,
  key: `tgp_v1_${'T'.repeat(43)}`,
  watchModels: ['deepseek-ai/DeepSeek-V3', 'BAAI/bge-large-en-v1.5', 'Qwen/QwQ-32B'],
  valid: {
    facts: (f) => {
      expect(f.models).toMatchObject({
        count: 3,
        access: { 'deepseek-ai/DeepSeek-V3': true, 'BAAI/bge-large-en-v1.5': true, 'Qwen/QwQ-32B': false },
        // The embedding model lists no price.
        pricingKnown: { 'deepseek-ai/DeepSeek-V3': true, 'BAAI/bge-large-en-v1.5': false },
      });
      expect(f.rateLimits).toMatchObject({ requests: { limit: 60, remaining: 59 }, tokens: { limit: 60000, remaining: 59990 } });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'restricted' }) },
  quota: null,
});
