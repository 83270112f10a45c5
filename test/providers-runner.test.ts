/**
 * The adapters through core's real runner (runKey), not the contract suite's mini-runner: the
 * facts the daemon would store, including xAI's balance from its second host (ctx.httpAt) and a
 * `provider: auto` key identified by src/identity.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ResolvedKey } from '../src/config/load.js';
import { HttpClient } from '../src/http/client.js';
import { makeIdentify } from '../src/identity.js';
import { runKey } from '../src/runner.js';
import { Secret } from '../src/secret.js';
import { registry } from '../providers/index.js';
import { startGatewaySim } from '../providers/one-api/sim.js';
import { startXaiSim } from '../providers/xai/sim.js';

const http = new HttpClient();
afterAll(() => http.close());

function key(provider: string, value: string, baseUrl: string, adminKey?: string): ResolvedKey {
  return {
    name: 'k',
    provider,
    key: new Secret(value),
    ...(adminKey !== undefined ? { adminKey: new Secret(adminKey) } : {}),
    baseUrl,
    intervalMs: 60_000,
    timeoutMs: 2000,
    labels: {},
    watchModels: ['grok-4'],
    thresholds: {},
  };
}

describe('adapters through runKey', () => {
  it('xai: the management-host balance arrives ("-1000" negated cents = $10)', async () => {
    const k = `xai-${'T'.repeat(80)}`;
    const mgmt = `xai-token-${'M'.repeat(40)}`;
    const sim = await startXaiSim({ key: k, adminKey: mgmt });

    const result = await runKey({ key: key('xai', k, sim.baseUrl, mgmt) }, { registry, http });
    await sim.close();

    expect(result.ok).toBe(true);
    expect(result.facts).toMatchObject({ valid: true, balance: 10, balanceCurrency: 'USD' });
    expect(result.facts.models?.access).toEqual({ 'grok-4': true });
  });

  it('provider auto: a one-api gateway is identified, then probed as one-api', async () => {
    const k = 'sk-gatewaytest000000000000000000000000000000000000';
    const sim = await startGatewaySim({ key: k });

    const result = await runKey({ key: key('auto', k, sim.baseUrl) }, { registry, http, identify: makeIdentify(registry) });
    await sim.close();

    expect(result.provider).toBe('one-api');
    expect(result.facts).toMatchObject({ valid: true, limit: 25, usage: { total: 12.34 }, currency: 'USD' });
    expect(result.outcomes.map((o) => o.probe)).toEqual(['identity', 'current_key', 'balance_snapshot']);
  });
});
