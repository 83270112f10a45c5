import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { parseDuration } from '../src/config/duration.js';

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, { env, providers: ['openrouter'] });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config', () => {
  it('reports every mistake with its YAML path, at once', () => {
    const text = [
      'server: { listen: nope, tokn: x }',
      'keys:',
      '  - { name: Prod, provider: openrouter, key: "${NOPE_VAR}", interval: 5 minutes }',
      '  - { name: ok, provider: openrouter }',
      '  - { name: ok2, provider: nosuch, key: sk-or-v1-test-abc }',
    ].join('\n');

    const issues = issuesOf(text);

    expect(issues).toEqual(
      expect.arrayContaining([
        'keys[0].key: environment variable NOPE_VAR is not set',
        expect.stringMatching(/^server\.listen: /),
        'server.tokn: unknown field',
        expect.stringMatching(/^keys\[0\]\.name: /),
        expect.stringMatching(/^keys\[0\]\.interval: expected a duration/),
        'keys[1].key: one of key or keyFile is required',
      ]),
    );
    expect(issues.filter((i) => i.startsWith('keys[0].key'))).toHaveLength(1);
  });

  it('names an unknown provider once the shape is valid', () => {
    const issues = issuesOf('keys:\n  - { name: a, provider: nosuch, key: sk-or-v1-test-abc }');

    expect(issues).toEqual([expect.stringMatching(/^keys\[0\]\.provider: unknown provider "nosuch"/)]);
  });

  it('interpolates ${VAR}, keeps $$ literal, and never echoes a value', () => {
    const cfg = parseConfig('keys:\n  - { name: a, provider: openrouter, key: "${K}", labels: { team: "a$$b" } }', {
      env: { K: 'sk-or-v1-test-secret-value' },
    });

    expect(cfg.keys[0]?.key.reveal()).toBe('sk-or-v1-test-secret-value');
    expect(cfg.keys[0]?.labels.team).toBe('a$b');
    expect(JSON.stringify(cfg)).not.toContain('sk-or-v1-test-secret-value');
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['48h', 172_800_000],
    ['30d', 2_592_000_000],
    ['1h30m', 5_400_000],
    ['5 minutes', undefined],
    ['', undefined],
  ])('parses duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('shipped files', () => {
  it('schemas/config.schema.json is what `keywatch schema` prints', async () => {
    const { configJsonSchema } = await import('../src/cli/schema.js');
    const { readFileSync } = await import('node:fs');

    const shipped = JSON.parse(readFileSync(new URL('../schemas/config.schema.json', import.meta.url), 'utf8'));

    expect(shipped).toEqual(configJsonSchema());
  });

  it.each(['config/keywatch.yaml', 'config/demo.yaml'])('%s validates', async (file) => {
    const { loadConfigFile } = await import('../src/config/load.js');
    const env = {
      OPENROUTER_API_KEY: 'sk-or-v1-test-x',
      KEYWATCH_DEMO_URL: 'http://127.0.0.1:1/api/v1',
      KEYWATCH_DEMO_HOOK: 'http://127.0.0.1:1/hook',
      KEYWATCH_DEMO_LISTEN: '127.0.0.1:0',
      KEYWATCH_DEMO_DB: '/tmp/demo.db',
    };

    const cfg = loadConfigFile(file, { env, providers: ['openrouter'] });

    expect(cfg.keys.length).toBeGreaterThan(0);
  });
});

describe('the JSON Schema agrees with the loader', () => {
  it('accepts the example config and rejects what the loader rejects', async () => {
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const schema = JSON.parse(readFileSync(new URL('../schemas/config.schema.json', import.meta.url), 'utf8'));
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);
    const example = parse(readFileSync(new URL('../config/keywatch.yaml', import.meta.url), 'utf8'));

    const typo = { ...example, server: { ...example.server, lisen: '127.0.0.1:1' } };
    const badDuration = { ...example, defaults: { interval: '5 minutes' } };

    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(typo)).toBe(false);
    expect(validate(badDuration)).toBe(false);
    expect(issuesOf('server: { lisen: "127.0.0.1:1" }')).toEqual(['server.lisen: unknown field']);
  });
});
