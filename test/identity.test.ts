import { afterAll, describe, expect, it } from 'vitest';
import type { ResolvedKey } from '../src/config/load.js';
import { HttpClient } from '../src/http/client.js';
import { describeIdentity, identify, identifyKey, makeIdentify } from '../src/identity.js';
import { runKey } from '../src/runner.js';
import type { ProviderAdapter, ProviderRegistry } from '../src/provider.js';
import { Secret } from '../src/secret.js';
import { registry } from '../providers/index.js';
import { startAnthropicSim } from '../providers/anthropic/sim.js';
import { startDeepSeekSim } from '../providers/deepseek/sim.js';
import { startGeminiSim } from '../providers/gemini/sim.js';
import { startNewApiSim } from '../providers/new-api/sim.js';
import { startGatewaySim } from '../providers/one-api/sim.js';
import { startOpenAiSim } from '../providers/openai/sim.js';
import { startOpenAiCompatibleSim } from '../providers/openai-compatible/sim.js';
import type { ProviderSim, SimOptions } from '../providers/openai-compatible/sim-kit.js';
import { startXaiSim } from '../providers/xai/sim.js';
import { startGroqSim } from '../providers/groq/sim.js';
import { startMistralSim } from '../providers/mistral/sim.js';
import { startMoonshotSim } from '../providers/moonshot/sim.js';
import { startSiliconFlowSim } from '../providers/siliconflow/sim.js';
import { startTogetherSim } from '../providers/together/sim.js';
import { startOpenRouterSim } from '../providers/openrouter/sim.js';

const http = new HttpClient();
afterAll(() => http.close());

function resolvedKey(key: string, baseUrl: string | undefined, provider = 'auto'): ResolvedKey {
  return {
    name: 'k',
    provider,
    key: new Secret(key),
    ...(baseUrl !== undefined ? { baseUrl } : {}),
    intervalMs: 60_000,
    timeoutMs: 2000,
    labels: {},
    watchModels: [],
    thresholds: {},
  };
}

async function withSim<T>(start: (o: SimOptions) => Promise<ProviderSim>, key: string, fn: (sim: ProviderSim) => Promise<T>): Promise<T> {
  const sim = await start({ key });
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}

const FAKES: [string, (o: SimOptions) => Promise<ProviderSim>, string][] = [
  ['openai', startOpenAiSim, 'sk-proj-test-0000000000000000000000T3BlbkFJ000000000000000000000000'],
  ['anthropic', startAnthropicSim, `sk-ant-api03-${'t'.repeat(93)}AA`],
  ['deepseek', startDeepSeekSim, 'sk-0123456789abcdef0123456789abcdef'],
  ['xai', startXaiSim, `xai-${'T'.repeat(80)}`],
  ['gemini', startGeminiSim, `AIzaSy${'T'.repeat(33)}`],
  ['one-api', startGatewaySim, 'sk-gatewaytest000000000000000000000000000000000000'],
  ['new-api', startNewApiSim, 'sk-gatewaytest000000000000000000000000000000000000'],
  ['openai-compatible', startOpenAiCompatibleSim, 'sk-local-test-000000000000'],
  ['moonshot', startMoonshotSim, 'sk-moonshottest00000000000000000000000000000000000'],
  ['siliconflow', startSiliconFlowSim, 'sk-siliconflowtest000000000000000000000000000000'],
  ['groq', startGroqSim, `gsk_${'T'.repeat(52)}`],
  ['mistral', startMistralSim, 'TestMistralKey0000000000000000000'],
  ['together', startTogetherSim, `tgp_v1_${'T'.repeat(43)}`],
];

describe('identifyKey against fakes of each provider at an explicit base URL', () => {
  it.each(FAKES)('names %s', async (expected, start, key) => {
    const found = await withSim(start, key, async (sim) => {
      const result = await identifyKey(resolvedKey(key, sim.baseUrl), http, registry);
      expect(sim.server.requests.every((r) => r.method === 'GET')).toBe(true);
      return result;
    });

    expect(found?.provider).toBe(expected);
    expect(found?.identity.confidence).toBeGreaterThanOrEqual(0.5);
    expect(found?.identity.matchesClaim).toBe(true);
    expect(found?.identity.evidence.length).toBeGreaterThan(0);
  });
});

it('names openrouter for the OpenRouter simulator', async () => {
  const key = `sk-or-v1-${'ab'.repeat(32)}`;
  const sim = await startOpenRouterSim({ keys: [{ key, limit: 10, usage: 1 }] });

  const found = await identifyKey(resolvedKey(key, sim.url), http, registry);
  await sim.close();

  expect(found?.provider).toBe('openrouter');
  expect(found?.identity.evidence.map((e) => e.signal)).toContain('its openrouter key endpoint accepted the key');
});

