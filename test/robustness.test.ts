import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenRouterSim, type OpenRouterSim, type SimFault } from '../providers/openrouter/sim.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const FAULTS: [SimFault, string][] = [
  ['hang', 'timeout'],
  ['500', 'upstream'],
  ['429', 'rate_limited'],
  ['html', 'bad_response'],
  ['huge', 'bad_response'],
];
const keyOf = (name: string) => `sk-or-v1-test-robust-${name}-${'0'.repeat(40)}`;

let sim: OpenRouterSim;
let td: TestDaemon;
let healthyRunsWhenHangAnswered = 0;

beforeAll(async () => {
  sim = await startOpenRouterSim({
    keys: [{ key: keyOf('healthy'), limit: 5, usage: 1 }, ...FAULTS.map(([fault]) => ({ key: keyOf(fault), fault }))],
  });
  const env: Record<string, string> = { K_HEALTHY: keyOf('healthy') };
  for (const [fault] of FAULTS) env[`K_${fault.toUpperCase()}`] = keyOf(fault);
  td = await startTestDaemon({
    yaml: `
defaults: { interval: 200ms, jitter: 0, timeout: 1s }
providers: { openrouter: { baseUrl: "${sim.url}" } }
keys:
  - { name: healthy, provider: openrouter, key: "\${K_HEALTHY}" }
${FAULTS.map(([f]) => `  - { name: f-${f}, provider: openrouter, key: "\${K_${f.toUpperCase()}}" }`).join('\n')}
`,
    env,
    schedule: true,
  });
  // Wait until the hanging key's first run gave up; count the healthy key's runs meanwhile.
  const until = Date.now() + 15_000;
  while (td.daemon.states.get('f-hang')?.probes.current_key === undefined) {
    if (Date.now() > until) throw new Error('the hanging key never finished a run');
    await new Promise((r) => setTimeout(r, 20));
  }
  healthyRunsWhenHangAnswered = td.daemon.store.history('healthy', 0).reduce((n, s) => n + s.runs, 0);
  await waitForAll();
}, 30_000);

async function waitForAll(): Promise<void> {
  const until = Date.now() + 15_000;
  while (FAULTS.some(([f]) => td.daemon.states.get(`f-${f}`)?.probes.current_key === undefined)) {
    if (Date.now() > until) throw new Error('not every faulty key finished a run');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterAll(async () => {
  await td.cleanup();
  await sim.close();
});

describe('a misbehaving provider is recorded as that failure, for that key only', () => {
  it.each(FAULTS)('%s -> %s', (fault, kind) => {
    const state = td.daemon.states.get(`f-${fault}`)!;

    expect(state.probes.current_key).toMatchObject({ ok: false, errorKind: kind });
    expect(state.facts.valid).toBeUndefined(); // we could not tell: not "revoked"
  });

  it('the healthy key is unaffected and kept its schedule while another key hung', () => {
    const healthy = td.daemon.states.get('healthy')!;

    expect(healthy.probes.current_key).toMatchObject({ ok: true });
    expect(healthy.facts.usage?.total).toBe(1);
    // The hang took a full 1 s timeout; at a 200 ms interval the healthy key ran several times meanwhile.
    expect(healthyRunsWhenHangAnswered).toBeGreaterThanOrEqual(3);
  });

  it('stores the failure kind in history', () => {
    const h = td.daemon.store.history('f-500', 0);

    expect(h.length).toBeGreaterThan(0);
    expect(h[0]).toMatchObject({ okRuns: 0 });
    expect(h[0]!.failures?.upstream).toBe(h[0]!.runs);
  });

  it('backs the rate-limited key off for at least its Retry-After', () => {
    const due = td.daemon.scheduler.nextDue('f-429');
    const lastRun = td.daemon.states.get('f-429')!.lastRunAt!;

    expect(due).toBeDefined();
    expect(due! - lastRun).toBeGreaterThanOrEqual(29_000);
  });
});
