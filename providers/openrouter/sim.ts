/**
 * A simulated OpenRouter on loopback, speaking the documented wire format (checked against the
 * @openrouter/sdk schemas in openrouter.test.ts). Used by the demo, the tests and the benchmark.
 *
 * Each key spends at a steady rate: usage(t) = usage + usagePerHour * (t - start) / 1h, and has been
 * doing so since it had spent nothing, so the daily/weekly/monthly windows are what that line
 * spent since the window's UTC start.
 */
import { createHash } from 'node:crypto';
import { startFakeServer, type FakeReply, type FakeRequest, type FakeServer } from '../../src/sim/fake-server.js';
import { nextReset } from './index.js';

export type SimFault = 'hang' | '500' | '429' | 'html' | 'huge' | 'garbage' | 'flaky';

export interface SimKey {
  key: string;
  /** Name shown by /keys (fleet listing). */
  name?: string;
  limit?: number | null;
  limitReset?: 'daily' | 'weekly' | 'monthly' | null;
  /** All-time usage at sim start (USD). */
  usage?: number;
  usagePerHour?: number;
  revoked?: boolean;
  management?: boolean;
  disabled?: boolean;
  freeTier?: boolean;
  /** ISO date-time. */
  expiresAt?: string | null;
  /** Model ids this key may use (/models/user); default all. */
  models?: string[];
  fault?: SimFault;
  /** For `flaky`: every Nth request fails with 502 (default 3). */
  flakyEvery?: number;
  /** Belongs to the account listed by management keys (default true). */
  listed?: boolean;
}

export interface OpenRouterSimOptions {
  keys: SimKey[];
  now?: () => number;
  /** Account credits purchased (USD) for /credits. */
  totalCredits?: number;
  /** What /credits says to an ordinary key: the documented 403, or the observed 200 {0,0}. */
  creditsTrap?: '403' | 'zeros';
  port?: number;
  maxRecorded?: number;
}

export interface OpenRouterSim {
  /** Base URL including /api/v1. */
  url: string;
  server: FakeServer;
  keys: Map<string, SimKey>;
  setKey(key: string, patch: Partial<SimKey>): void;
  addKey(k: SimKey): void;
  removeKey(key: string): void;
  /** What /key would report for a key now (for assertions). */
  usageOf(key: string): number;
  close(): Promise<void>;
}

const HOUR = 3_600_000;
export const SIM_MODELS = [
  { id: 'openrouter/auto', name: 'Auto Router', prompt: '-1', completion: '-1', context: 2_000_000 },
  { id: 'openrouter/bodybuilder', name: 'Body Builder (beta)', prompt: '-1', completion: '-1', context: 128_000 },
  { id: 'openrouter/free', name: 'Free Models Router', prompt: '0', completion: '0', context: 200_000 },
  { id: 'openai/gpt-4o-mini', name: 'OpenAI: GPT-4o-mini', prompt: '0.00000015', completion: '0.0000006', context: 128_000 },
  { id: 'anthropic/claude-sonnet-4', name: 'Anthropic: Claude Sonnet 4', prompt: '0.000003', completion: '0.000015', context: 200_000 },
  { id: 'meta-llama/llama-3.3-70b-instruct:free', name: 'Meta: Llama 3.3 70B Instruct (free)', prompt: '0', completion: '0', context: 131_072 },
];

