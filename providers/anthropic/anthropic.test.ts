import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/http/client.js';
import { runProbes, runProviderContract } from '../../test/contract.js';
import type { ProviderSim } from '../openai-compatible/sim-kit.js';
import { anthropic } from './index.js';
import { startAnthropicSim } from './sim.js';

const KEY = `sk-ant-api03-${'t'.repeat(93)}AA`;
const ADMIN = `sk-ant-admin01-${'a'.repeat(93)}AA`;

runProviderContract(anthropic, {
  startSim: startAnthropicSim,
  key: KEY,
  watchModels: ['claude-sonnet-4-20250514', 'claude-2.1'],
  valid: {
    facts: (f) => {
      expect(f.models).toMatchObject({ count: 3, access: { 'claude-sonnet-4-20250514': true, 'claude-2.1': false } });
      expect(Object.keys(f.rateLimits ?? {}).sort()).toEqual(['input_tokens', 'output_tokens', 'requests', 'tokens']);
    },
  },
  invalid: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'revoked' }) },
  restricted: { facts: (f) => expect(f).toMatchObject({ valid: false, validity: 'restricted' }) },
  // HTTP 400 "credit balance is too low": quota, not a bad request.
  quota: { error: 'quota' },
});

describe('anthropic specifics', () => {
  let sim: ProviderSim;
  const http = new HttpClient();
  beforeAll(async () => {
    sim = await startAnthropicSim({ key: KEY, adminKey: ADMIN });
  });
  afterAll(async () => {
    await http.close();
    await sim.close();
  });

  it('reads RFC 3339 resets and every rate-limit dimension', async () => {
    const { facts } = await runProbes(anthropic, { http, baseUrl: sim.baseUrl, key: KEY });

    expect(facts.rateLimits?.requests).toEqual({ limit: 1000, remaining: 999, resetAt: Date.parse('2025-08-21T12:40:59Z') / 1000 });
    expect(facts.rateLimits?.output_tokens?.limit).toBe(16000);
  });

  it('sends x-api-key and anthropic-version, never a bearer header', async () => {
    await runProbes(anthropic, { http, baseUrl: sim.baseUrl, key: KEY });

    const req = sim.server.requests.find((r) => r.path === '/v1/models');
    expect(req?.headers['x-api-key']).toBe(KEY);
    expect(req?.headers['anthropic-version']).toBe('2023-06-01');
    expect(req?.headers.authorization).toBeUndefined();
  });

  it('converts the cost report from cents: "123.45" + "2500" + "0.55" cents = $26.24 this month, $25.0055 today', async () => {
    const now = Date.UTC(2025, 7, 21, 15, 0, 0);

    const { facts, outcomes } = await runProbes(anthropic, { http, baseUrl: sim.baseUrl, key: KEY, adminKey: ADMIN, now: () => now });

    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(facts.currency).toBe('USD');
    expect(facts.usage?.monthly).toBeCloseTo(26.24, 9);
    expect(facts.usage?.daily).toBeCloseTo(25.0055, 9);
    const req = sim.server.requests.find((r) => r.path === '/v1/organizations/cost_report');
    expect(req?.query.get('starting_at')).toBe('2025-08-01T00:00:00.000Z');
  });
});
