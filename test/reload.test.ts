import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { parseMetrics, startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const keyOf = (name: string) => `sk-or-v1-test-reload-${name}-${'0'.repeat(40)}`;
const env = { KA: keyOf('a'), KB: keyOf('b'), KC: keyOf('c') };

let sim: OpenRouterSim;
let td: TestDaemon | undefined;

beforeAll(async () => {
  sim = await startOpenRouterSim({ keys: ['a', 'b', 'c'].map((n, i) => ({ key: keyOf(n), usage: i + 1, limit: 10 })) });
});
afterEach(async () => {
  await td?.cleanup();
  td = undefined;
});
afterAll(async () => {
  await sim.close();
});

const config = (keys: string[], extra = '') => `
defaults: { interval: 1m, timeout: 2s }
providers: { openrouter: { baseUrl: "${sim.url}" } }
keys:
${keys.map((k) => `  - { name: ${k}, provider: openrouter, key: "\${K${k.toUpperCase()}}"${extra} }`).join('\n')}
`;

const usageOf = (m: Map<string, number>, k: string) => m.get(`keywatch_key_usage{key="${k}",provider="openrouter",currency="USD",window="total"}`);
const keysIn = (m: Map<string, number>) =>
  [...m.keys()].filter((k) => k.startsWith('keywatch_key_info')).map((k) => /key="([^"]+)"/.exec(k)![1]).sort();

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('hot reload', () => {
  it('POST /-/reload: an added key starts, a removed key stops and vanishes from /metrics', async () => {
    td = await startTestDaemon({ yaml: config(['a', 'b']), env });
    await td.daemon.runOnce();
    const before = parseMetrics(await td.metricsText());

    td.writeConfig(config(['a', 'c']));
    const res = await td.post('/-/reload');
    await td.daemon.runOnce();
    const after = parseMetrics(await td.metricsText());

    expect(res.status).toBe(200);
    expect(keysIn(before)).toEqual(['a', 'b']);
    expect(keysIn(after)).toEqual(['a', 'c']);
    expect(usageOf(after, 'c')).toBe(3);
    expect([...after.keys()].some((k) => k.includes('key="b"'))).toBe(false);
    expect(td.daemon.scheduler.nextDue('b')).toBeUndefined();
    expect(td.daemon.store.loadStates().has('b')).toBe(false);
  });

  it('a bad new config keeps the old one running and reports every issue', async () => {
    td = await startTestDaemon({ yaml: config(['a', 'b']), env });
    await td.daemon.runOnce();

    td.writeConfig(config(['a', 'b']).replace('defaults:', 'defaultz:').replace('timeout: 2s', 'timeout: soon'));
    const res = await td.post('/-/reload');
    const requests = sim.server.requests.length;
    await td.daemon.runOnce();
    const m = parseMetrics(await td.metricsText());

    expect(res.status).toBe(400);
    expect(res.json().issues.map((i: { path: string }) => i.path)).toEqual(['defaultz']);
    expect(m.get('keywatch_config_last_reload_successful')).toBe(0);
    expect(keysIn(m)).toEqual(['a', 'b']);
    expect(sim.server.requests.length).toBeGreaterThan(requests); // still probing on the old config

    td.writeConfig(config(['a']));
    expect((await td.post('/-/reload')).status).toBe(200);
    expect(parseMetrics(await td.metricsText()).get('keywatch_config_last_reload_successful')).toBe(1);
  });

  it('a changed interval reschedules the key; changed labels show at once', async () => {
    td = await startTestDaemon({ yaml: config(['a']), env, schedule: true });
    const dueBefore = td.daemon.scheduler.nextDue('a')!;

    td.writeConfig(config(['a'], ', interval: 1h, labels: { team: x }'));
    await td.daemon.reload();
    const dueAfter = td.daemon.scheduler.nextDue('a')!;
    const m = parseMetrics(await td.metricsText());

    expect(dueBefore - Date.now()).toBeLessThanOrEqual(60_000);
    expect(dueAfter - Date.now()).toBeGreaterThan(60_000);
    expect(m.get('keywatch_key_info{team="x",key="a",provider="openrouter",claimed_provider="openrouter"}')).toBe(1);
  });

  it('reloads on SIGHUP', async () => {
    td = await startTestDaemon({ yaml: config(['a']), env, handleSignals: true });

    td.writeConfig(config(['a', 'b']));
    process.kill(process.pid, 'SIGHUP');
    await until(() => td!.daemon.states.has('b'));

    expect([...td.daemon.states.keys()].sort()).toEqual(['a', 'b']);
  });

  it('reloads when the config file changes (debounced watch)', async () => {
    td = await startTestDaemon({ yaml: config(['a']), env, watchConfig: true });

    td.writeConfig(config(['c']));
    await until(() => td!.daemon.states.has('c'));

    expect([...td.daemon.states.keys()]).toEqual(['c']);
  });
});
