import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GetCreditsResponse$inboundSchema } from '@openrouter/sdk/models/operations/getcredits.js';
import { GetCurrentKeyResponse$inboundSchema } from '@openrouter/sdk/models/operations/getcurrentkey.js';
import { ListResponse$inboundSchema } from '@openrouter/sdk/models/operations/list.js';
import { ModelsListResponse$inboundSchema } from '@openrouter/sdk/models/modelslistresponse.js';
import { HttpClient } from '../../src/http/client.js';
import type { ProbeContext } from '../../src/provider.js';
import { ProbeError } from '../../src/errors.js';
import { Secret } from '../../src/secret.js';
import { CurrentKeyResponse } from './schema.js';
import { nextReset, openrouter, KEYS_PAGE_SIZE } from './index.js';
import { startOpenRouterSim, type OpenRouterSim } from './sim.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));

const KEY = 'sk-or-v1-test-0000000000000000000000000000000000000000000000000000000000aa';
const MGMT = 'sk-or-v1-test-mgmt-000000000000000000000000000000000000000000000000000000';
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0); // Wednesday

describe('openrouter fixtures and simulator follow the vendor schemas', () => {
  let sim: OpenRouterSim;
  beforeAll(async () => {
    sim = await startOpenRouterSim({
      now: () => T0,
      keys: [
        { key: KEY, name: 'one', limit: 50, limitReset: 'monthly', usage: 10, usagePerHour: 0.5 },
        { key: MGMT, management: true },
      ],
    });
  });
  afterAll(() => sim.close());

  it('the spec example validates against @openrouter/sdk and our schema', () => {
    const body = fixture('key.spec-example.json');

    expect(GetCurrentKeyResponse$inboundSchema.safeParse(body).success).toBe(true);
    expect(CurrentKeyResponse.safeParse(body).success).toBe(true);
    expect(CurrentKeyResponse.safeParse(fixture('key.observed.json')).success).toBe(true);
    expect(GetCreditsResponse$inboundSchema.safeParse(fixture('credits.json')).success).toBe(true);
  });

  it.each([
    ['/key', KEY, GetCurrentKeyResponse$inboundSchema],
    ['/credits', MGMT, GetCreditsResponse$inboundSchema],
    ['/models', undefined, ModelsListResponse$inboundSchema],
    ['/models/user', KEY, ModelsListResponse$inboundSchema],
    ['/keys', MGMT, ListResponse$inboundSchema],
  ] as const)('simulator %s validates', async (path, key, schema) => {
    const res = await fetch(sim.url + path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    const body = await res.json();

    expect(res.status).toBe(200);
    const parsed = schema.safeParse(body);
    expect(parsed.error?.issues ?? []).toEqual([]);
  });
});

describe('openrouter adapter against the simulator', () => {
  let now = T0;
  let sim: OpenRouterSim;
  const http = new HttpClient();
  beforeAll(async () => {
    sim = await startOpenRouterSim({
      now: () => now,
      creditsTrap: 'zeros',
      totalCredits: 200,
      keys: [
        { key: KEY, name: 'steady', limit: 50, limitReset: 'daily', usage: 10, usagePerHour: 0.5 },
        { key: 'sk-or-v1-test-unlimited', name: 'unlimited', limit: null, usage: 3 },
        { key: 'sk-or-v1-test-revoked', revoked: true },
        { key: MGMT, management: true },
      ],
    });
  });
  afterEach(() => {
    now = T0;
  });
  afterAll(async () => {
    await sim.close();
    await http.close();
  });

  const ctx = (key: string, extra: Partial<ProbeContext> = {}): ProbeContext => ({
    http: http.scoped(sim.url, openrouter.allowedPaths),
    baseUrl: sim.url,
    key: new Secret(key),
    timeoutMs: 2000,
    watchModels: ['openrouter/auto', 'openrouter/free', 'openai/gpt-4o-mini', 'no/such-model'],
    known: {},
    now: () => now,
    ...extra,
  });

  it('reads the current key: windows, limit, reset', async () => {
    now = T0 + 2 * 3_600_000;

    const facts = await openrouter.probes.current_key(ctx(KEY));

    expect(facts).toMatchObject({
      valid: true,
      currency: 'USD',
      // Spending began 20 h before T0 (10 USD at 0.5/h), so the week and month hold all of it.
      usage: { total: 11, daily: 7, weekly: 11, monthly: 11 },
      limit: 50,
      limitRemaining: 43,
      limitReset: 'daily',
      limitResetAt: Date.UTC(2026, 10, 26) / 1000,
      isManagementKey: false,
      rateLimits: { free_daily: { limit: 1000, remaining: 1000 } },
    });
    expect(facts.identity?.provider).toBe('openrouter');
  });

  it('falls back to the legacy /auth/key when /key answers 404', async () => {
    const legacy = await startOpenRouterSim({ now: () => now, keys: [{ key: KEY, limit: 50, usage: 4 }] });
    legacy.server.route('/api/v1/key', () => ({ status: 404, body: { error: { code: 404, message: 'Not Found' } } }));

    const facts = await openrouter.probes.current_key({ ...ctx(KEY), http: http.scoped(legacy.url, openrouter.allowedPaths) });

    await legacy.close();
    expect(legacy.server.requests.map((r) => r.path)).toEqual(['/api/v1/key', '/api/v1/auth/key']);
    expect(facts).toMatchObject({ valid: true, usage: { total: 4 }, limit: 50, limitRemaining: 46 });
  });

  it('treats limit null as unlimited, never zero', async () => {
    const facts = await openrouter.probes.current_key(ctx('sk-or-v1-test-unlimited'));

    expect(facts.limit).toBeNull();
    expect(facts.limitRemaining).toBeNull();
  });

  it('reports a revoked key as a finding, not an error', async () => {
    const facts = await openrouter.probes.current_key(ctx('sk-or-v1-test-revoked'));

    expect(facts).toEqual({ valid: false, validity: 'revoked' });
  });

  it('never reports a balance without a management key', async () => {
    const none = await openrouter.probes.balance_snapshot(ctx(KEY));
    const trap = openrouter.probes.balance_snapshot(ctx(KEY, { adminKey: new Secret(KEY) }));

    expect(none).toBeUndefined();
    await expect(trap).rejects.toMatchObject({ kind: 'auth' });
  });

  it('computes balance = total_credits - total_usage with a management key', async () => {
    const facts = await openrouter.probes.balance_snapshot(ctx(KEY, { adminKey: new Secret(MGMT) }));

    expect(facts).toEqual({ balance: 200 - 13, balanceCurrency: 'USD' });
  });

  it("a management key's own balance: told by this run's /key answer first, else by what is known, as the merged facts would tell", async () => {
    const balance = { balance: 200 - 13, balanceCurrency: 'USD' };
    // This run's /key said management; the previous run's facts did not.
    expect(await openrouter.probes.balance_snapshot(ctx(MGMT, { known: { isManagementKey: false }, learned: { isManagementKey: true } }))).toEqual(balance);
    // No /key answer this run: the known facts.
    expect(await openrouter.probes.balance_snapshot(ctx(MGMT, { known: { isManagementKey: true }, learned: {} }))).toEqual(balance);
    expect(await openrouter.probes.balance_snapshot(ctx(MGMT, { known: { isManagementKey: true } }))).toEqual(balance);
    // This run's answer left the field unset: it is unset in the merged facts too (not the older value).
    expect(await openrouter.probes.balance_snapshot(ctx(MGMT, { known: { isManagementKey: true }, learned: { isManagementKey: undefined } }))).toBeUndefined();
    expect(await openrouter.probes.balance_snapshot(ctx(MGMT, { known: { isManagementKey: true }, learned: { isManagementKey: false } }))).toBeUndefined();
  });

  it('records model access for watched models; router "-1" prices are unknown', async () => {
    const facts = await openrouter.probes.models(ctx(KEY));

    expect(facts.models).toEqual({
      count: 6,
      source: 'user',
      access: { 'openrouter/auto': true, 'openrouter/free': true, 'openai/gpt-4o-mini': true, 'no/such-model': false },
      pricingKnown: { 'openrouter/auto': false, 'openrouter/free': true, 'openai/gpt-4o-mini': true },
    });
  });

  it('discovers every key of the account in pages of 100', async () => {
    for (let i = 0; i < 250; i++) sim.addKey({ key: `sk-or-v1-test-fleet-${i}`, name: `Fleet ${i}`, limit: 5, usage: i / 100 });
    sim.server.reset();

    const found = await openrouter.discover({
      http: http.scoped(sim.url, openrouter.allowedPaths),
      baseUrl: sim.url,
      adminKey: new Secret(MGMT),
      timeoutMs: 2000,
      now: () => now,
    });

    expect(found).toHaveLength(253);
    expect(sim.server.requests.map((r) => r.path)).toEqual(['/api/v1/keys', '/api/v1/keys', '/api/v1/keys']);
    expect(Math.ceil(253 / KEYS_PAGE_SIZE)).toBe(3);
    expect(found.find((k) => k.name === 'Fleet 7')?.facts).toMatchObject({ limit: 5, usage: { total: 0.07 } });
    for (let i = 0; i < 250; i++) sim.removeKey(`sk-or-v1-test-fleet-${i}`);
  });

  it.each([
    ['500', 'upstream'],
    ['429', 'rate_limited'],
    ['html', 'bad_response'],
    ['garbage', 'bad_response'],
    ['huge', 'bad_response'],
    ['hang', 'timeout'],
  ] as const)('classifies a %s answer as %s, without the key in the message', async (fault, kind) => {
    const key = `sk-or-v1-test-fault-${fault}`;
    sim.addKey({ key, fault });

    const err = await openrouter.probes.current_key(ctx(key, { timeoutMs: 300 })).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).kind).toBe(kind);
    expect(String((err as Error).message)).not.toContain(key);
    if (fault === '429') expect((err as ProbeError).retryAfterMs).toBe(30_000);
  });

  it('parses the free-tier 429 whose rate-limit headers are echoed in the body (reset in ms)', async () => {
    sim.server.route('/api/v1/key', () => ({ status: 429, body: fixture('error-429-free.json') }));
    now = Date.UTC(2026, 8, 30, 18, 0, 0);

    const err = (await openrouter.probes.current_key(ctx(KEY)).catch((e: unknown) => e)) as ProbeError;

    expect(err.kind).toBe('rate_limited');
    expect(err.rateLimits).toEqual({ requests: { limit: 50, remaining: 0, resetAt: 1_790_812_800 } });
    expect(err.retryAfterMs).toBe(1_790_812_800_000 - now);
  });

  it('only ever sends GET to allowlisted paths', () => {
    expect(sim.server.violations).toEqual([]);
    for (const r of sim.server.requests) {
      expect(r.method).toBe('GET');
      expect(openrouter.allowedPaths).toContain(r.path.replace('/api/v1', ''));
    }
  });
});