export async function startOpenRouterSim(opts: OpenRouterSimOptions): Promise<OpenRouterSim> {
  const now = opts.now ?? Date.now;
  const start = now();
  const keys = new Map<string, SimKey>(opts.keys.map((k) => [k.key, k]));
  const hits = new Map<string, number>();

  const usageAt = (k: SimKey, t: number): number => Math.max(0, (k.usage ?? 0) + ((k.usagePerHour ?? 0) * (t - start)) / HOUR);
  const windowUsage = (k: SimKey, t: number, windowStart: number): number => round(usageAt(k, t) - usageAt(k, windowStart));

  const keyBody = (k: SimKey, t: number) => {
    const total = round(usageAt(k, t));
    const daily = windowUsage(k, t, startOf('daily', t));
    const weekly = windowUsage(k, t, startOf('weekly', t));
    const monthly = windowUsage(k, t, startOf('monthly', t));
    const limit = k.limit ?? null;
    const reset = k.limitReset ?? null;
    const spentInPeriod = reset === 'daily' ? daily : reset === 'weekly' ? weekly : reset === 'monthly' ? monthly : total;
    const freeLimit = k.freeTier ? 50 : 1000;
    return {
      allowed_data_regions: ['global'],
      byok_usage: 0,
      byok_usage_daily: 0,
      byok_usage_weekly: 0,
      byok_usage_monthly: 0,
      creator_user_id: null,
      expires_at: k.expiresAt ?? null,
      free_model_daily_requests: { limit: freeLimit, remaining: freeLimit, used: 0 },
      include_byok_in_limit: false,
      is_free_tier: k.freeTier ?? false,
      is_management_key: k.management ?? false,
      is_provisioning_key: k.management ?? false,
      label: maskLabel(k.key),
      limit,
      limit_remaining: limit === null ? null : round(Math.max(0, limit - spentInPeriod)),
      limit_reset: reset,
      organization_id: null,
      rate_limit: { requests: -1, interval: '10s', note: 'This field is deprecated and safe to ignore.' },
      usage: total,
      usage_daily: daily,
      usage_weekly: weekly,
      usage_monthly: monthly,
      workspace_id: null,
    };
  };

  const listedKey = (k: SimKey, t: number) => {
    const b = keyBody(k, t);
    return {
      byok_usage: 0,
      byok_usage_daily: 0,
      byok_usage_weekly: 0,
      byok_usage_monthly: 0,
      created_at: new Date(start - 30 * 86_400_000).toISOString(),
      creator_user_id: null,
      disabled: k.disabled ?? false,
      expires_at: k.expiresAt ?? null,
      external_user: null,
      hash: createHash('sha256').update(k.key).digest('hex'),
      include_byok_in_limit: false,
      label: b.label,
      limit: b.limit,
      limit_remaining: b.limit_remaining,
      limit_reset: b.limit_reset,
      name: k.name ?? b.label,
      updated_at: null,
      usage: b.usage,
      usage_daily: b.usage_daily,
      usage_weekly: b.usage_weekly,
      usage_monthly: b.usage_monthly,
      workspace_id: '0df9e665-d932-5740-b2c7-b52af166bc11',
    };
  };

  /** Authenticates and applies the key's fault; returns the key or the reply to send instead. */
  const authed = (req: FakeRequest): SimKey | FakeReply => {
    const auth = String(req.headers.authorization ?? '');
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (token === '') return err(401, 'Missing Authentication header');
    const k = keys.get(token);
    if (k === undefined || k.revoked || k.disabled) return err(401, 'User not found.');
    const fault = faultReply(k, (hits.get(token) ?? 0) + 1);
    hits.set(token, (hits.get(token) ?? 0) + 1);
    return fault ?? k;
  };

  const isReply = (v: SimKey | FakeReply): v is FakeReply => !('key' in v);

  const server = await startFakeServer(
    {
      '/api/v1/key': (req) => {
        const k = authed(req);
        return isReply(k) ? k : ok({ data: keyBody(k, now()) });
      },
      '/api/v1/auth/key': (req) => {
        const k = authed(req);
        return isReply(k) ? k : ok({ data: keyBody(k, now()) });
      },
      '/api/v1/credits': (req) => {
        const k = authed(req);
        if (isReply(k)) return k;
        if (!k.management) {
          return opts.creditsTrap === 'zeros'
            ? ok({ data: { total_credits: 0, total_usage: 0 } })
            : err(403, 'Only management keys can perform this operation');
        }
        const t = now();
        const used = [...keys.values()].filter((x) => x.listed !== false).reduce((s, x) => s + usageAt(x, t), 0);
        return ok({ data: { total_credits: opts.totalCredits ?? 100, total_usage: round(used) } });
      },
      '/api/v1/models': () => ok(modelsBody(SIM_MODELS.map((m) => m.id))),
      '/api/v1/models/user': (req) => {
        const k = authed(req);
        if (isReply(k)) return k;
        if (k.management) return err(403, 'Management keys cannot list user models');
        return ok(modelsBody(k.models ?? SIM_MODELS.map((m) => m.id)));
      },
      '/api/v1/keys': (req) => {
        const k = authed(req);
        if (isReply(k)) return k;
        if (!k.management) return err(401, 'Only management keys can perform this operation');
        const offset = Number(req.query.get('offset') ?? 0);
        const includeDisabled = req.query.get('include_disabled') === 'true';
        const t = now();
        const all = [...keys.values()].filter((x) => x.listed !== false && !x.management && (includeDisabled || !x.disabled));
        return ok({ data: all.slice(offset, offset + 100).map((x) => listedKey(x, t)) });
      },
    },
    { ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.maxRecorded !== undefined ? { maxRecorded: opts.maxRecorded } : {}) },
  );

  return {
    url: `${server.url}/api/v1`,
    server,
    keys,
    setKey: (key, patch) => {
      const k = keys.get(key);
      if (k) Object.assign(k, patch);
    },
    addKey: (k) => void keys.set(k.key, k),
    removeKey: (key) => void keys.delete(key),
    usageOf: (key) => {
      const k = keys.get(key);
      return k ? round(usageAt(k, now())) : NaN;
    },
    close: () => server.close(),
  };
}

