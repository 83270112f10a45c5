/**
 * Start-up: a restarted daemon renders /metrics once in the background right after it listens, so
 * the first scrape is served from the loaded states without waiting for a second render; concurrent
 * renders share one; the start-up retention pass still runs (after that render).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gauge } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { startDaemon } from '../src/daemon.js';
import { ConfigError } from '../src/errors.js';
import { createMetrics } from '../src/metrics.js';
import { registry } from '../providers/index.js';
import { Secret } from '../src/secret.js';
import { HOUR_MS, openStore } from '../src/store/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { keyState } from './helpers/state.js';

const KEYS = 300;
const name = (i: number) => `key-${String(i).padStart(4, '0')}`;
const secret = (i: number) => `sk-or-v1-test-startup-${String(i).padStart(4, '0')}`;

/** A config of KEYS keys on a provider nobody listens on (runs are not started in these tests). */
function config(): string {
  const lines = ['defaults: { interval: 1m, timeout: 2s }', 'providers:', '  openrouter: { baseUrl: "http://127.0.0.1:9" }', 'keys:'];
  for (let i = 0; i < KEYS; i++) lines.push(`  - { name: ${name(i)}, provider: openrouter, key: ${secret(i)} }`);
  return `${lines.join('\n')}\n`;
}

/** What a daemon stopped earlier left: every key's state, and raw runs older than the retention. */
function seedStore(path: string, now: number, oldRuns: number): void {
  const store = openStore(path);
  for (let i = 0; i < KEYS; i++) {
    const s = new Secret(secret(i));
    store.saveState(
      keyState(name(i), {
        fingerprint: s.fingerprint(),
        masked: s.masked(),
        facts: { valid: true, currency: 'USD', usage: { total: i + 0.5 } },
        lastRunAt: now - 30_000,
      }),
    );
  }
  for (let j = 0; j < oldRuns; j++) {
    store.recordRun({ at: now - 72 * HOUR_MS + j * 1000, key: name(0), provider: 'openrouter', ok: true, durationMs: 10, facts: {}, outcomes: [] });
  }
  store.close();
}

/** Real alerting, plus a collector on the metrics registry that counts full renders. */

const T = Date.now();

let td: TestDaemon | undefined;
let dir: string | undefined;
afterEach(async () => {
  await td?.cleanup();
  td = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('start-up', () => {
  it('serves every saved key on the first scrape, from the lines rendered when it started listening', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-startup-'));
    seedStore(join(dir, 'keywatch.db'), T, 0);

    td = await startTestDaemon({ yaml: config(), dir, now: () => T });
    // No await between start and the request: it reaches the server while the pre-render is due.
    const res = await fetch(`${td.daemon.url}/metrics`);
    const text = await res.text();

    expect(res.status).toBe(200);
    const info = text.split('\n').filter((l) => l.startsWith('keywatch_key_info{'));
    expect(info).toHaveLength(KEYS);
    for (const i of [0, 137, KEYS - 1]) {
      expect(text).toContain(`keywatch_key_usage{key="${name(i)}",provider="openrouter",currency="USD",window="total"} ${i + 0.5}\n`);
    }
    // Each key's lines were rendered once, before or for the scrape: never twice.
    expect(td.daemon.metrics.stats().keyRenders).toBe(KEYS);
  });

  it('renders every key\'s /metrics lines right after listening, before anyone scrapes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-startup-'));
    seedStore(join(dir, 'keywatch.db'), T, 0);

    td = await startTestDaemon({ yaml: config(), dir, now: () => T });
    const before = td.daemon.metrics.stats().keyRenders;
    await td.daemon.started;

    expect(before).toBe(0);
    expect(td.daemon.metrics.stats()).toEqual({ cachedKeys: KEYS, keyRenders: KEYS, textRenders: KEYS });
  });

  it('still prunes raw runs past the retention once started, after the first render', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-startup-'));
    const storePath = join(dir, 'keywatch.db');
    seedStore(storePath, Date.now(), 50);
    const rawRows = () => (td!.daemon.store.db.prepare('SELECT count(*) AS n FROM probe_runs').get() as { n: number }).n;

    td = await startTestDaemon({ yaml: config(), dir, maintenanceStartDelayMs: 0 });
    expect(rawRows()).toBe(50);
    const deadline = Date.now() + 5000;
    while (rawRows() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    expect(rawRows()).toBe(0);
  });

  it('does not start the retention pass before its delay', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-startup-'));
    seedStore(join(dir, 'keywatch.db'), T, 50);

    td = await startTestDaemon({ yaml: config(), dir, maintenanceStartDelayMs: 60_000 });
    await td.metricsText();
    await new Promise((r) => setTimeout(r, 200));

    expect((td.daemon.store.db.prepare('SELECT count(*) AS n FROM probe_runs').get() as { n: number }).n).toBe(50);
  });
});

describe('metrics render sharing', () => {
  /** Metrics for two keys, with a collector that counts how often the registry was rendered. */
  function counted() {
    let states = [keyState('a', { facts: { valid: true } }), keyState('b')];
    const metrics = createMetrics({ states: () => states, cacheMs: 60_000 });
    const calls = { n: 0 };
    new Gauge({
      name: 'test_render_count',
      help: 'renders',
      registers: [metrics.registry],
      collect() {
        calls.n++;
      },
    });
    return { metrics, calls, replace: (next: typeof states) => (states = next) };
  }

  it('answers renders asked for while one is in progress with that render', async () => {
    const { metrics, calls } = counted();

    const [first, second, third] = await Promise.all([metrics.render(), metrics.render(), metrics.render()]);

    expect(calls.n).toBe(1);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(first).toContain('keywatch_key_valid{key="a",provider="openrouter"} 1');
  });

  it('renders again when the states changed during a render', async () => {
    const { metrics, calls, replace } = counted();

    const before = metrics.render();
    replace([keyState('a', { facts: { valid: false } })]);
    metrics.invalidate();
    const after = metrics.render();

    expect(await before).toContain('keywatch_key_valid{key="a",provider="openrouter"} 1');
    expect(await after).toContain('keywatch_key_valid{key="a",provider="openrouter"} 0');
    expect(await after).not.toContain('key="b"');
    expect(calls.n).toBe(2);
    // The stale render did not become the cache: the fresh one did.
    expect(await metrics.render()).toBe(await after);
    expect(calls.n).toBe(2);
  });
});

describe('start-up preflight', () => {
  it('names each key the scheduler would refuse by its index in the config, once per problem', async () => {
    const cfg = parseConfig(config(), { env: {}, providers: ['openrouter'] });
    // Past the loader's own checks (a config built in memory): what the scheduler cannot run.
    const bad = { ...cfg, keys: cfg.keys.map((k, i) => (i === 1 || i === 250 ? { ...k, schedule: '99 * * * *' } : i === 7 ? { ...k, intervalMs: 0 } : k)) };

    let thrown: unknown;
    try {
      await startDaemon({ config: bad, registry, listen: '127.0.0.1:0', storePath: ':memory:', schedule: false });
    } catch (err) {
      thrown = err;
    }

    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).issues.map((i) => i.path)).toStrictEqual(['keys[1].schedule', 'keys[7].interval', 'keys[250].schedule']);
    expect((thrown as ConfigError).issues[0]!.message).toMatch(/^invalid cron pattern/);
  });
});
