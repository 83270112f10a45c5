import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAllowed } from '../src/http/client.js';
import { analyzeKey } from '../src/analysis/index.js';
import { openrouter } from '../providers/openrouter/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { parseMetrics, startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { requireTool } from './helpers/tools.js';

const CAPPED = 'sk-or-v1-test-daemon-capped-0000000000000000000000000000000000000000';
const UNLIMITED = 'sk-or-v1-test-daemon-unlimited-000000000000000000000000000000000000';
const REVOKED = 'sk-or-v1-test-daemon-revoked-00000000000000000000000000000000000000';

let sim: OpenRouterSim;
let td: TestDaemon;

const yaml = (url: string) => `
defaults: { interval: 1m, timeout: 2s }
providers:
  openrouter: { baseUrl: ${url} }
keys:
  - { name: capped, provider: openrouter, key: "\${CAPPED}", labels: { team: search }, watchModels: [openrouter/auto, openrouter/free] }
  - { name: unlimited, provider: openrouter, key: "\${UNLIMITED}" }
  - { name: revoked, provider: openrouter, key: "\${REVOKED}" }
`;
const env = { CAPPED, UNLIMITED, REVOKED };

/** What the simulator serves on /key for a key, read directly from it. */
async function served(key: string): Promise<Record<string, any>> {
  const res = await fetch(`${sim.url}/key`, { headers: { authorization: `Bearer ${key}` } });
  return ((await res.json()) as { data: Record<string, any> }).data;
}

beforeAll(async () => {
  sim = await startOpenRouterSim({
    keys: [
      { key: CAPPED, limit: 20, limitReset: 'monthly', usage: 3.25, models: ['openrouter/auto', 'openai/gpt-4o-mini'] },
      { key: UNLIMITED, limit: null, usage: 12.5 },
      { key: REVOKED, revoked: true },
    ],
  });
  td = await startTestDaemon({ yaml: yaml(sim.url), env, analyze: analyzeKey });
  await td.daemon.runOnce();
});
afterAll(async () => {
  await td.cleanup();
  await sim.close();
});

describe('daemon against the OpenRouter simulator', () => {
  it('reports each key on /metrics exactly as the provider served it', async () => {
    const m = parseMetrics(await td.metricsText());
    const capped = await served(CAPPED);
    const unlimited = await served(UNLIMITED);

    const kp = (k: string) => `key="${k}",provider="openrouter"`;
    expect([capped.usage, capped.limit, unlimited.usage, unlimited.limit]).toEqual([3.25, 20, 12.5, null]);
    expect(typeof capped.limit_remaining).toBe('number');
    expect(m.get(`keywatch_key_valid{${kp('capped')}}`)).toBe(1);
    expect(m.get(`keywatch_key_usage{${kp('capped')},currency="USD",window="total"}`)).toBe(capped.usage);
    expect(m.get(`keywatch_key_usage{${kp('capped')},currency="USD",window="monthly"}`)).toBe(capped.usage_monthly);
    expect(m.get(`keywatch_key_usage{${kp('capped')},currency="USD",window="daily"}`)).toBe(capped.usage_daily);
    expect(m.get(`keywatch_key_limit{${kp('capped')},currency="USD"}`)).toBe(20);
    expect(m.get(`keywatch_key_limit_remaining{${kp('capped')},currency="USD"}`)).toBe(capped.limit_remaining);
    expect(m.get(`keywatch_key_model_access{${kp('capped')},model="openrouter/auto"}`)).toBe(1);
    expect(m.get(`keywatch_key_model_access{${kp('capped')},model="openrouter/free"}`)).toBe(0);
    expect(m.get(`keywatch_key_info{team="search",${kp('capped')},claimed_provider="openrouter"}`)).toBe(1);

    expect(m.get(`keywatch_key_valid{${kp('unlimited')}}`)).toBe(1);
    expect(m.get(`keywatch_key_usage{${kp('unlimited')},currency="USD",window="total"}`)).toBe(unlimited.usage);
    expect([...m.keys()].filter((k) => /^keywatch_key_limit(_remaining)?\{key="unlimited"/.test(k))).toEqual([]);

    expect(m.get(`keywatch_key_valid{${kp('revoked')}}`)).toBe(0);
    expect(m.get(`keywatch_probe_success{${kp('revoked')},probe="current_key"}`)).toBe(1);
    expect(m.get('keywatch_config_last_reload_successful')).toBe(1);
  });

  it('exports analysis-derived gauges when analysis is wired', async () => {
    const m = parseMetrics(await td.metricsText());

    expect(m.get('keywatch_key_stability{key="capped",provider="openrouter"}')).toBe(1);
    expect(m.has('keywatch_key_risk_score{key="capped",provider="openrouter"}')).toBe(true);
    const verdicts = ['ready', 'review', 'blocked'].map((v) => m.get(`keywatch_key_readiness{key="revoked",provider="openrouter",verdict="${v}"}`));
    expect(verdicts.sort()).toEqual([0, 0, 1]);
  });

  it('passes promtool check metrics', async () => {
    const promtool = requireTool('promtool', 'prometheus');
    if (promtool === undefined) return;

    const res = spawnSync(promtool, ['check', 'metrics'], { input: await td.metricsText(), encoding: 'utf8' });

    expect(res.stdout + res.stderr).toBe('');
    expect(res.status).toBe(0);
  });

  it('only ever sent GETs to allowlisted paths', () => {
    const paths = sim.server.requests.map((r) => r.path.replace(/^\/api\/v1/, ''));

    expect(sim.server.violations).toEqual([]);
    expect(sim.server.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(isAllowed(p, openrouter.allowedPaths)).toBe(true);
  });

  it('serves key state on /api/keys with at most the masked key', async () => {
    const all = (await td.get('/api/keys')).json();
    const one = (await td.get('/api/keys/capped')).json();
    const missing = await td.get('/api/keys/nope');

    expect(all.keys.map((k: { name: string }) => k.name)).toEqual(['capped', 'revoked', 'unlimited']);
    expect(one).toMatchObject({ name: 'capped', provider: 'openrouter', masked: expect.stringMatching(/…/), facts: { limit: 20 } });
    expect(one.analysis.readiness.verdict).toBeDefined();
    expect(missing.status).toBe(404);
  });

  it('keeps history and serves the last values at once after a restart', async () => {
    await td.daemon.runOnce();
    const before = parseMetrics(await td.metricsText());
    // Count runs, not samples: runs that straddle a clock hour are one rollup sample.
    const runs = td.daemon.store.history('capped', 0).reduce((n, s) => n + s.runs, 0);
    await td.stop();
    const requestsBefore = sim.server.requests.length;

    const again = await startTestDaemon({ yaml: yaml(sim.url), env, dir: td.dir });
    const after = parseMetrics(await again.metricsText());
    const history = again.daemon.store.history('capped', 0);

    expect(sim.server.requests.length).toBe(requestsBefore); // nothing probed yet
    for (const name of ['keywatch_key_usage{key="capped",provider="openrouter",currency="USD",window="total"}', 'keywatch_key_valid{key="revoked",provider="openrouter"}', 'keywatch_key_limit_remaining{key="capped",provider="openrouter",currency="USD"}']) {
      expect(after.get(name)).toBe(before.get(name));
    }
    expect(runs).toBe(2);
    expect(history.reduce((n, s) => n + s.runs, 0)).toBe(2);
    td = again;
  });
});
