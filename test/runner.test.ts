import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAccount, ResolvedKey } from '../src/config/load.js';
import { ProbeError } from '../src/errors.js';
import { HttpClient, parseJson } from '../src/http/client.js';
import type { ProviderAdapter, ProviderRegistry } from '../src/provider.js';
import { mergeFacts, runAccount, runKey, slug } from '../src/runner.js';
import { Secret } from '../src/secret.js';
import { startFakeServer, type FakeServer } from '../src/sim/fake-server.js';
import { openrouter } from '../providers/openrouter/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';

const KEY_A = 'sk-or-v1-test-runner-aaaaaaaaaaaaaaaaaaaaaaaa';
const KEY_MGMT = 'sk-or-v1-test-runner-mgmtmgmtmgmtmgmtmgmtmgmt';

let sim: OpenRouterSim;
let fake: FakeServer;
const http = new HttpClient();

beforeAll(async () => {
  sim = await startOpenRouterSim({
    keys: [
      { key: KEY_A, name: 'Prod Main!', limit: 20, limitReset: 'monthly', usage: 3.5 },
      { key: 'sk-or-v1-test-runner-bbbbbbbbbbbbbbbbbbbbbbbb', name: 'Prod Main!', usage: 1 },
      { key: 'sk-or-v1-test-runner-cccccccccccccccccccccccc', name: 'old', disabled: true },
      { key: KEY_MGMT, management: true },
    ],
  });
  fake = await startFakeServer({
    '/v1/a': () => ({ body: { n: 1 } }),
    '/v1/b': () => ({ status: 429, headers: { 'retry-after': '7' }, body: { error: 'slow down' } }),
  });
});
afterAll(async () => {
  await sim.close();
  await fake.close();
  await http.close();
});

function key(over: Partial<ResolvedKey> = {}): ResolvedKey {
  return {
    name: 'prod',
    provider: 'openrouter',
    key: new Secret(KEY_A),
    baseUrl: sim.url,
    intervalMs: 60_000,
    timeoutMs: 2000,
    labels: {},
    watchModels: ['openrouter/auto'],
    thresholds: {},
    ...over,
  };
}

/** A provider made up for the test: probes that depend on each other, fail, and do not apply. */
const toy: ProviderAdapter = {
  id: 'toy',
  displayName: 'Toy',
  defaultBaseUrl: 'http://unused',
  currency: 'USD',
  allowedPaths: ['/a', '/b'],
  identify: {},
  probes: {
    current_key: async (ctx) => {
      const body = parseJson(await ctx.http.get('/a')) as { n: number };
      return { valid: true, usage: { total: body.n } };
    },
    balance_snapshot: async () => undefined,
    models: async (ctx) => {
      // Sees what current_key learned this run.
      if (ctx.known.usage?.total !== 1) throw new Error('fold broken');
      const res = await ctx.http.get('/b');
      if (res.status === 429) throw new ProbeError('rate_limited', 'rate limited (HTTP 429)', { status: 429, retryAfterMs: 7000 });
      return {};
    },
    rate_limits: async () => {
      throw new SyntaxError(`Unexpected token '<', "<html>${KEY_A}" is not valid JSON`);
    },
    identity: async (ctx) => {
      await ctx.http.get('/not-allowed');
      return {};
    },
  },
};

