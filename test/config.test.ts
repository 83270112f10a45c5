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

  it('names an unknown provider, listing the known ones', () => {
    const issues = issuesOf('keys:\n  - { name: a, provider: nosuch, key: sk-or-v1-test-abc }');

    expect(issues).toEqual([expect.stringMatching(/^keys\[0\]\.provider: unknown provider "nosuch"/)]);
  });

  it('names an unknown provider and an unreadable keyFile beside shape mistakes, in one run', () => {
    const text = [
      'server: { listn: x }',
      'keys:',
      '  - { name: Bad Name, provider: nosuch, keyFile: /nonexistent/keywatch-test-key }',
      'accounts:',
      '  - { name: acme, provider: nosuch2, adminKey: sk-or-v1-test-admin, colour: red }',
    ].join('\n');

    const issues = issuesOf(text);

    expect(issues).toEqual(
      expect.arrayContaining([
        'server.listn: unknown field',
        expect.stringMatching(/^keys\[0\]\.name: /),
        expect.stringMatching(/^keys\[0\]\.provider: unknown provider "nosuch" \(known: auto, openrouter\)$/),
        'keys[0].keyFile: cannot read /nonexistent/keywatch-test-key (ENOENT)',
        expect.stringMatching(/^accounts\[0\]\.provider: unknown provider "nosuch2"/),
        'accounts[0].colour: unknown field',
      ]),
    );
  });

  it('an unset ${VAR} is the only issue at its path (no "expected an http(s) URL" as well)', () => {
    const text = [
      'server: { externalUrl: "${NO_URL}" }',
      'keys:',
      '  - { name: a, provider: openrouter, key: sk-or-v1-test-abc, baseUrl: "${NO_BASE}/api/v1", interval: "${NO_IV}" }',
      '  - { name: b, provider: "${NO_PROVIDER}", keyFile: "${NO_DIR}/key" }',
    ].join('\n');

    const issues = issuesOf(text);

    expect(issues.sort()).toEqual(
      [
        'server.externalUrl: environment variable NO_URL is not set',
        'keys[0].baseUrl: environment variable NO_BASE is not set',
        'keys[0].interval: environment variable NO_IV is not set',
        'keys[1].provider: environment variable NO_PROVIDER is not set',
        'keys[1].keyFile: environment variable NO_DIR is not set',
      ].sort(),
    );
  });

  it.each([
    ['keys[0].interval', 'keys:\n  - { name: a, provider: openrouter, key: sk-or-v1-test-abc, interval: 30 }'],
    ['defaults.timeout', 'defaults: { timeout: 10 }'],
    ['alerting.repeat', 'alerting: { repeat: 3600 }'],
  ])('%s as a bare YAML number says a duration needs a unit', (path, text) => {
    expect(issuesOf(text)).toEqual([`${path}: expected a duration such as 30s (a number needs a unit)`]);
  });

  it('interpolates ${VAR}, keeps $$ literal, and never echoes a value', () => {
    const cfg = parseConfig('keys:\n  - { name: a, provider: openrouter, key: "${K}", labels: { team: "a$$b" } }', {
      env: { K: 'sk-or-v1-test-secret-value' },
    });

    expect(cfg.keys[0]?.key.reveal()).toBe('sk-or-v1-test-secret-value');
    expect(cfg.keys[0]?.labels.team).toBe('a$b');
    expect(JSON.stringify(cfg)).not.toContain('sk-or-v1-test-secret-value');
  });

  it('interpolates a $ that only a YAML escape writes, as before the text was checked for $ first', () => {
    // The escape makes "${K}" once parsed; the text itself holds no $.
    const text = 'keys:\n  - { name: a, provider: openrouter, key: "\\x24{K}" }';
    expect(text).not.toContain('$');

    const cfg = parseConfig(text, { env: { K: 'sk-or-v1-test-escaped-value' } });

    expect(cfg.keys[0]?.key.reveal()).toBe('sk-or-v1-test-escaped-value');
  });

  it('takes a config without $ as YAML gives it (nothing to interpolate), to the same result', () => {
    const plain = 'keys:\n  - { name: a, provider: openrouter, key: sk-or-v1-test-plain, labels: { team: t } }';
    // The same config with a $ in a comment goes through interpolation.
    const withDollar = `${plain}\n# costs in $`;

    const a = parseConfig(plain);
    const b = parseConfig(withDollar);

    expect(a.keys[0]?.key.reveal()).toBe('sk-or-v1-test-plain');
    expect({ ...a.keys[0], key: undefined }).toEqual({ ...b.keys[0], key: undefined });
    expect(a.raw).toEqual(b.raw);
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

describe('config: durations that cannot be zero', () => {
  const key = (extra: string) => `keys:\n  - { name: a, provider: openrouter, key: sk-or-v1-test-abc${extra} }`;

  it.each([
    ['keys[0].interval', key(', interval: 0s')],
    ['keys[0].interval', key(', interval: "0"')],
    ['keys[0].interval', key(', interval: 0.4ms')],
    ['keys[0].timeout', key(', timeout: 0ms')],
    ['accounts[0].interval', 'accounts:\n  - { name: acme, provider: openrouter, adminKey: sk-or-v1-test-admin, interval: 0m }'],
    ['defaults.interval', 'defaults: { interval: 0s }'],
    ['defaults.timeout', 'defaults: { timeout: "0" }'],
    ['defaults.stabilityWindow', 'defaults: { stabilityWindow: 0h }'],
    ['defaults.readinessHorizon', 'defaults: { readinessHorizon: 0d }'],
    ['storage.retention', 'storage: { retention: 0d }'],
    ['storage.rawRetention', 'storage: { rawRetention: 0h0m }'],
    ['alerting.digest.interval', 'alerting: { digest: { rules: [balance_low], interval: 0s } }'],
  ])('%s: 0 is refused (case %#)', (path, text) => {
    expect(issuesOf(text)).toEqual([`${path}: must be more than 0`]);
  });

  it('for: 0s (fire at once) and repeat: 0s (never re-notify) stay valid', () => {
    const cfg = parseConfig('alerting: { for: 0s, repeat: "0" }', { env: {} });

    expect(cfg.raw.alerting.for).toBe(0);
    expect(cfg.raw.alerting.repeat).toBe(0);
  });
});

describe('config: cron schedules', () => {
  it('reports a pattern croner refuses at keys[i], defaults and accounts[i], with its YAML path', () => {
    const text = [
      'defaults: { schedule: "every five minutes" }',
      'accounts:',
      '  - { name: acme, provider: openrouter, adminKey: sk-or-v1-test-admin, schedule: "0 0 32 * *" }',
      'keys:',
      '  - { name: a, provider: openrouter, key: sk-or-v1-test-abc, schedule: "99 * * * *" }',
    ].join('\n');

    const issues = issuesOf(text);

    expect(issues.sort()).toEqual([
      expect.stringMatching(/^accounts\[0\]\.schedule: invalid cron pattern \(.+\)$/),
      expect.stringMatching(/^defaults\.schedule: invalid cron pattern \(.+\)$/),
      'keys[0].schedule: invalid cron pattern (Invalid value for minute: 99)',
    ]);
  });

  it('accepts five- and six-field patterns', () => {
    const cfg = parseConfig(
      'defaults: { schedule: "*/5 * * * *" }\nkeys:\n  - { name: a, provider: openrouter, key: sk-or-v1-test-abc, schedule: "30 */10 * * * *" }',
      { env: {} },
    );

    expect(cfg.keys[0]?.schedule).toBe('30 */10 * * * *');
  });
});

describe('config: alert rule names', () => {
  it('a misspelt rule is an error in severities, silences, notifier match and digest', () => {
    const text = [
      'alerting:',
      '  severities: { key_invalid: info, balance_lo: critical }',
      '  silences: [{ rule: probe_failng, endsAt: "2030-01-01T00:00:00Z" }]',
      '  notifiers: [{ name: ops, type: webhook, url: "http://127.0.0.1:1/hook", match: { rules: [key_invalid, exhaustion] } }]',
      '  digest: { rules: [stability_degrade] }',
    ].join('\n');

    const issues = issuesOf(text);

    expect(issues.map((i) => i.split(': ')[0]).sort()).toEqual(
      ['alerting.digest.rules[0]', 'alerting.notifiers[0].match.rules[1]', 'alerting.severities.balance_lo', 'alerting.silences[0].rule'].sort(),
    );
    expect(issues.every((i) => i.includes('key_expiring'))).toBe(true); // each lists the valid names
  });

  it('accepts every rule name in each place', () => {
    const text = [
      'alerting:',
      '  severities: { key_invalid: info, balance_low: critical }',
      '  silences: [{ rule: probe_failing, endsAt: "2030-01-01T00:00:00Z" }]',
      '  notifiers: [{ name: ops, type: webhook, url: "http://127.0.0.1:1/hook", match: { rules: [key_invalid, exhaustion_soon] } }]',
      '  digest: { rules: [stability_degraded, model_access_lost] }',
    ].join('\n');

    const cfg = parseConfig(text, { env: {} });

    expect(cfg.raw.alerting.severities).toEqual({ key_invalid: 'info', balance_low: 'critical' });
    expect(cfg.raw.alerting.digest?.rules).toEqual(['stability_degraded', 'model_access_lost']);
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
    const zeroInterval = { ...example, defaults: { interval: '0s' } };
    const misspeltRule = { ...example, alerting: { severities: { balance_lo: 'info' } } };

    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(typo)).toBe(false);
    expect(validate(badDuration)).toBe(false);
    expect(validate(zeroInterval)).toBe(false);
    expect(validate(misspeltRule)).toBe(false);
    expect(validate({ ...example, alerting: { for: '0s', severities: { balance_low: 'info' } } }), JSON.stringify(validate.errors)).toBe(true);
    expect(issuesOf('server: { lisen: "127.0.0.1:1" }')).toEqual(['server.lisen: unknown field']);
  });
});

describe('config: providers section', () => {
  it('names a misspelt provider under providers:', () => {
    const issues = issuesOf('providers:\n  openruter: { baseUrl: "http://127.0.0.1:1/api/v1" }\n  openrouter: { concurrency: 4 }');

    expect(issues).toEqual([expect.stringMatching(/^providers\.openruter: unknown provider "openruter"/)]);
  });
});
