import { expect, it } from 'vitest';
import { adapterCurrency } from '../../src/provider.js';
import { runProviderContract } from '../../test/contract.js';
import { siliconflow } from './index.js';
import { startSiliconFlowSim } from './sim.js';

runProviderContract(siliconflow, {
  startSim: startSiliconFlowSim,
  key: 'sk-siliconflowtest000000000000000000000000000000',
  watchModels: ['deepseek-ai/DeepSeek-V3'],
  valid: {
    facts: (f) => {
      // totalBalance "88.88" (string) = 88.88 CNY.
      expect(f).toMatchObject({ balance: 88.88, balanceCurrency: 'CNY', currency: 'CNY' });
      expect(f.models?.access).toEqual({ 'deepseek-ai/DeepSeek-V3': true });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'disabled', disabled: true }) },
  quota: { facts: (f) => expect(f).toMatchObject({ valid: true, balance: 0 }) },
});

it('siliconflow currency follows the host: CNY on .cn, USD on .com', () => {
  expect(adapterCurrency(siliconflow, 'https://api.siliconflow.cn/v1')).toBe('CNY');
  expect(adapterCurrency(siliconflow, 'https://api.siliconflow.com/v1')).toBe('USD');
});