describe('runKey', () => {
  it('runs the real OpenRouter adapter against its simulator and reports its numbers', async () => {
    const registry: ProviderRegistry = new Map([['openrouter', openrouter]]);

    const r = await runKey({ key: key() }, { registry, http });

    expect(r.ok).toBe(true);
    expect(r.provider).toBe('openrouter');
    expect(r.outcomes.map((o) => o.probe)).toEqual(['current_key', 'models']);
    expect(r.facts).toMatchObject({ valid: true, limit: 20, currency: 'USD', usage: { total: 3.5 } });
    expect(r.facts.limitRemaining).toBeCloseTo(20 - r.facts.usage!.monthly!, 6);
    expect(sim.server.violations).toEqual([]);
  });

  it('records a revoked key as a finding, not a probe failure', async () => {
    const registry: ProviderRegistry = new Map([['openrouter', openrouter]]);

    const r = await runKey({ key: key({ key: new Secret('sk-or-v1-test-runner-revokedrevokedrevoked00') }) }, { registry, http });

    expect(r.outcomes[0]).toMatchObject({ probe: 'current_key', ok: true });
    expect(r.facts.valid).toBe(false);
    expect(r).toMatchObject({ ok: false, errorKind: 'invalid', failedProbe: 'current_key', allFailed: false });
  });

  it('runs every probe in order, folds facts forward, and keeps going after failures', async () => {
    const registry: ProviderRegistry = new Map([['toy', toy]]);

    const r = await runKey({ key: key({ provider: 'toy', baseUrl: `${fake.url}/v1` }) }, { registry, http });

    expect(r.outcomes.map((o) => [o.probe, o.ok, o.errorKind])).toEqual([
      ['current_key', true, undefined],
      ['models', false, 'rate_limited'],
      ['rate_limits', false, 'bad_response'],
      ['identity', false, 'config'],
    ]);
    expect(r).toMatchObject({ ok: false, failedProbe: 'models', errorKind: 'rate_limited', rateLimited: true, retryAfterMs: 7000 });
    expect(r.outcomes[1]!.status).toBe(429);
    // The body-quoting error is reduced to its name; nothing of the key survives.
    expect(r.outcomes[2]!.message).toBe('unexpected SyntaxError');
    expect(JSON.stringify(r)).not.toContain(KEY_A);
    expect(fake.violations).toEqual([]);
  });

  it("shows each probe the previous run's facts with everything learned before it, read after the probes before it", async () => {
    const seen: { probe: string; known: unknown }[] = [];
    const layered: ProviderAdapter = {
      ...toy,
      probes: {
        current_key: async (ctx) => {
          seen.push({ probe: 'current_key', known: ctx.known });
          return { valid: true, usage: { total: 6 } };
        },
        // Reads known twice: the second read is the same object (merged once), not a stale one.
        balance_snapshot: async (ctx) => {
          const first = ctx.known;
          seen.push({ probe: 'balance_snapshot', known: first });
          expect(ctx.known).toBe(first);
          // What this run learned before it, without the previous run's facts.
          expect(ctx.learned).toEqual({ valid: true, usage: { total: 6 } });
          return { balance: 3 };
        },
        // Does not read known: the next probe's view is still current.
        models: async () => ({ models: { count: 1, source: 'user', access: {}, pricingKnown: {} } }),
        rate_limits: async (ctx) => {
          seen.push({ probe: 'rate_limits', known: ctx.known });
          return undefined;
        },
      },
    };
    const registry: ProviderRegistry = new Map([['toy', layered]]);
    const previousFacts = { label: 'old', usage: { total: 5, daily: 1 }, balance: 9 };
    const previous = {
      name: 'prod',
      claimedProvider: 'toy',
      provider: 'toy',
      labels: {},
      watchModels: [],
      fingerprint: 'f',
      masked: 'm',
      facts: previousFacts,
      probes: {},
      lastSuccessAt: {},
      consecutiveFailures: 0,
    };

    const r = await runKey({ key: key({ provider: 'toy', baseUrl: `${fake.url}/v1` }), previous }, { registry, http });

    expect(r.ok).toBe(true);
    // Nothing learned yet: the previous facts themselves.
    expect(seen[0]!.known).toBe(previousFacts);
    expect(seen[1]!.known).toEqual({ label: 'old', usage: { total: 6, daily: 1 }, balance: 9, valid: true });
    expect(seen[2]!.known).toEqual({
      label: 'old',
      usage: { total: 6, daily: 1 },
      balance: 3,
      valid: true,
      models: { count: 1, source: 'user', access: {}, pricingKnown: {} },
    });
    // The previous facts are never written into.
    expect(previousFacts).toEqual({ label: 'old', usage: { total: 5, daily: 1 }, balance: 9 });
    // What this run learned, without the previous run's facts (a balance without a currency gets the adapter's).
    expect(r.facts).toEqual({
      valid: true,
      usage: { total: 6 },
      balance: 3,
      models: { count: 1, source: 'user', access: {}, pricingKnown: {} },
      currency: 'USD',
      balanceCurrency: 'USD',
    });
  });

  it('calls identify for provider auto, and reuses the detected provider next time', async () => {
    const registry: ProviderRegistry = new Map([['openrouter', openrouter]]);
    let calls = 0;
    const identify = async () => {
      calls++;
      return { provider: 'openrouter', identity: { provider: 'openrouter', confidence: 0.9, matchesClaim: false, evidence: [] } };
    };

    const first = await runKey({ key: key({ provider: 'auto' }) }, { registry, http, identify });
    const previous = {
      name: 'prod',
      claimedProvider: 'auto',
      provider: first.provider,
      labels: {},
      watchModels: [],
      fingerprint: new Secret(KEY_A).fingerprint(),
      masked: '',
      facts: first.facts,
      probes: {},
      lastSuccessAt: {},
      consecutiveFailures: 0,
    };
    const second = await runKey({ key: key({ provider: 'auto' }), previous }, { registry, http, identify });

    expect(first).toMatchObject({ claimedProvider: 'auto', provider: 'openrouter', ok: true });
    expect(first.outcomes[0]).toMatchObject({ probe: 'identity', ok: true });
    expect(second.provider).toBe('openrouter');
    expect(calls).toBe(1);
  });

  it('reports an unidentifiable auto key without throwing', async () => {
    const r = await runKey({ key: key({ provider: 'auto' }) }, { registry: new Map(), http, identify: async () => undefined });

    expect(r).toMatchObject({ provider: 'auto', ok: false, errorKind: 'config', failedProbe: 'identity' });
  });

  it('labels the key with the provider its identity says, when confident', async () => {
    const liar: ProviderAdapter = {
      ...toy,
      id: 'claimed',
      probes: { current_key: async () => ({ valid: true, identity: { provider: 'other', confidence: 0.85, matchesClaim: false, evidence: [] } }) },
    };

    const r = await runKey({ key: key({ provider: 'claimed' }) }, { registry: new Map([['claimed', liar]]), http });

    expect(r).toMatchObject({ claimedProvider: 'claimed', provider: 'other' });
  });

  it('bounds a probe that awaits something no HTTP timeout covers, and runs the next probe', async () => {
    const stuck: ProviderAdapter = {
      ...toy,
      id: 'stuck',
      probes: {
        current_key: () => new Promise<never>(() => undefined), // settles never
        models: async () => ({ valid: true }),
      },
    };
    const registry: ProviderRegistry = new Map([['stuck', stuck]]);
    const t0 = Date.now();

    const r = await runKey({ key: key({ provider: 'stuck', timeoutMs: 100 }) }, { registry, http });

    const waited = Date.now() - t0;
    expect(r.outcomes.map((o) => [o.probe, o.ok, o.errorKind])).toEqual([
      ['current_key', false, 'timeout'],
      ['models', true, undefined],
    ]);
    expect(r.outcomes[0]!.message).toBe('no answer within 100 ms');
    // The bound is 2 x 100 ms + 1 s, swept once a second.
    expect(waited).toBeGreaterThanOrEqual(1200);
    expect(waited).toBeLessThan(3500);
  });

  it('waits for the rate cap before each request', async () => {
    const registry: ProviderRegistry = new Map([['openrouter', openrouter]]);
    let acquired = 0;
    sim.server.reset();

    await runKey({ key: key() }, { registry, http, acquire: async () => void acquired++ });

    expect(sim.server.requests.length).toBeGreaterThanOrEqual(2);
    expect(acquired).toBe(sim.server.requests.length);
  });
});

