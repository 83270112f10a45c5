/**
 * Sharding: n keywatch instances, each given `--shard i/n`, together monitor every key exactly once,
 * with no coordination between them. Checked on the hash (src/shard.ts) over 10,000 names, and end
 * to end: shards of one config against one simulator probe disjoint key sets that cover the fleet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fnv1a, ownsKey, parseShard } from '../src/shard.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const NAMES = [
  ...Array.from({ length: 9_000 }, (_, i) => `key-${i}`),
  ...Array.from({ length: 900 }, (_, i) => `acme.team-${i % 30}.svc-${i}`),
  ...Array.from({ length: 100 }, (_, i) => `prod_${String(i).padStart(3, '0')}`),
];

describe('shard assignment', () => {
  it('has 10,000 distinct names to split', () => {
    expect(new Set(NAMES).size).toBe(10_000);
  });

  it.each([1, 2, 3, 4, 5, 7, 8, 16])('%i shards cover every key exactly once', (count) => {
    const owners = new Map<string, number[]>();

    for (let index = 0; index < count; index++) {
      for (const name of NAMES) if (ownsKey(name, { index, count })) owners.set(name, [...(owners.get(name) ?? []), index]);
    }

    expect(owners.size).toBe(NAMES.length);
    const notOnce = [...owners].filter(([, o]) => o.length !== 1);
    expect(notOnce).toEqual([]);
  });

  it.each([2, 3, 4, 8])('%i shards get a fair share each (within 10% of 1/n)', (count) => {
    const sizes = Array.from({ length: count }, (_, index) => NAMES.filter((n) => ownsKey(n, { index, count })).length);

    for (const size of sizes) expect(Math.abs(size - NAMES.length / count)).toBeLessThan(0.1 * (NAMES.length / count));
  });

  it('is stable: the FNV-1a 32-bit reference values, so every instance and version agrees', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('without a shard (or 1 shard) an instance owns every key', () => {
    expect(NAMES.every((n) => ownsKey(n, undefined) && ownsKey(n, { index: 0, count: 1 }))).toBe(true);
  });

  it.each(['1/1', '3/3', '-1/2', 'a/b', '1', '0/0'])('rejects --shard %s', (text) => {
    expect(() => parseShard(text)).toThrow(/shard/);
  });
});

describe('shards of one config against one provider', () => {
  const COUNT = 3;
  const KEYS = 30;
  const keyValue = (i: number) => `sk-or-v1-test-shard-${String(i).padStart(4, '0')}`;
  let sim: OpenRouterSim;
  const daemons: TestDaemon[] = [];

  beforeAll(async () => {
    sim = await startOpenRouterSim({ keys: Array.from({ length: KEYS }, (_, i) => ({ key: keyValue(i), limit: 10, usage: i })) });
    const yaml = [
      'defaults: { interval: 1m, timeout: 2s }',
      `providers: { openrouter: { baseUrl: "${sim.url}" } }`,
      'keys:',
      ...Array.from({ length: KEYS }, (_, i) => `  - { name: shard-key-${i}, provider: openrouter, key: "${keyValue(i)}" }`),
    ].join('\n');
    for (let index = 0; index < COUNT; index++) daemons.push(await startTestDaemon({ yaml, shard: { index, count: COUNT } }));
  });
  afterAll(async () => {
    for (const d of daemons) await d.cleanup();
    await sim.close();
  });

  it('each key is probed by exactly one shard, and the shards together probe all of them', async () => {
    sim.server.reset();

    for (const d of daemons) await d.daemon.runOnce();

    const probedBy = new Map<string, number>();
    daemons.forEach((d, index) => {
      for (const name of d.daemon.states.keys()) {
        expect(probedBy.has(name)).toBe(false);
        probedBy.set(name, index);
      }
    });
    expect([...probedBy.keys()].sort()).toEqual(Array.from({ length: KEYS }, (_, i) => `shard-key-${i}`).sort());
    // At the provider: every key's /key was asked for exactly once across all shards.
    const keyCalls = sim.server.requests.filter((r) => r.path.endsWith('/key')).map((r) => String(r.headers.authorization));
    expect(keyCalls).toHaveLength(KEYS);
    expect(new Set(keyCalls).size).toBe(KEYS);
  });

  it('/metrics of the shards are disjoint and add up to the fleet', async () => {
    const perShard = await Promise.all(daemons.map(async (d) => (await d.metricsText()).split('\n').filter((l) => l.startsWith('keywatch_key_valid{'))));

    const all = perShard.flat();
    expect(all).toHaveLength(KEYS);
    expect(new Set(all).size).toBe(KEYS);
    for (const lines of perShard) expect(lines.length).toBeGreaterThan(0);
  });
});
