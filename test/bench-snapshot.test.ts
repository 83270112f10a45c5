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

/** Node ids of a heap snapshot (they persist for an object within a process). */
function nodeIds(file: string): Set<number> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = s.snapshot.meta.node_fields;
  const id = fields.indexOf('id');
  const ids = new Set<number>();
  for (let i = 0; i < s.nodes.length; i += fields.length) ids.add(s.nodes[i + id]!);
  return ids;
}

describe('BENCH_HEAP_SNAPSHOT', () => {
  it('writes <file>.1 before the first window opens and <file>.2 before its figures are sent; the second holds objects the first did not', async () => {
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
      const before = nodeIds(`${snapshot}.1`);
      const after = [...nodeIds(`${snapshot}.2`)];
      expect(after.filter((id) => !before.has(id)).length).toBeGreaterThan(0);
    } finally {
      await child.close(10_000);
    }
  }, 60_000);
});
