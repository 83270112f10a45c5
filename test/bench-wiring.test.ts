/**
 * The bench's probe cycle row (bench/wiring.ts): the daemon without judging, history analysis,
 * alerting and identification still makes the requests, parses the answers, stores the runs and
 * renders the keys' metrics -- what the performance target names -- and nothing that judges a key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { benchConfigYaml } from '../bench/daemon-config.js';
import { benchKeyName, benchSimKeys } from '../bench/keys.js';
import { partsOf, PROBE_CYCLE_WITHOUT, wiring } from '../bench/wiring.js';
import { registry } from '../providers/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';

let sim: OpenRouterSim | undefined;
let daemon: Daemon | undefined;
let dir: string | undefined;

afterEach(async () => {
  await daemon?.stop();
  await sim?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  daemon = sim = dir = undefined;
});

/** `rendered`: how many keys' lines the run itself rendered (before any scrape). */
async function runOnce(without: ReturnType<typeof partsOf>): Promise<{ daemon: Daemon; body: string; rendered: number }> {
  sim = await startOpenRouterSim({ keys: benchSimKeys(3) });
  dir = mkdtempSync(join(tmpdir(), 'keywatch-bench-wiring-'));
  const configFile = join(dir, 'bench.yaml');
  writeFileSync(configFile, benchConfigYaml({ simUrl: sim.url, storePath: join(dir, 'bench.db'), keys: 3, intervalS: 60, maxRequestsPerSecond: 50 }));
  daemon = await startDaemon({ configFile, registry, log: silentLogger(), listen: '127.0.0.1:0', watchConfig: false, schedule: false, ...wiring(without) });
  await daemon.started;
  const before = daemon.metrics.stats().keyRenders;
  await daemon.runOnce();
  daemon.store.flush();
  const rendered = daemon.metrics.stats().keyRenders - before;
  return { daemon, body: await daemon.metrics.render(), rendered };
}

const count = (d: Daemon, table: string): number => d.store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe("the bench's probe cycle", () => {
  it('probes, parses, stores and renders every key, and judges none', async () => {
    const { daemon: d, body, rendered } = await runOnce(new Set(PROBE_CYCLE_WITHOUT));

    expect(sim!.server.requests.filter((q) => q.path.endsWith('/key')).length).toBe(3);
    expect(d.store.stats().rowsWritten).toBeGreaterThanOrEqual(3);
    expect(count(d, 'probe_runs')).toBe(3);
    expect(count(d, 'key_state')).toBe(3);
    expect(rendered).toBe(3);
    for (let i = 0; i < 3; i++) {
      const name = benchKeyName(i);
      expect(d.states.get(name)?.facts).toMatchObject({ valid: true, usage: { total: expect.any(Number) } });
      expect(d.analysis(name)).toBeUndefined();
      expect(body).toMatch(new RegExp(`^keywatch_key_valid\\{key="${name}",provider="openrouter"\\} 1$`, 'm'));
      expect(body).toMatch(new RegExp(`^keywatch_key_usage\\{key="${name}"`, 'm'));
    }
    expect(body).not.toMatch(/^keywatch_key_(readiness|risk_score|stability|burn_rate)\{/m);
  });

  it('is the whole daemon without those parts: wired whole, it judges every key', async () => {
    const { daemon: d, body } = await runOnce(new Set());

    for (let i = 0; i < 3; i++) expect(d.analysis(benchKeyName(i))?.readiness.verdict).toEqual(expect.any(String));
    expect(body).toMatch(/^keywatch_key_readiness\{/m);
  });

  it('prices its own pieces: without store and lines, every key is probed and parsed, and its run neither stored nor rendered', async () => {
    const { daemon: d, body, rendered } = await runOnce(new Set([...PROBE_CYCLE_WITHOUT, 'store', 'lines'] as const));

    expect(sim!.server.requests.filter((q) => q.path.endsWith('/key')).length).toBe(3);
    for (let i = 0; i < 3; i++) expect(d.states.get(benchKeyName(i))?.facts).toMatchObject({ valid: true, usage: { total: expect.any(Number) } });
    expect(d.store.stats().rowsWritten).toBe(0);
    expect(count(d, 'probe_runs')).toBe(0);
    expect(count(d, 'key_state')).toBe(0);
    expect(rendered).toBe(0);
    // A scrape still renders what it finds stale: /metrics has every key's new values.
    for (let i = 0; i < 3; i++) expect(body).toMatch(new RegExp(`^keywatch_key_usage\\{key="${benchKeyName(i)}"`, 'm'));
  });

  it("reads BENCH_WITHOUT's parts and refuses a name that is not one", () => {
    expect([...partsOf('analysis,alerting')]).toEqual(['analysis', 'alerting']);
    expect([...partsOf('store,lines')]).toEqual(['store', 'lines']);
    expect(partsOf(undefined).size).toBe(0);
    expect(() => partsOf('analysis,judging')).toThrow(/unknown part "judging"/);
  });
});
