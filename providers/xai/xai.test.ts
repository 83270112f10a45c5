import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import type { ProviderSim } from '../openai-compatible/sim-kit.js';
import { managementBase, xai } from './index.js';
import { startXaiSim, XAI_SIM_TEAM } from './sim.js';

const KEY = `xai-${'T'.repeat(80)}`;
const MGMT = `xai-token-${'M'.repeat(40)}`;

runProviderContract(xai, {
  startSim: startXaiSim,
  key: KEY,
  adminKey: MGMT,
  watchModels: ['grok-4', 'grok-2-vision'],
  valid: {
    facts: (f) => {
      expect(f).toMatchObject({ valid: true, disabled: false, label: 'My API Key', balance: 10, balanceCurrency: 'USD' });
      expect(f.identity?.account).toBe(XAI_SIM_TEAM);
      expect(f.models).toMatchObject({ count: 3, source: 'user', access: { 'grok-4': true, 'grok-2-vision': false } });
    },
  },
  // A bad key is HTTP 400 at xAI, and still a finding.
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: {
    facts: (f) => {
      expect(f).toMatchObject({ valid: true, validity: 'restricted' });
      expect(f.models).toMatchObject({ count: 1, source: 'acl', access: { 'grok-4': false } });
    },
  },
  quota: { error: 'quota' },
});

describe('xai specifics', () => {
  let sim: ProviderSim;
  const http = new HttpClient();
  beforeAll(async () => {
    sim = await startXaiSim({ key: KEY, adminKey: MGMT });
  });
  afterAll(async () => {
    await http.close();
    await sim.close();
  });

  it('negates the cents ledger: total.val "-1000" = $10.00 left', async () => {
    const { facts } = await runProbes(xai, { http, baseUrl: sim.baseUrl, key: KEY, adminKey: MGMT });

    expect(facts.balance).toBe(10);
    expect(facts.balanceCurrency).toBe('USD');
    const req = sim.server.requests.find((r) => r.path.endsWith('/prepaid/balance'));
    expect(req?.headers.authorization).toBe(`Bearer ${MGMT}`);
  });

  it('an inference key used as adminKey is refused: auth, and no balance', async () => {
    const { facts, outcomes } = await runProbes(xai, { http, baseUrl: sim.baseUrl, key: KEY, adminKey: KEY });

    expect(outcomes.find((o) => o.probe === 'balance_snapshot')?.errorKind).toBe('auth');
    expect(facts.balance).toBeUndefined();
  });

  it('targets the Management API host for the real service', () => {
    expect(managementBase('https://api.x.ai/v1')).toBe('https://management-api.x.ai');
    expect(managementBase('http://127.0.0.1:9/v1')).toBe('http://127.0.0.1:9');
  });
});
