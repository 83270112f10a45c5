import { readFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../providers/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startFakeServer } from '../src/sim/fake-server.js';
import { runCli } from '../src/cli/index.js';
import { runCheck } from '../src/cli/check.js';
import type { CliIO } from '../src/cli/io.js';

const HEALTHY = `sk-or-v1-test-${'a'.repeat(51)}`;
const REVOKED = `sk-or-v1-test-${'b'.repeat(51)}`;
const NEAR = `sk-or-v1-test-${'c'.repeat(51)}`;
const UNLIMITED = `sk-or-v1-test-${'d'.repeat(51)}`;

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

// ------------------------------------------------------------------------------------------------
// A JSON Schema (2020-12) validator for exactly the keywords schemas/check-report.schema.json uses;
// any other keyword throws, so the schema cannot silently grow past what this test checks.

type Schema = Record<string, any>;
const KNOWN = new Set([
  '$schema', '$id', 'title', 'description', 'type', 'required', 'properties', 'additionalProperties', 'items', 'const',
  'enum', 'minimum', 'maximum', 'pattern', 'format', '$ref', '$defs', 'anyOf', 'allOf', 'propertyNames',
]);

function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  walk(root, root, value, '$', errors);
  return errors;
}

function walk(root: Schema, s: Schema, v: unknown, path: string, errors: string[]): void {
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`validator does not support ${k} (at ${path})`);
  if (s.$ref !== undefined) {
    const target = (s.$ref as string).replace(/^#\//, '').split('/').reduce((o: any, p) => o[p], root);
    walk(root, target, v, path, errors);
  }
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    const actual = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    const ok = types.some((t) => t === actual || (t === 'integer' && Number.isInteger(v)));
    if (!ok) errors.push(`${path}: expected ${types.join('|')}, got ${actual}`);
  }
  if ('const' in s && v !== s.const) errors.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (s.enum !== undefined && !(s.enum as unknown[]).includes(v as never)) errors.push(`${path}: ${JSON.stringify(v)} not in enum`);
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) errors.push(`${path}: below ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) errors.push(`${path}: above ${s.maximum}`);
  }
  if (typeof v === 'string') {
    if (s.pattern !== undefined && !new RegExp(s.pattern).test(v)) errors.push(`${path}: does not match ${s.pattern}`);
    if (s.format === 'date-time' && Number.isNaN(Date.parse(v))) errors.push(`${path}: not a date-time`);
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const obj = v as Record<string, unknown>;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in obj)) errors.push(`${path}: missing ${r}`);
    for (const [k, child] of Object.entries(obj)) {
      const prop = s.properties?.[k];
      if (s.propertyNames !== undefined) walk(root, s.propertyNames, k, `${path}.${k}(name)`, errors);
      if (prop !== undefined) walk(root, prop, child, `${path}.${k}`, errors);
      else if (s.additionalProperties === false) errors.push(`${path}: unexpected ${k}`);
      else if (typeof s.additionalProperties === 'object') walk(root, s.additionalProperties, child, `${path}.${k}`, errors);
    }
  }
  if (Array.isArray(v) && s.items !== undefined) v.forEach((x, i) => walk(root, s.items, x, `${path}[${i}]`, errors));
  for (const sub of (s.allOf as Schema[] | undefined) ?? []) walk(root, sub, v, path, errors);
  if (s.anyOf !== undefined) {
    const branches = (s.anyOf as Schema[]).map((sub) => {
      const e: string[] = [];
      walk(root, sub, v, path, e);
      return e;
    });
    if (!branches.some((b) => b.length === 0)) errors.push(`${path}: matches no anyOf branch (${branches.map((b) => b[0]).join(' / ')})`);
  }
}
