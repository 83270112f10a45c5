import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAlerting } from '../src/alerting/index.js';
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

  it.each([
    ['a cron pattern croner refuses', ', schedule: "99 * * * *"', 'keys[1].schedule', /^invalid cron pattern \(.*minute.*\)$/],
    ['an interval of 0', ', interval: 0s', 'keys[1].interval', /^must be more than 0$/],
  ])('%s: the reload fails whole (4xx, metric 0) and the old config keeps running', async (_name, extra, path, message) => {
    td = await startTestDaemon({ yaml: config(['a', 'b']), env, schedule: true });
    const dueBefore = td.daemon.scheduler.nextDue('b');
    const configBefore = td.daemon.config();

    td.writeConfig(config(['a', 'b', 'c']).replace('key: "${KB}"', `key: "\${KB}"${extra}`));
    const res = await td.post('/-/reload');
    const m = parseMetrics(await td.metricsText());

    expect(res.status).toBe(400);
    expect(res.json().issues).toEqual([{ path, message: expect.stringMatching(message) }]);
    expect(m.get('keywatch_config_last_reload_successful')).toBe(0);
    expect(td.daemon.config()).toBe(configBefore);
    expect([...td.daemon.states.keys()].sort()).toEqual(['a', 'b']);
    expect(td.daemon.scheduler.nextDue('b')).toBe(dueBefore);
    expect(td.daemon.scheduler.nextDue('c')).toBeUndefined();
  });

  it('a failure while applying puts the old config back and reports the reload failed', async () => {
    // Real SQLite contention: another connection holds the write lock, so dropping a removed key's
    // alert state fails (busy_timeout 0) half-way through applying the new config.
    td = await startTestDaemon({ yaml: config(['a', 'b']), env, alerting: createAlerting, store: { busyTimeoutMs: 0 } });
    await td.daemon.runOnce();
    const configBefore = td.daemon.config();
    const blocker = new Database(td.storePath);
    blocker.exec('BEGIN EXCLUSIVE');

    td.writeConfig(config(['a', 'c']));
    const res = await td.post('/-/reload').finally(() => {
      blocker.exec('ROLLBACK');
      blocker.close();
    });
    const m = parseMetrics(await td.metricsText());

    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ ok: false, issues: [{ path: '', message: expect.stringMatching(/could not be applied/) }] });
    expect(m.get('keywatch_config_last_reload_successful')).toBe(0);
    expect(td.daemon.config()).toBe(configBefore);
    expect(td.daemon.scheduler.nextDue('b')).toBeDefined(); // rescheduled (its run time re-jittered), still running
    expect(td.daemon.scheduler.nextDue('c')).toBeUndefined();

    expect((await td.post('/-/reload')).status).toBe(200); // the lock gone, the same file applies
    expect(td.daemon.config().keys.map((k) => k.name)).toEqual(['a', 'c']);
  });

  it('a changed interval reschedules the key; changed labels show at once', async () => {
    td = await startTestDaemon({ yaml: config(['a']), env, schedule: true });
    const dueBefore = td.daemon.scheduler.nextDue('a')!;

    td.writeConfig(config(['a'], ', interval: 1h, labels: { team: x }'));
    await td.daemon.reload();
    const dueAfter = td.daemon.scheduler.nextDue('a')!;
    const m = parseMetrics(await td.metricsText());
    // Rescheduled at a new random phase within the new interval (under 60 s away one time in 60):
    // the run after it counts the whole new interval.
    await td.daemon.runOnce();
    const dueNext = td.daemon.scheduler.nextDue('a')!;

    expect(dueBefore - Date.now()).toBeLessThanOrEqual(60_000);
    expect(dueAfter).not.toBe(dueBefore);
    expect(dueAfter - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(dueNext - Date.now()).toBeGreaterThan(3_500_000);
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