describe('runAccount', () => {
  const account = (over: Partial<ResolvedAccount> = {}): ResolvedAccount => ({
    name: 'acme',
    provider: 'openrouter',
    adminKey: new Secret(KEY_MGMT),
    baseUrl: sim.url,
    intervalMs: 60_000,
    timeoutMs: 2000,
    labels: {},
    watchModels: [],
    thresholds: {},
    includeDisabled: false,
    ...over,
  });

  it('names discovered keys <account>.<slug> from one listing, without per-key requests', async () => {
    sim.server.reset();

    const r = await runAccount(account(), { registry: new Map([['openrouter', openrouter]]), http });

    expect(r.outcome.ok).toBe(true);
    const names = r.keys!.map((k) => k.key);
    expect(names).toHaveLength(2);
    expect(names).toContain('acme.prod-main');
    expect(names.find((n) => n !== 'acme.prod-main')).toMatch(/^acme\.prod-main-[0-9a-f]{6}$/);
    expect(r.keys!.find((k) => k.facts.usage?.total === 3.5)).toMatchObject({ account: 'acme', ok: true, provider: 'openrouter' });
    expect(sim.server.requests.map((q) => q.path)).toEqual(['/api/v1/keys']);
  });

  it('keeps the listing undefined when discovery fails', async () => {
    const r = await runAccount(account({ adminKey: new Secret(KEY_A) }), { registry: new Map([['openrouter', openrouter]]), http });

    expect(r.keys).toBeUndefined();
    expect(r.outcome).toMatchObject({ ok: false, errorKind: 'auth' });
  });
});

