import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../providers/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startGatewaySim } from '../providers/one-api/sim.js';
import { startNewApiSim } from '../providers/new-api/sim.js';
import { startFakeServer } from '../src/sim/fake-server.js';
import { runCli } from '../src/cli/index.js';
import { runCheck } from '../src/cli/check.js';
import type { CliIO } from '../src/cli/io.js';

const HEALTHY = `sk-or-v1-test-${'a'.repeat(51)}`;
const REVOKED = `sk-or-v1-test-${'b'.repeat(51)}`;
const NEAR = `sk-or-v1-test-${'c'.repeat(51)}`;
const UNLIMITED = `sk-or-v1-test-${'d'.repeat(51)}`;

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ?? addFormatsPlugin) as unknown as (a: Ajv2020) => Ajv2020;

const SCHEMA = JSON.parse(readFileSync(new URL('../schemas/check-report.schema.json', import.meta.url), 'utf8')) as Schema;

interface Run {
  code: number;
  out: string;
  err: string;
}

async function check(args: string[], key: string | undefined, via: 'env' | 'stdin' = 'env'): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += String(d)));
  stderr.on('data', (d) => (err += String(d)));
  const stdin = Readable.from(via === 'stdin' && key !== undefined ? [Buffer.from(`${key}\n`)] : []) as CliIO['stdin'];
  const env = via === 'env' && key !== undefined ? { KEYWATCH_KEY: key } : {};
  const code = await runCli(['check', ...args], { stdout, stderr, stdin, env });
  return { code, out, err };
}

let sim: OpenRouterSim;

beforeAll(async () => {
  sim = await startOpenRouterSim({
    keys: [
      { key: HEALTHY, limit: 100, limitReset: 'monthly', usage: 10, usagePerHour: 0.01 },
      { key: REVOKED, revoked: true },
      { key: NEAR, limit: 10, usage: 9.6 },
      { key: UNLIMITED, limit: null, usage: 3 },
    ],
  });
});

afterAll(async () => {
  await sim.close();
});

describe('keywatch check against the OpenRouter simulator', () => {
  it('a healthy key exits 0 with ready, and the JSON matches the published schema', async () => {
    const run = await check(['--provider', 'openrouter', '--base-url', sim.url, '--json'], HEALTHY);

    const report = JSON.parse(run.out) as Record<string, any>;
    expect(run.code).toBe(0);
    expect(report.status).toBe('checked');
    expect(report.readiness.verdict).toBe('ready');
    expect(report.exitCode).toBe(0);
    expect(report.facts).toMatchObject({ valid: true, limit: 100, limitReset: 'monthly', currency: 'USD' });
    expect(report.limits[0]).toMatchObject({ dimension: 'spend_limit', limit: 100, unit: 'USD' });
    expect(validate(SCHEMA, report)).toEqual([]);
    expect(run.out).not.toContain(HEALTHY);
  });

  it('a revoked key exits 2 with blocked and a next action', async () => {
    const run = await check(['--provider', 'openrouter', '--base-url', sim.url, '--json'], REVOKED);

    const report = JSON.parse(run.out) as Record<string, any>;
    expect(run.code).toBe(2);
    expect(report.readiness.verdict).toBe('blocked');
    expect(report.readiness.nextActions).toContainEqual(expect.objectContaining({ action: 'send_to_human_review' }));
    expect(report.risk.score).toBe(1);
    expect(validate(SCHEMA, report)).toEqual([]);
  });

  it('a key near its limit exits 1 with review, naming the numbers', async () => {
    const run = await check(['--provider', 'openrouter', '--base-url', sim.url, '--json'], NEAR);

    const report = JSON.parse(run.out) as Record<string, any>;
    expect(run.code).toBe(1);
    expect(report.readiness.verdict).toBe('review');
    expect(report.readiness.reasons.join('\n')).toMatch(/limit_headroom: spend limit nearly used: 0\.4 of 10 USD left/);
    expect(validate(SCHEMA, report)).toEqual([]);
  });

  it('reads the key from stdin and prints a human report without the key', async () => {
    const run = await check(['--provider', 'openrouter', '--base-url', sim.url, '--watch', 'openrouter/free', '--watch', 'nope/missing'], UNLIMITED, 'stdin');

    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^verdict\s+REVIEW$/m);
    expect(run.out).toMatch(/spend_limit\s+unlimited \(USD\)/);
    expect(run.out).toMatch(/openrouter\/free\s+yes\s+priced/);
    expect(run.out).toMatch(/set_route: nope\/missing is not available to this key/);
    expect(run.out).toMatch(/no_spend_limit/);
    expect(run.out).toContain('sk-or-v1-…');
    expect(run.out + run.err).not.toContain(UNLIMITED);
  });

  it('--provider auto (the default) identifies OpenRouter from the key and the answers', async () => {
    const run = await check(['--base-url', sim.url, '--json'], HEALTHY);

    const report = JSON.parse(run.out) as Record<string, any>;
    expect(run.code).toBe(0);
    expect(report.provider).toMatchObject({ claimed: 'auto', detected: 'openrouter' });
    expect(report.identity).toMatchObject({ provider: 'openrouter', matchesClaim: true });
    expect(validate(SCHEMA, report)).toEqual([]);
  });

  it('only ever sent GETs the simulator knows', () => {
    expect(sim.server.violations).toEqual([]);
    expect(sim.server.requests.every((r) => r.method === 'GET')).toBe(true);
  });
});