function faultReply(k: SimKey, n: number): FakeReply | undefined {
  switch (k.fault) {
    case undefined:
      return undefined;
    case 'hang':
      return { hang: true };
    case '500':
      return err(500, 'Internal Server Error');
    case '429':
      return {
        status: 429,
        headers: { 'retry-after': '30', 'x-ratelimit-limit': '20', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Date.now() + 30_000) },
        body: { error: { code: 429, message: 'Rate limit exceeded', metadata: { error_type: 'rate_limit_exceeded' } } },
      };
    case 'html':
      return { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' };
    case 'garbage':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data": {"usage": "lots"' };
    case 'huge':
      return { status: 200, streamBytes: 50 * 1024 * 1024 };
    case 'flaky':
      return n % (k.flakyEvery ?? 3) === 0 ? err(502, 'Provider returned error') : undefined;
  }
}

function modelsBody(ids: string[]) {
  const data = SIM_MODELS.filter((m) => ids.includes(m.id)).map((m) => ({
    id: m.id,
    canonical_slug: m.id,
    name: m.name,
    created: 1_735_689_600,
    description: `${m.name} (simulated)`,
    context_length: m.context,
    architecture: { modality: 'text->text', input_modalities: ['text'], output_modalities: ['text'], tokenizer: 'Other', instruct_type: null },
    pricing: { prompt: m.prompt, completion: m.completion },
    top_provider: { context_length: m.context, max_completion_tokens: null, is_moderated: false },
    per_request_limits: null,
    supported_parameters: ['max_tokens', 'temperature'],
    default_parameters: null,
    supported_voices: null,
    links: { details: `/api/v1/models/${m.id}/endpoints` },
  }));
  return { data, total_count: data.length, links: { next: null } };
}

const CORS = { 'access-control-expose-headers': 'X-Generation-Id,X-Provider-Name,cf-ray' };

function ok(body: unknown): FakeReply {
  return { status: 200, headers: CORS, body };
}

function err(status: number, message: string): FakeReply {
  return { status, headers: CORS, body: { error: { code: status, message } } };
}

function startOf(reset: 'daily' | 'weekly' | 'monthly', t: number): number {
  const next = nextReset(reset, t) * 1000;
  if (reset === 'daily') return next - 86_400_000;
  if (reset === 'weekly') return next - 7 * 86_400_000;
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function maskLabel(key: string): string {
  return `${key.slice(0, 11)}...${key.slice(-3)}`;
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}
