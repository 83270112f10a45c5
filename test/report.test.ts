import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerIds, registry } from '../providers/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { runReport } from '../src/cli/report.js';
import type { ResolvedKey } from '../src/config/load.js';
import { HttpClient } from '../src/http/client.js';
import { runKey, runRecordOf, type RunResult } from '../src/runner.js';
import { Secret } from '../src/secret.js';
import type { KeyState } from '../src/state.js';
import { openStore } from '../src/store/index.js';

const LIVE = `sk-or-v1-test-${'1'.repeat(51)}`;
const DEAD = `sk-or-v1-test-${'2'.repeat(51)}`;
const FRESH = `sk-or-v1-test-${'3'.repeat(51)}`;
const T0 = Date.UTC(2026, 8, 14, 9, 0, 0);
const MIN = 60_000;

let dir: string;
let sim: OpenRouterSim;
let config: string;
let t = T0;

function resolved(name: string, key: string): ResolvedKey {
  return { name, provider: 'openrouter', key: new Secret(key), baseUrl: sim.url, intervalMs: MIN, timeoutMs: 5000, labels: {}, watchModels: [], thresholds: {} };
}

function stateOf(r: RunResult, key: string): KeyState {
  const secret = new Secret(key);
  return {
    name: r.key,
    claimedProvider: r.claimedProvider,
    provider: r.provider,
    labels: {},
    watchModels: [],
    fingerprint: secret.fingerprint(),
    masked: secret.masked(),
    facts: r.facts,
    probes: Object.fromEntries(r.outcomes.map((o) => [o.probe, o])),
    lastSuccessAt: {},
    lastRunAt: r.startedAt + r.durationMs,
    consecutiveFailures: r.allFailed ? 1 : 0,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kw-report-'));
  sim = await startOpenRouterSim({
    keys: [
      { key: LIVE, limit: 100, usage: 10, usagePerHour: 0.5 },
      { key: DEAD, revoked: true },
    ],
    now: () => t,
  });
  const store = openStore(join(dir, 'kw.db'));
  const http = new HttpClient();
  for (let i = 0; i < 5; i++) {
    t = T0 + i * 5 * MIN;
    for (const [name, key] of [['live', LIVE], ['dead', DEAD]] as const) {
      const r = await runKey({ key: resolved(name, key) }, { registry, http, now: () => t });
      store.recordRun(runRecordOf(r));
      store.saveState(stateOf(r, key));
    }
  }
  // A key found by fleet discovery of the `acme` account: only in the store, not in the config's keys.
  const found = await runKey({ key: resolved('acme.team-a', LIVE) }, { registry, http, now: () => t });
  store.saveState({ ...stateOf(found, LIVE), account: 'acme' });
  store.close();
  await http.close();
  config = join(dir, 'keywatch.yaml');
  writeFileSync(
    config,
    [
      'storage:',
      `  path: ${join(dir, 'kw.db')}`,
      'keys:',
      ...['live', 'dead', 'fresh'].flatMap((n) => [`  - name: ${n}`, '    provider: openrouter', `    key: \${${n.toUpperCase()}_KEY}`, `    baseUrl: ${sim.url}`]),
      'accounts:',
      '  - name: acme',
      '    provider: openrouter',
      '    adminKey: ${ACME_ADMIN_KEY}',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

async function report(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += String(d)));
  stderr.on('data', (d) => (err += String(d)));
  const code = await runReport(args, { stdout, stderr, stdin: Readable.from([]), env }, { providers: providerIds(), now: () => t });
  return { code, out, err };
}

describe('keywatch report', () => {
  it('judges every configured key from the store, worst verdict as exit code, without probing', async () => {
    const before = sim.server.requests.length;

    const run = await report(['--config', config, '--json'], { LIVE_KEY: LIVE, DEAD_KEY: DEAD, FRESH_KEY: FRESH });

    const doc = JSON.parse(run.out) as { exitCode: number; keys: Record<string, any>[] };
    const by = Object.fromEntries(doc.keys.map((k) => [k.name, k]));
    expect(run.code).toBe(2);
    expect(doc.exitCode).toBe(2);
    expect(doc.keys.map((k) => k.name)).toEqual(['live', 'dead', 'fresh', 'acme.team-a']);
    expect(by['acme.team-a'].facts.valid).toBe(true);
    expect(by.live.readiness.verdict).toBe('ready');
    expect(by.live.burnRates.find((r: any) => r.window === '1h').perHour).toBeCloseTo(0.5, 6);
    expect(by.live.exhaustion).toMatchObject({ against: 'limit' });
    expect(by.live.stability).toMatchObject({ ratio: 1, samples: 5 });
    expect(by.dead.readiness.verdict).toBe('blocked');
    expect(by.dead.stability.failures).toEqual({ revoked: 5 });
    expect(by.fresh.readiness.verdict).toBe('review');
    expect(by.fresh.readiness.nextActions).toContainEqual(expect.objectContaining({ action: 'add_monitoring' }));
    expect(sim.server.requests.length).toBe(before);
    for (const k of [LIVE, DEAD, FRESH]) expect(run.out).not.toContain(k);
  });

  it('needs no secrets in the environment and prints a human summary', async () => {
    const run = await report(['--config', config]);

    expect(run.code).toBe(2);
    expect(run.out).toMatch(/^== live$/m);
    expect(run.out).toMatch(/^burn\s+1h 0\.5 USD\/h/m);
    expect(run.out).toMatch(/^4 keys: 2 ready, 1 review, 1 blocked$/m);
    expect(run.out).not.toContain('unset.invalid');
  });

  it('--key narrows to one key and its exit code', async () => {
    const run = await report(['--config', config, '--key', 'live', '--json']);

    expect(run.code).toBe(0);
    expect((JSON.parse(run.out) as { keys: unknown[] }).keys).toHaveLength(1);
  });

  it.each([
    ['an unknown --key', ['--key', 'nope'], /no key named "nope"/],
    ['a missing config', ['--config', '/nonexistent/keywatch.yaml'], /file not found/],
  ])('exits 3 for %s', async (_name, args, message) => {
    const run = await report(args[0] === '--config' ? args : ['--config', config, ...args]);

    expect(run.code).toBe(3);
    expect(run.err).toMatch(message);
  });

  it('exits 3 when the daemon has not created the store yet', async () => {
    const other = join(dir, 'empty.yaml');
    writeFileSync(other, `storage:\n  path: ${join(dir, 'never', 'kw.db')}\nkeys: []\n`);

    const run = await report(['--config', other]);

    expect(run.code).toBe(3);
    expect(run.err).toMatch(/no store at/);
  });
});
