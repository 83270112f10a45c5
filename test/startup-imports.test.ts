/**
 * Start-up loads undici's Agent and prom-client's Registry, Gauge and Counter from the packages' own
 * files, not their indexes (src/http/undici.ts, src/prom-client.ts: ~50 and ~35 ms of a fresh
 * process). A fresh process importing what `keywatch run` imports must not have loaded either
 * index; what it gets are the packages' own classes.
 */
import { spawnSync } from 'node:child_process';
import * as PromClient from 'prom-client';
import { Agent as IndexAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { Agent, loadedFromFiles as undiciFromFiles, undiciUtil } from '../src/http/undici.js';
import { Counter, Gauge, loadedFromFiles as promFromFiles, Registry } from '../src/prom-client.js';

describe('the libraries start-up loads', () => {
  it("are undici's own Agent and header helper, taken from its files", () => {
    expect(undiciFromFiles).toBe(true);
    expect(Agent).toBe(IndexAgent);
    expect(undiciUtil.headerNameToString(Buffer.from('Content-Type'))).toBe('content-type');
  });

  it("are prom-client's own Registry, Gauge and Counter, taken from its files", async () => {
    expect(promFromFiles).toBe(true);
    expect([Registry, Gauge, Counter]).toEqual([PromClient.Registry, PromClient.Gauge, PromClient.Counter]);
    const registry = new Registry();
    new Gauge({ name: 'kw_test_gauge', help: 'h', registers: [registry] }).set(2);
    expect(await registry.metrics()).toContain('kw_test_gauge 2');
  });

  it("are all of undici and prom-client that `keywatch run`'s modules load (until a notification is sent)", () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "await import('./src/cli/run.ts');",
      'const files = Object.keys(createRequire(import.meta.url).cache);',
      'const of = (pkg) => files.filter((k) => k.includes(`/node_modules/${pkg}/`));',
      "const index = (pkg) => of(pkg).some((k) => k.endsWith(`/node_modules/${pkg}/index.js`));",
      "console.log(JSON.stringify({ undici: [of('undici').length, index('undici')], prom: [of('prom-client').length, index('prom-client')] }));",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<'undici' | 'prom', [number, boolean]>;
    expect(out.undici[0]).toBeGreaterThan(0);
    expect(out.prom[0]).toBeGreaterThan(0);
    expect({ undiciIndex: out.undici[1], promIndex: out.prom[1] }).toEqual({ undiciIndex: false, promIndex: false });
  });
});