describe('gateways at an OpenAI-looking path', () => {
  it.each([
    ['one-api', startGatewaySim],
    ['new-api', startNewApiSim],
  ] as const)('%s: "OpenAI-compatible gateway, not OpenAI"', async (id, start) => {
    const key = 'sk-gatewaytest000000000000000000000000000000000000';

    const found = await withSim(start, key, (sim) => identifyKey(resolvedKey(key, sim.baseUrl, 'openai'), http, registry));

    expect(found?.provider).toBe(id);
    expect(found?.identity.matchesClaim).toBe(false);
    const sentence = describeIdentity(found?.identity, registry);
    expect(sentence).toContain('OpenAI-compatible gateway, not OpenAI');
    expect(sentence).toContain('not the configured provider');
    expect(found?.identity.evidence.some((e) => /billing/.test(e.signal))).toBe(true);
  });

  it('the real OpenAI refuses the legacy billing endpoint with the "session key" 403 and is named OpenAI', async () => {
    const key = 'sk-proj-test-0000000000000000000000T3BlbkFJ000000000000000000000000';

    const found = await withSim(startOpenAiSim, key, (sim) => identifyKey(resolvedKey(key, sim.baseUrl, 'openai'), http, registry));

    expect(found?.identity).toMatchObject({ provider: 'openai', matchesClaim: true, account: 'acme-test-org' });
    expect(found?.identity.evidence.map((e) => e.signal)).toContain('legacy billing endpoint refused a secret key with the "session key" 403');
    expect(describeIdentity(found?.identity, registry)).toMatch(/^OpenAI, \d+% confidence/);
  });
});

describe('identifyKey without a base URL: candidates by key prefix, at their own hosts', () => {
  it('a generic sk- key is tried at DeepSeek first, and DeepSeek accepts it', async () => {
    const key = 'sk-0123456789abcdef0123456789abcdef';
    const ds = await startDeepSeekSim({ key });
    const oa = await startOpenAiSim({ key: 'sk-other' });
    const moved: ProviderRegistry = new Map(
      [...registry.values()].map((a): [string, ProviderAdapter] => {
        if (a.id === 'deepseek') return [a.id, { ...a, defaultBaseUrl: ds.baseUrl }];
        if (a.id === 'openai') return [a.id, { ...a, defaultBaseUrl: oa.baseUrl }];
        return [a.id, { ...a, defaultBaseUrl: '' }]; // nothing else may be reached
      }),
    );

    const found = await identifyKey(resolvedKey(key, undefined), http, moved);
    await ds.close();
    await oa.close();

    expect(found?.provider).toBe('deepseek');
    expect(ds.server.requests.map((r) => r.path)).toEqual(['/user/balance']);
    expect(oa.server.requests).toEqual([]);
  });

  it('a key every candidate refuses is not attributed by a probe', async () => {
    const key = 'sk-ffffffffffffffffffffffffffffffff';
    const ds = await startDeepSeekSim({ key: 'sk-someoneelse' });
    const moved: ProviderRegistry = new Map(
      [...registry.values()].map((a): [string, ProviderAdapter] => [a.id, { ...a, defaultBaseUrl: a.id === 'deepseek' ? ds.baseUrl : '' }]),
    );

    const found = await identifyKey(resolvedKey(key, undefined), http, moved);
    await ds.close();

    expect(found?.identity.evidence.some((e) => /accepted/.test(e.signal)) ?? false).toBe(false);
  });
});

it('a hanging endpoint is given up on after one request; the key format alone still names it', async () => {
  const key = `xai-${'T'.repeat(80)}`;
  const sim = await startXaiSim({ key, scenario: 'hang' });

  const found = await identifyKey({ ...resolvedKey(key, sim.baseUrl), timeoutMs: 200 }, http, registry);
  const reached = sim.server.requests.length;
  await sim.close();

  expect(reached).toBe(1);
  expect(found?.provider).toBe('xai');
  expect(found?.identity.evidence.map((e) => e.signal)).toEqual(['key format of xAI']);
});

it('404s from paths a gateway does not serve are not evidence of anyone', async () => {
  const key = 'sk-gatewaytest000000000000000000000000000000000000';
  const sim = await startGatewaySim({ key, scenario: 'invalid' });

  const found = await identifyKey(resolvedKey(key, sim.baseUrl), http, registry);
  await sim.close();

  // The sk- candidates' paths 404; /models and billing answer one-api's 401 dialect.
  expect(found?.provider).toBe('one-api');
  expect(found?.identity.evidence.some((e) => e.provider !== 'one-api')).toBe(false);
});

