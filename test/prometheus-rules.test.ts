/**
 * The shipped Prometheus rules and configs, checked by the real tools: promtool check rules,
 * promtool test rules (deploy/prometheus/tests.yml), promtool check config, amtool check-config and
 * amtool's routing tree. Plus what the tools cannot know: every alert is unit-tested both firing and
 * quiet, covers a built-in rule, carries summary/runbook annotations, and uses only contract metrics.
 */
import { RULE_NAMES } from '../src/config/schema.js';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONTRACT_METRICS, ROOT, metricNames } from './helpers/ops.js';
import { requireTool } from './helpers/tools.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  input_series: { series: string; values: string }[];
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: { exp_labels: Record<string, string> }[] }[];
}

const PROM_DIR = join(ROOT, 'deploy/prometheus');
const ALERTS_FILE = join(PROM_DIR, 'rules/keywatch-alerts.yml');
const RECORDING_FILE = join(PROM_DIR, 'rules/keywatch-recording.yml');
const BUILT_IN_RULES: readonly string[] = RULE_NAMES;

function rules(file: string): Rule[] {
  const doc = parse(readFileSync(file, 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}
const alerts = rules(ALERTS_FILE).filter((r) => r.alert !== undefined);
const tests = (parse(readFileSync(join(PROM_DIR, 'tests.yml'), 'utf8')) as { tests: RuleTest[] }).tests;

function run(bin: string, args: string[], cwd = ROOT): { code: number; out: string } {
  try {
    const out = execFileSync(bin, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** `{key="bad",provider="x"}` -> its labels. */
function seriesLabels(series: string): Record<string, string> {
  const body = /\{(.*)\}/.exec(series)?.[1] ?? '';
  return Object.fromEntries([...body.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

describe('promtool', () => {
  const promtool = requireTool('promtool', 'prometheus');

  it.skipIf(!promtool)('check rules passes on every shipped rule file', () => {
    const result = run(promtool!, ['check', 'rules', ALERTS_FILE, RECORDING_FILE]);

    expect(result.out).toContain('SUCCESS');
    expect(result.code, result.out).toBe(0);
  });

  it.skipIf(!promtool)('test rules passes (deploy/prometheus/tests.yml)', () => {
    const result = run(promtool!, ['test', 'rules', 'tests.yml'], PROM_DIR);

    expect(result.out).toContain('SUCCESS');
    expect(result.code, result.out).toBe(0);
  });

  it.skipIf(!promtool)('check config passes on the example scrape config (shards, rules, Alertmanager)', () => {
    const result = run(promtool!, ['check', 'config', 'prometheus.yml'], PROM_DIR);

    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('2 rule files found');
  });

  it.skipIf(!promtool)("check config passes on the compose stack's config, laid out as compose mounts it", () => {
    // Rebuild the container's filesystem from docker-compose.yml's bind mounts, then check it there:
    // this fails if a mount and a path in the config disagree.
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: { prometheus: { volumes: string[]; command: string[] } };
    };
    const fsRoot = mkdtempSync(join(tmpdir(), 'keywatch-compose-'));
    for (const v of compose.services.prometheus.volumes) {
      const [src, dst] = v.split(':') as [string, string];
      if (!src.startsWith('./')) continue;
      mkdirSync(dirname(join(fsRoot, dst)), { recursive: true });
      cpSync(join(ROOT, src), join(fsRoot, dst), { recursive: true });
    }
    const configFlag = compose.services.prometheus.command.find((c) => c.startsWith('--config.file='))!;
    const configPath = join(fsRoot, configFlag.slice('--config.file='.length));

    const result = run(promtool!, ['check', 'config', configPath], dirname(configPath));

    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('2 rule files found');
  });
});

describe('amtool', () => {
  const amtool = requireTool('amtool', 'prometheus-alertmanager');
  const example = join(ROOT, 'deploy/alertmanager/alertmanager.yml');

  it.skipIf(!amtool).each([['deploy/alertmanager/alertmanager.yml'], ['deploy/compose/alertmanager.yml']])('check-config passes on %s', (file) => {
    const result = run(amtool!, ['check-config', join(ROOT, file)]);

    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain('SUCCESS');
  });

  it.skipIf(!amtool).each([
    [['severity=critical', 'rule=key_invalid', 'key=a'], 'slack-critical,oncall-webhook'],
    [['severity=warning', 'rule=balance_low', 'key=a'], 'slack-warnings'],
    [['severity=critical', 'rule=keywatch_down'], 'platform'],
  ])('routes %j to %s', (labels, receivers) => {
    const result = run(amtool!, ['config', 'routes', 'test', `--config.file=${example}`, ...labels]);

    expect(result.code, result.out).toBe(0);
    expect(result.out.trim().split('\n')[0]).toBe(receivers);
  });
});

describe('alert rules', () => {
  it('cover every built-in rule, each by exactly one alert', () => {
    const covered = alerts.map((a) => a.labels?.rule ?? /rule="([a-z_]+)"/.exec(a.expr)?.[1]);

    for (const rule of BUILT_IN_RULES) expect(covered.filter((r) => r === rule), rule).toHaveLength(1);
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))('%s has a severity, summary and a runbook section that exists', (_name, a) => {
    const docs = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');

    expect(a.labels?.severity ?? /rule="key_expiring"/.test(a.expr)).toBeTruthy();
    expect(a.annotations?.summary).toBeTruthy();
    const anchor = /^docs\/operations\.md#([a-z_]+)$/.exec(a.annotations?.runbook ?? '')?.[1];
    expect(anchor, 'runbook').toBeDefined();
    expect(docs, `docs/operations.md has no "### ${anchor}" section`).toMatch(new RegExp(`^### ${anchor}$`, 'm'));
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))('%s is tested firing on one series and quiet on another', (name) => {
    const cases = tests.flatMap((t) => (t.alert_rule_test ?? []).filter((c) => c.alertname === name).map((c) => ({ t, c })));
    const firing = cases.filter(({ c }) => c.exp_alerts.length > 0);

    expect(firing.length, `no test expects ${name} to fire`).toBeGreaterThan(0);
    // In a firing case, some input series (another key or instance) must be expected NOT to fire.
    const hasQuietSeries = firing.some(({ t, c }) => {
      const firingIds = new Set(c.exp_alerts.map((e) => `${e.exp_labels.key ?? ''}|${e.exp_labels.instance ?? ''}`));
      return t.input_series.some((s) => {
        const l = seriesLabels(s.series);
        return !firingIds.has(`${l.key ?? ''}|${l.instance ?? ''}`);
      });
    });
    expect(hasQuietSeries, `${name}: no series in its test stays quiet`).toBe(true);
  });

  it('use only contract metrics (and Prometheus own `up`)', () => {
    const allowed = new Set<string>([...CONTRACT_METRICS, 'up']);

    for (const r of [...alerts, ...rules(RECORDING_FILE)]) {
      for (const name of metricNames(r.expr)) expect(allowed.has(name), `${name} in ${r.alert ?? r.record}`).toBe(true);
    }
  });
});
