import { expect } from 'vitest';
import { runProviderContract } from '../../test/contract.js';
import { newApi } from './index.js';
import { startNewApiSim } from './sim.js';

runProviderContract(newApi, {
  startSim: startNewApiSim,
  key: 'sk-gatewaytest000000000000000000000000000000000000',
  watchModels: ['claude-3-5-sonnet-20241022'],
  valid: {
    facts: (f) => {
      expect(f.models?.access).toEqual({ 'claude-3-5-sonnet-20241022': true });
      expect(f).toMatchObject({ limit: 25, usage: { total: 12.34 } });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: null,
  quota: { error: 'quota' },
});