describe('identify (pure): declared providers are checked against what answered', () => {
  it('a key declared as anthropic whose endpoint speaks the one-api dialect does not match its claim', () => {
    const identity = identify({
      claimed: 'anthropic',
      baseUrl: 'https://relay.example.com/v1',
      registry,
      observations: [
        {
          path: '/models',
          status: 401,
          headers: { 'x-oneapi-request-id': '2024101214105418395279367750613' },
          text: '{"error":{"message":"无效的令牌 (request id: 2024101214105418395279367750613)","type":"one_api_error"}}',
        },
      ],
    });

    expect(identity).toMatchObject({ provider: 'one-api', matchesClaim: false });
  });

  it('the base URL host alone names the real service', () => {
    const identity = identify({ claimed: 'auto', baseUrl: 'https://api.anthropic.com/v1', registry, observations: [] });

    expect(identity).toMatchObject({ provider: 'anthropic', matchesClaim: true });
    expect(identity?.confidence).toBeCloseTo(0.9, 5);
  });

  it('OpenRouter is recognised by its key format and its CORS expose list', () => {
    const identity = identify({
      claimed: 'auto',
      key: new Secret(`sk-or-v1-${'0'.repeat(64)}`),
      registry,
      observations: [
        {
          path: '/key',
          status: 401,
          headers: { 'access-control-expose-headers': 'X-Generation-Id,X-Provider-Name,cf-ray' },
          text: '{"error":{"message":"User not found.","code":401}}',
        },
      ],
    });

    expect(identity?.provider).toBe('openrouter');
    expect(identity?.confidence).toBeGreaterThan(0.9);
  });

  it('nothing to go on: no identity, and a sentence saying so', () => {
    const identity = identify({ claimed: 'auto', key: new Secret('just-some-token-123'), registry, observations: [] });

    expect(identity).toBeUndefined();
    expect(describeIdentity(identity)).toMatch(/provider unknown/);
  });

  it('never puts the key in the identity', () => {
    const key = `sk-ant-api03-${'s'.repeat(93)}AA`;

    const identity = identify({ claimed: 'auto', key: new Secret(key), registry, observations: [] });

    expect(identity?.provider).toBe('anthropic');
    expect(JSON.stringify(identity)).not.toContain(key);
    expect(describeIdentity(identity, registry)).not.toContain(key);
  });
});

describe("OpenRouter's /key answer: who answers", () => {
  it('every run of every key gets the one identity for what was seen, frozen; another prefix gets another', async () => {
    const a = `sk-or-v1-test-${'a'.repeat(50)}`;
    const b = `sk-or-v1-test-${'b'.repeat(50)}`;
    const other = 'test-or-proxy-key-0000000000';
    const sim = await startOpenRouterSim({ keys: [{ key: a, limit: 10 }, { key: b }, { key: other }] });
    const run = async (key: string) => {
      const r = await runKey({ key: resolvedKey(key, sim.url, 'openrouter') }, { registry, http });
      return r.facts.identity!;
    };

    const first = await run(a);
    const again = await run(a);
    const second = await run(b);
    const unprefixed = await run(other);
    await sim.close();

    expect(again).toBe(first);
    expect(second).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.evidence) && first.evidence.every((e) => Object.isFrozen(e))).toBe(true);
    expect(first).toMatchObject({ provider: 'openrouter', matchesClaim: true });
    expect(first.evidence.map((e) => e.signal)).toContain('sk-or- key prefix');
    expect(unprefixed).not.toBe(first);
    expect(unprefixed.evidence.map((e) => e.signal)).not.toContain('sk-or- key prefix');
    expect(unprefixed.confidence).toBeLessThan(first.confidence);
  });
});

describe('identification waits for the rate cap before every request', () => {
  it('provider auto without a base URL: one acquire per request across the candidate hosts, through runKey', async () => {
    const key = 'sk-ffffffffffffffffffffffffffffffff';
    const ds = await startDeepSeekSim({ key: 'sk-someoneelse' });
    const oa = await startOpenAiSim({ key: 'sk-someoneelse' });
    const moved: ProviderRegistry = new Map(
      [...registry.values()].map((a): [string, ProviderAdapter] => {
        if (a.id === 'deepseek') return [a.id, { ...a, defaultBaseUrl: ds.baseUrl }];
        if (a.id === 'openai') return [a.id, { ...a, defaultBaseUrl: oa.baseUrl }];
        return [a.id, { ...a, defaultBaseUrl: '' }];
      }),
    );
    let acquired = 0;
    const acquire = async () => {
      acquired++;
    };

    await runKey({ key: resolvedKey(key, undefined) }, { registry: moved, http, identify: makeIdentify(moved), acquire });
    const requests = ds.server.requests.length + oa.server.requests.length;
    await ds.close();
    await oa.close();

    expect(requests).toBeGreaterThan(1);
    expect(acquired).toBe(requests);
  });

  it('identifyKey calls acquire before each request it makes', async () => {
    const key = 'sk-gatewaytest000000000000000000000000000000000000';
    const sim = await startGatewaySim({ key });
    const order: string[] = [];
    const acquire = async () => {
      order.push(`acquire@${sim.server.requests.length}`);
    };

    await identifyKey(resolvedKey(key, sim.baseUrl), http, registry, acquire);
    const requests = sim.server.requests.length;
    await sim.close();

    expect(requests).toBeGreaterThan(1);
    expect(order).toEqual(Array.from({ length: requests }, (_, i) => `acquire@${i}`));
  });
});