describe('helpers', () => {
  it.each([
    ['Prod Main!', 'prod-main'],
    ['  --weird__Name..', 'weird__name'],
    ['日本', ''],
  ])('slug(%j) = %j', (input, out) => {
    expect(slug(input)).toBe(out);
  });

  it('mergeFacts merges usage windows one level deep', () => {
    expect(mergeFacts({ usage: { total: 1, daily: 2 }, limit: 5 }, { usage: { daily: 3 }, limit: null })).toEqual({
      usage: { total: 1, daily: 3 },
      limit: null,
    });
  });
});

describe('models interval', () => {
  const registry: ProviderRegistry = new Map([['openrouter', openrouter]]);

  it('skips the models probe while its last good answer is younger than modelsInterval, never the key probe', async () => {
    let t = Date.UTC(2026, 10, 28, 12, 0, 0);
    const now = () => t;
    const k = key({ modelsIntervalMs: 15 * 60_000 });
    const state = (r: Awaited<ReturnType<typeof runKey>>) => ({
      name: 'prod',
      claimedProvider: 'openrouter',
      provider: 'openrouter',
      labels: {},
      watchModels: k.watchModels,
      fingerprint: k.key.fingerprint(),
      masked: k.key.masked(),
      facts: r.facts,
      probes: Object.fromEntries(r.outcomes.map((o) => [o.probe, o])),
      lastSuccessAt: {},
      consecutiveFailures: 0,
    });

    const first = await runKey({ key: k }, { registry, http, now });
    t += 60_000;
    const second = await runKey({ key: k, previous: state(first) }, { registry, http, now });
    t += 15 * 60_000;
    const third = await runKey({ key: k, previous: state(first) }, { registry, http, now });
    const everyRun = await runKey({ key: key({ modelsIntervalMs: 0 }), previous: state(first) }, { registry, http, now });

    expect(first.outcomes.map((o) => o.probe)).toEqual(['current_key', 'models']);
    expect(second.outcomes.map((o) => o.probe)).toEqual(['current_key']);
    expect(third.outcomes.map((o) => o.probe)).toEqual(['current_key', 'models']);
    expect(everyRun.outcomes.map((o) => o.probe)).toEqual(['current_key', 'models']);
  });
});