describe('keywatch check could not check (exit 3)', () => {
  it('network down: status could_not_check with the error kind, still schema-valid', async () => {
    const down = await startFakeServer();
    const url = `${down.url}/api/v1`;
    await down.close();

    const run = await check(['--provider', 'openrouter', '--base-url', url, '--json', '--timeout', '2s'], HEALTHY);

    const report = JSON.parse(run.out) as Record<string, any>;
    expect(run.code).toBe(3);
    expect(report).toMatchObject({ status: 'could_not_check', exitCode: 3, error: { kind: 'network' } });
    expect(validate(SCHEMA, report)).toEqual([]);
  });

  it('a provider that answers 500 everywhere cannot be judged', async () => {
    const run = await check(['--provider', 'openrouter', '--base-url', sim.url], 'sk-or-v1-test-broken-provider-key');
    const broken = await startOpenRouterSim({ keys: [{ key: HEALTHY, fault: '500' }] });

    const again = await check(['--provider', 'openrouter', '--base-url', broken.url], HEALTHY);
    await broken.close();

    expect(run.code).toBe(2); // unknown key: the simulator says 401, a finding
    expect(again.code).toBe(3);
    expect(again.out).toMatch(/could not check \(upstream\)/);
  });

  it('an unknown provider id', async () => {
    const run = await check(['--provider', 'nosuch', '--json'], HEALTHY);

    expect(run.code).toBe(3);
    expect(JSON.parse(run.out)).toMatchObject({ status: 'could_not_check', error: { kind: 'config' } });
  });

  it('no key at all', async () => {
    const run = await check(['--provider', 'openrouter'], undefined);

    expect(run.code).toBe(3);
    expect(run.err).toMatch(/KEYWATCH_KEY/);
  });

  it('refuses a key on the command line and does not echo it', async () => {
    const run = await check(['--provider', 'openrouter', HEALTHY], undefined);

    expect(run.code).toBe(3);
    expect(run.err).toMatch(/no positional arguments/);
    expect(run.out + run.err).not.toContain(HEALTHY);
  });

  it('--provider auto without an identification function cannot check', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d) => (out += String(d)));

    const code = await runCheck(['--json'], { stdout, stderr: new PassThrough(), stdin: Readable.from([]), env: { KEYWATCH_KEY: HEALTHY } }, { registry });

    expect(code).toBe(3);
    expect(JSON.parse(out)).toMatchObject({ status: 'could_not_check', provider: { claimed: 'auto' } });
  });
});

describe('the published schema', () => {
  const good = {
    version: 1,
    checkedAt: '2026-09-16T12:00:00.000Z',
    status: 'could_not_check',
    exitCode: 3,
    key: { masked: 'sk-or-v1-…aaaa', fingerprint: '0123abcd' },
    provider: { claimed: 'openrouter', detected: 'openrouter' },
    error: { kind: 'network', message: 'down' },
  };

  it.each<[string, Record<string, unknown>]>([
    ['an unknown top-level field', { ...good, secret: 'x' }],
    ['a key field beyond masked/fingerprint', { ...good, key: { ...good.key, value: 'x' } }],
    ['could_not_check with exit 0', { ...good, exitCode: 0 }],
    ['checked without a verdict', { ...good, status: 'checked', exitCode: 0 }],
    ['a verdict outside the vocabulary', { ...good, readiness: { verdict: 'maybe', reasons: [], nextActions: [] } }],
    ['a next action outside the vocabulary', { ...good, readiness: { verdict: 'review', reasons: [], nextActions: [{ action: 'panic', detail: '' }] } }],
  ])('rejects %s', (_name, doc) => {
    expect(validate(SCHEMA, good)).toEqual([]);

    expect(validate(SCHEMA, doc).length).toBeGreaterThan(0);
  });
});

// The published schema, checked by Ajv (a full JSON Schema 2020-12 validator, strict mode: an unknown
// keyword in the schema is an error, so the schema cannot silently say less than it seems to).
type Schema = Record<string, unknown>;
const ajv = addFormats(new Ajv2020({ strict: true, strictRequired: false, allErrors: true }));
const validateReport = ajv.compile(SCHEMA);

function validate(_schema: Schema, value: unknown): string[] {
  return validateReport(value) ? [] : (validateReport.errors ?? []).map((e) => `${e.instancePath || '$'}: ${e.message ?? e.keyword}`);
}

describe('keywatch check --provider auto against a gateway', () => {
  it.each([
    ['one-api', startGatewaySim],
    ['new-api', startNewApiSim],
  ] as const)('names the %s simulator "OpenAI-compatible gateway, not OpenAI"', async (_name, start) => {
    const key = 'sk-gatewaytest000000000000000000000000000000000000';
    const gw = await start({ key });

    const run = await check(['--provider', 'auto', '--base-url', gw.baseUrl], key).finally(() => gw.close());

    expect(run.out).toContain('OpenAI-compatible gateway, not OpenAI');
    expect(run.out + run.err).not.toContain(key);
  });
});
