/**
 * BENCH_HEAP_SNAPSHOT (bench/daemon-process.ts): the bench's daemon writes a heap snapshot as its
 * first window opens and another as it closes, so the objects in the second and not in the first
 * are what the window's runs left alive (docs/performance.md, session 21).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { forkChild } from '../bench/child.js';
import { benchConfigYaml } from '../bench/daemon-config.js';
import { benchSimKeys } from '../bench/keys.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';

let sim: OpenRouterSim | undefined;
let dir: string | undefined;

afterEach(async () => {
  await sim?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  sim = dir = undefined;
});

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The node ids of a heap snapshot's key states (objects with a `claimedProvider`); ids persist for an object within a process. */
function stateIds(file: string): Set<number> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const { node_fields: nf, edge_fields: ef, edge_types: et } = s.snapshot.meta;
  const [id, edgeCount] = [nf.indexOf('id'), nf.indexOf('edge_count')];
  const [edgeType, edgeName] = [ef.indexOf('type'), ef.indexOf('name_or_index')];
  const property = et[0].indexOf('property');
  const ids = new Set<number>();
  let e = 0;
  for (let i = 0; i < s.nodes.length; i += nf.length) {
    const count = s.nodes[i + edgeCount]!;
    for (let j = 0; j < count; j++) {
      const at = e + j * ef.length;
      if (s.edges[at + edgeType] === property && s.strings[s.edges[at + edgeName]!] === 'claimedProvider') ids.add(s.nodes[i + id]!);
    }
    e += count * ef.length;
  }
  return ids;
}

describe('BENCH_HEAP_SNAPSHOT', () => {
  it("writes <file>.1 before the first window opens and <file>.2 before its figures are sent: the second holds the states of the window's runs", async () => {
    sim = await startOpenRouterSim({ keys: benchSimKeys(3) });
    dir = mkdtempSync(join(tmpdir(), 'keywatch-bench-snapshot-'));
    const configFile = join(dir, 'bench.yaml');
    writeFileSync(configFile, benchConfigYaml({ simUrl: sim.url, storePath: join(dir, 'bench.db'), keys: 3, intervalS: 1, maxRequestsPerSecond: 50 }));
    const snapshot = join(dir, 'heap');
    const child = forkChild(fileURLToPath(new URL('../bench/daemon-process.ts', import.meta.url)), 'daemon', {
      env: { ...process.env, BENCH_CONFIG: configFile, BENCH_HEAP_SNAPSHOT: snapshot },
      execArgv: ['--import', 'tsx'],
    });
    try {
      await child.next('ready');
      expect(existsSync(`${snapshot}.1`)).toBe(false);

      await child.ask('window', 'window-open');
      expect(existsSync(`${snapshot}.1`)).toBe(true);
      expect(existsSync(`${snapshot}.2`)).toBe(false);
      // Three keys every second: a few runs inside the window.
      await new Promise((r) => setTimeout(r, 2500));
      const figures = await child.ask<{ runs: number }>('close-window', 'window');

      expect(figures.runs).toBeGreaterThan(0);
      expect(existsSync(`${snapshot}.2`)).toBe(true);
      const before = stateIds(`${snapshot}.1`);
      const after = [...stateIds(`${snapshot}.2`)];
      // Each run replaces its key's state with a new object: the states new in the second snapshot.
      expect(before.size).toBeGreaterThan(0);
      expect(after.filter((id) => !before.has(id)).length).toBeGreaterThanOrEqual(Math.min(3, figures.runs));
    } finally {
      await child.close(10_000);
    }
  }, 60_000);
});
