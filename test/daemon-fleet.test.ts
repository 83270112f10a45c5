import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fnv1a, ownsKey, parseShard } from '../src/shard.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { parseMetrics, startTestDaemon } from './helpers/daemon.js';

const MGMT = 'sk-or-v1-test-fleet-mgmt-000000000000000000000000000000000000000000';
const keyOf = (n: string) => `sk-or-v1-test-fleet-${n}-${'0'.repeat(40)}`;

let sim: OpenRouterSim;

beforeAll(async () => {
  sim = await startOpenRouterSim({
    keys: [
      { key: MGMT, management: true },
      { key: keyOf('a'), name: 'Team Alpha', limit: 50, usage: 7 },
      { key: keyOf('b'), name: 'Batch jobs', limit: null, usage: 2 },
    ],
  });
});
afterAll(async () => {
  await sim.close();
});

const fleetYaml = (url: string) => `
providers: { openrouter: { baseUrl: "${url}" } }
accounts:
  - { name: acme, provider: openrouter, adminKey: "\${MGMT}", labels: { org: acme } }
`;

describe('fleet discovery', () => {
  it('monitors every key of an account from one listing; keys appear and vanish with the account', async () => {
    const td = await startTestDaemon({ yaml: fleetYaml(sim.url), env: { MGMT } });
    sim.server.reset();

    await td.daemon.runOnce();
    const first = parseMetrics(await td.metricsText());
    sim.addKey({ key: keyOf('c'), name: 'New One', usage: 1 });
    sim.removeKey(keyOf('b'));
    await td.daemon.runOnce();
    const second = parseMetrics(await td.metricsText());
    const keys = (m: Map<string, number>) => [...m.keys()].filter((k) => k.startsWith('keywatch_key_info')).map((k) => /key="([^"]+)"/.exec(k)![1]).sort();
    const paths = sim.server.requests.map((r) => r.path);
    await td.cleanup();

    expect(keys(first)).toEqual(['acme.batch-jobs', 'acme.team-alpha']);
    expect(first.get('keywatch_key_usage{key="acme.team-alpha",provider="openrouter",currency="USD",window="total"}')).toBe(7);
    expect(first.get('keywatch_key_limit{key="acme.team-alpha",provider="openrouter",currency="USD"}')).toBe(50);
    expect(first.get('keywatch_key_info{org="acme",account="acme",key="acme.team-alpha",provider="openrouter",claimed_provider="openrouter"}')).toBe(1);
    expect(keys(second)).toEqual(['acme.new-one', 'acme.team-alpha']);
    expect(new Set(paths)).toEqual(new Set(['/api/v1/keys'])); // no per-key request
  });
});

describe('sharding', () => {
  it('splits keys by a stable hash; every key is owned by exactly one shard', () => {
    const names = Array.from({ length: 300 }, (_, i) => `key-${i}`);

    const owners = names.map((n) => [0, 1, 2].filter((i) => ownsKey(n, { index: i, count: 3 })));

    expect(owners.every((o) => o.length === 1)).toBe(true);
    for (const i of [0, 1, 2]) expect(owners.filter((o) => o[0] === i).length).toBeGreaterThan(60);
    expect(fnv1a('hello')).toBe(0x4f9f2cab); // the published FNV-1a 32-bit value
  });

  it('a daemon with --shard runs only its keys', async () => {
    const names = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
    const env = Object.fromEntries(names.map((n) => [n.toUpperCase(), keyOf('a')]));
    const yaml = `
providers: { openrouter: { baseUrl: "${sim.url}" } }
keys:
${names.map((n) => `  - { name: ${n}, provider: openrouter, key: "\${${n.toUpperCase()}}" }`).join('\n')}
`;

    const shards = await Promise.all([0, 1].map((index) => startTestDaemon({ yaml, env, shard: { index, count: 2 } })));
    const owned = shards.map((s) => [...s.daemon.states.keys()].sort());
    await Promise.all(shards.map((s) => s.cleanup()));

    expect([...owned[0]!, ...owned[1]!].sort()).toEqual(names);
    expect(owned[0]!.filter((n) => owned[1]!.includes(n))).toEqual([]);
    expect(owned[0]).toEqual(names.filter((n) => ownsKey(n, { index: 0, count: 2 })));
  });

  it.each([
    ['0/3', { index: 0, count: 3 }],
    ['2/3', { index: 2, count: 3 }],
  ])('parses --shard %s', (text, want) => {
    expect(parseShard(text)).toEqual(want);
  });

  it.each(['3/3', '1', 'a/b', '0/0'])('rejects --shard %s', (text) => {
    expect(() => parseShard(text)).toThrow(/shard/);
  });
});