describe('openrouter limit resets', () => {
  it('the next reset is the next UTC midnight, Monday or first of the month, asked in any order across days', () => {
    // Worked out from the calendar, as the adapter did before it kept a day's answers.
    const expected = (reset: 'daily' | 'weekly' | 'monthly', now: number): number => {
      const d = new Date(now);
      const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      if (reset === 'daily') return (day + 86_400_000) / 1000;
      if (reset === 'weekly') return (day + ((8 - d.getUTCDay()) % 7 || 7) * 86_400_000) / 1000;
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
    };
    const instants = [
      Date.UTC(2026, 10, 29, 23, 59, 59, 999), // Sunday's last millisecond, the month's second-last day
      Date.UTC(2026, 10, 30), // Monday midnight, the month's last day
      Date.UTC(2026, 10, 25, 12), // back to a Wednesday
      Date.UTC(2026, 11, 31, 23, 59, 59, 999), // the year's last millisecond
      Date.UTC(2027, 0, 1),
      Date.UTC(2028, 1, 28, 6), // leap February
      Date.UTC(2028, 1, 29, 6),
      Date.UTC(2026, 10, 30, 18),
    ];
    for (const now of instants) {
      for (const reset of ['monthly', 'daily', 'weekly', 'daily'] as const) expect(nextReset(reset, now), `${reset} at ${new Date(now).toISOString()}`).toBe(expected(reset, now));
    }
    expect(nextReset('weekly', Date.UTC(2026, 10, 29, 23, 59, 59, 999))).toBe(Date.UTC(2026, 10, 30) / 1000);
    expect(nextReset('weekly', Date.UTC(2026, 10, 30))).toBe(Date.UTC(2026, 11, 7) / 1000);
    expect(nextReset('monthly', Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe(Date.UTC(2027, 0, 1) / 1000);
  });
});
