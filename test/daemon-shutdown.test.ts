import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startTestDaemon } from './helpers/daemon.js';

const HANG = 'sk-or-v1-test-shutdown-hang-0000000000000000000000000000000000000000';
const OK = 'sk-or-v1-test-shutdown-ok-00000000000000000000000000000000000000000000';
let sim: OpenRouterSim;

beforeAll(async () => {
  sim = await startOpenRouterSim({ keys: [{ key: HANG, fault: 'hang' }, { key: OK, usage: 4 }] });
});
afterAll(async () => {
  await sim.close();
});

const yaml = (url: string) => `
defaults: { interval: 1m, timeout: 30s }
providers: { openrouter: { baseUrl: "${url}" } }
keys:
  - { name: hang, provider: openrouter, key: "\${HANG}" }
  - { name: ok, provider: openrouter, key: "\${OK}" }
`;

describe('graceful shutdown', () => {
  it('waits for runs in flight only up to its bound, flushes the store, and closes the server', async () => {
    const td = await startTestDaemon({ yaml: yaml(sim.url), env: { HANG, OK }, shutdownTimeoutMs: 300 });
    const inFlight = td.daemon.runOnce();
    // Wait until the healthy key finished and the hanging one is talking to the provider.
    while (!td.daemon.states.get('ok')?.lastRunAt) await new Promise((r) => setTimeout(r, 10));

    const outcome = await Promise.race([
      td.daemon.stop().then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still waiting on the 30 s probe'), 10_000)),
    ]);
    void inFlight;
    const refused = await fetch(`${td.daemon.url}/healthz`).then(
      () => false,
      () => true,
    );
    const again = await startTestDaemon({ yaml: yaml(sim.url), env: { HANG, OK }, dir: td.dir });
    const history = again.daemon.store.history('ok', 0);
    await again.cleanup();

    expect(outcome).toBe('stopped');
    expect(refused).toBe(true);
    expect(history).toHaveLength(1); // the queued write was flushed at shutdown
    expect(again.daemon.states.get('ok')?.facts.usage?.total).toBe(4);
  });
});
