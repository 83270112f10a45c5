import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import { openai } from './index.js';
import { startOpenAiSim } from './sim.js';
import type { ProviderSim } from '../openai-compatible/sim-kit.js';

const KEY = 'sk-proj-test-0000000000000000000000T3BlbkFJ000000000000000000000000';
const ADMIN = 'sk-admin-test-000000000000000000000T3BlbkFJ00000000000000000000000';

runProviderContract(openai, {
  startSim: startOpenAiSim,
  key: KEY,
  watchModels: ['gpt-4o-mini', 'o3-pro'],
  valid: {
    facts: (f) => {
      expect(f.models?.count).toBe(6);
      expect(f.models?.access).toEqual({ 'gpt-4o-mini': true, 'o3-pro': false });
      expect(f.rateLimits?.tokens).toMatchObject({ limit: 800000, remaining: 799980 });
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: true, validity: 'restricted' }) },
  quota: { error: 'quota' },
});

describe('openai specifics', () => {
  let sim: ProviderSim;
  const http = new HttpClient();
  beforeAll(async () => {
    sim = await startOpenAiSim({ key: KEY, adminKey: ADMIN });
  });
  afterAll(async () => {
    await http.close();
    await sim.close();
  });

  it('reads Go-duration resets relative to now (6m0s -> now + 360 s)', async () => {
    const now = Date.UTC(2026, 10, 2, 12, 0, 0);

    const { facts } = await runProbes(openai, { http, baseUrl: sim.baseUrl, key: KEY, now: () => now });

    expect(facts.rateLimits?.tokens?.resetAt).toBe(now / 1000 + 360);
    expect(facts.rateLimits?.requests?.resetAt).toBeCloseTo(now / 1000 + 0.012, 6);
  });

  it('sums organization costs in dollars (not cents) with an admin key: month and today', async () => {
    // 2024-11-02 12:00 UTC: buckets are Nov 1 ($0.06) and Nov 2 ($12.50 + $1.25).
    const now = Date.UTC(2024, 10, 2, 12, 0, 0);

    const { facts, outcomes } = await runProbes(openai, { http, baseUrl: sim.baseUrl, key: KEY, adminKey: ADMIN, now: () => now });

    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(facts.currency).toBe('USD');
    expect(facts.usage).toEqual({ monthly: 13.81, daily: 13.75 });
    const costsReq = sim.server.requests.find((r) => r.path === '/v1/organization/costs');
    expect(costsReq?.query.get('start_time')).toBe(String(Date.UTC(2024, 10, 1) / 1000));
    expect(costsReq?.headers.authorization).toBe(`Bearer ${ADMIN}`);
  });

  it('without an admin key the costs probe does not apply (no outcome)', async () => {
    const { outcomes } = await runProbes(openai, { http, baseUrl: sim.baseUrl, key: KEY });

    expect(outcomes.map((o) => o.probe)).toEqual(['current_key']);
  });

  it('an admin key the Costs API refuses is an auth error, not a revoked key', async () => {
    const { facts, outcomes } = await runProbes(openai, { http, baseUrl: sim.baseUrl, key: KEY, adminKey: KEY });

    expect(facts.valid).toBe(true);
    expect(outcomes.find((o) => o.probe === 'balance_snapshot')?.errorKind).toBe('auth');
  });
});
