/**
 * End to end with the real tools: `keywatch demo` (simulated providers on loopback) scraped every
 * second by a real Prometheus that also loads the shipped rules. Then every panel query of every
 * shipped dashboard, template variables filled in the way Grafana fills them, must return data from
 * Prometheus's HTTP API: a dashboard that names a metric keywatch does not export fails here.
 * Also: `promtool check metrics` on the demo's /metrics reports nothing, /healthz (the Docker
 * HEALTHCHECK) answers 200, and the shipped alert rules evaluate cleanly against real output.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  CONTRACT_METRICS,
  ROOT,
  type Dashboard,
  type Running,
  fillVariables,
  freePort,
  hasData,
  loadDashboards,
  panelQueries,
  parseLabelValues,
  promQuery,
  regexEscape,
  spawnLogged,
  startAlertmanager,
  startPrometheus,
  variableQuery,
  waitFor,
} from './helpers/ops.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { requireTool } from './helpers/tools.js';

const prometheusBin = requireTool('prometheus', 'prometheus');
const promtoolBin = requireTool('promtool', 'prometheus');
const alertmanagerBin = requireTool('prometheus-alertmanager', 'prometheus-alertmanager');
const tools = prometheusBin !== undefined && promtoolBin !== undefined && alertmanagerBin !== undefined;

/** Samples Prometheus must hold per series before the dashboards are queried (1s scrapes). */
const MIN_SAMPLES = 15;
/** Grafana's built-ins for the dashboards' default range (now-24h) and a 15s-scrape datasource. */
const BUILTINS = {
  __range: '24h',
  __range_s: '86400',
  __range_ms: '86400000',
  __interval: '1m',
  __interval_ms: '60000',
  __rate_interval: '1m',
};

describe.skipIf(!tools)('keywatch demo scraped by a real Prometheus', () => {
  let demo: Running;
  let prom: Running & { dir: string };
  let am: Running & { dir: string; hostPort: string };
  let receiver: Receiver;
  let demoUrl: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'keywatch-e2e-'));
    const port = await freePort();
    demoUrl = `http://127.0.0.1:${port}`;
    demo = spawnLogged(process.execPath, ['--import', 'tsx', 'src/main.ts', 'demo', '--listen', `127.0.0.1:${port}`, '--data', dataDir], {
      ...process.env,
      KEYWATCH_LOG_LEVEL: 'warn',
    });
    await waitFor(async () => (await fetch(`${demoUrl}/healthz`)).ok, 30_000, 'keywatch demo /healthz', demo.output, demo.proc);

    // The compose stack's Alertmanager config (its inhibitions included), its receiver pointed at a
    // local webhook receiver and its grouping waits shortened to a second.
    receiver = await startReceiver();
    const amConfig = parse(readFileSync(join(ROOT, 'deploy/compose/alertmanager.yml'), 'utf8')) as {
      route: Record<string, unknown> & { receiver: string };
      receivers: { name: string }[];
    };
    amConfig.route = { ...amConfig.route, group_wait: '1s', group_interval: '1s' };
    amConfig.receivers = [{ name: amConfig.route.receiver, webhook_configs: [{ url: `${receiver.url}/alertmanager` }] } as { name: string }];
    am = await startAlertmanager(alertmanagerBin!, stringify(amConfig));

    prom = await startPrometheus(prometheusBin!, {
      targets: [`127.0.0.1:${port}`],
      scrapeInterval: '1s',
      alertmanagers: [am.hostPort],
      ruleFiles: [join(ROOT, 'deploy/prometheus/rules/keywatch-recording.yml'), join(ROOT, 'deploy/prometheus/rules/keywatch-alerts.yml')],
    });

    // The demo fills every contract metric within a minute (history-derived ones take a few runs).
    // (Notification counters start at 0 per configured notifier, so even failures have a series.)
    let missing: string[] = [...CONTRACT_METRICS];
    await waitFor(
      async () => {
        const text = await (await fetch(`${demoUrl}/metrics`)).text();
        missing = missing.filter((m) => !new RegExp(`^${m}[{ ]`, 'm').test(text));
        return missing.length === 0;
      },
      60_000,
      () => `every contract metric on the demo's /metrics; missing: ${missing.join(', ')}`,
      demo.output,
      demo.proc,
    );
    await waitFor(
      async () => {
        const r = await promQuery(prom.url, 'min(count_over_time(keywatch_key_info[1m]))');
        const v = r.status === 'success' && Array.isArray(r.data.result) ? (r.data.result[0] as { value?: [number, string] } | undefined) : undefined;
        return v?.value !== undefined && Number(v.value[1]) >= MIN_SAMPLES;
      },
      45_000,
      `${MIN_SAMPLES} samples in Prometheus`,
      prom.output,
    );
  }, 150_000);

  afterAll(async () => {
    await prom?.stop();
    await am?.stop();
    await receiver?.close();
    await demo?.stop();
    if (prom?.dir) rmSync(prom.dir, { recursive: true, force: true });
    if (am?.dir) rmSync(am.dir, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves /healthz (the image HEALTHCHECK) and is scraped as up', async () => {
    const health = await fetch(`${demoUrl}/healthz`);
    const up = await promQuery(prom.url, 'up{job="keywatch"} == 1');

    expect(health.status).toBe(200);
    expect(hasData(up), JSON.stringify(up)).toBe(true);
  });

  it('promtool check metrics reports nothing on the demo /metrics', async () => {
    const text = await (await fetch(`${demoUrl}/metrics`)).text();

    const check = spawnSync(promtoolBin!, ['check', 'metrics'], { input: text, encoding: 'utf8' });

    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });

  it('the shipped rules evaluate without errors and KeywatchKeyInvalid fires where keywatch says key_invalid', async () => {
    await waitFor(
      async () => {
        const res = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
          data: { groups: { rules: { name: string; health: string; lastEvaluation: string }[] }[] };
        };
        return res.data.groups.flatMap((g) => g.rules).every((r) => !r.lastEvaluation.startsWith('0001'));
      },
      10_000,
      'every rule evaluated once',
    );
    const res = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const unhealthy = res.data.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok');
    const builtIn = await promQuery(prom.url, 'keywatch_alert_firing{rule="key_invalid"} == 1');
    const firingKeys = (builtIn.data.result as { metric: { key: string } }[]).map((s) => s.metric.key).sort();
    const alerts = (await (await fetch(`${prom.url}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; state: string }[] };
    };

    const promKeys = alerts.data.alerts
      .filter((a) => a.labels.alertname === 'KeywatchKeyInvalid' && a.state === 'firing')
      .map((a) => a.labels.key)
      .sort();

    expect(unhealthy, JSON.stringify(unhealthy)).toEqual([]);
    expect(firingKeys.length, 'the demo has a revoked key').toBeGreaterThan(0);
    expect(promKeys).toEqual(firingKeys);
  });

  it('routes KeywatchKeyInvalid through a real Alertmanager to its webhook receiver', async () => {
    type Delivery = { alerts: { status: string; labels: Record<string, string> }[] };
    const delivered = (): Delivery['alerts'] => receiver.received.flatMap((r) => (r.json as Delivery).alerts ?? []);
    const builtIn = await promQuery(prom.url, 'keywatch_alert_firing{rule="key_invalid"} == 1');
    const revoked = (builtIn.data.result as { metric: { key: string } }[]).map((s) => s.metric.key);

    await waitFor(
      async () => revoked.every((key) => delivered().some((a) => a.labels.alertname === 'KeywatchKeyInvalid' && a.labels.key === key)),
      20_000,
      `KeywatchKeyInvalid for ${revoked.join(', ')} at the webhook receiver`,
      am.output,
    );

    const invalid = delivered().filter((a) => a.labels.alertname === 'KeywatchKeyInvalid');
    expect(revoked.length).toBeGreaterThan(0);
    for (const a of invalid) expect(a).toMatchObject({ status: 'firing', labels: { rule: 'key_invalid', severity: 'critical' } });
    expect(JSON.stringify(receiver.received.map((r) => r.body))).not.toMatch(/sk-or-v1-/);
  });

  describe.each(loadDashboards().map((d) => [d.file, d.dashboard] as const))('%s', (_file, dashboard) => {
    it('every panel query returns data, variables filled in', async () => {
      const vars = await resolveVariables(prom.url, dashboard);
      const failures: string[] = [];

      // A single-value variable (the drill-down's key): a query passes when it returns data for at
      // least one of the values Grafana would offer, and must not error for any.
      const single = Object.entries(vars).find(([, v]) => v.options.length > 1 && !v.multi);
      const combos = single
        ? single[1].options.map((o) => ({ ...flat(vars), [single[0]]: o }))
        : [flat(vars)];
      for (const q of panelQueries(dashboard)) {
        let ok = false;
        for (const values of combos) {
          const expr = fillVariables(q.expr, { ...BUILTINS, ...values });
          const r = await promQuery(prom.url, expr);
          if (r.status !== 'success') failures.push(`${q.panel} [${q.refId}] error ${r.error}: ${expr}`);
          if (hasData(r)) ok = true;
        }
        if (!ok) failures.push(`${q.panel} [${q.refId}] no data: ${q.expr}`);
      }

      expect(failures, failures.join('\n')).toEqual([]);
    });
  });
});

interface ResolvedVar {
  multi: boolean;
  /** The value an "All"/current selection interpolates to. */
  value: string;
  /** Each single value Grafana would offer. */
  options: string[];
}

function flat(vars: Record<string, ResolvedVar>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.value]));
}

/**
 * Resolve the dashboard's variables in order, as Grafana does: query variables through the label
 * values API (what `label_values(selector, label)` calls), textboxes and custom variables from their
 * current value, "All" as the custom allValue or the regex alternation of every (escaped) value.
 */
async function resolveVariables(promUrl: string, d: Dashboard): Promise<Record<string, ResolvedVar>> {
  const out: Record<string, ResolvedVar> = {};
  for (const v of d.templating.list) {
    if (v.type === 'datasource') continue;
    if (v.type === 'textbox' || v.type === 'custom') {
      const current = v.current?.value;
      const value = typeof current === 'string' ? current : String(v.query);
      out[v.name] = { multi: false, value, options: [value] };
      continue;
    }
    const q = parseLabelValues(variableQuery(v) ?? '');
    if (q === undefined) throw new Error(`variable ${v.name}: only label_values() queries are supported here`);
    const selector = q.selector ? fillVariables(q.selector, { ...BUILTINS, ...flat(out) }) : undefined;
    const params = new URLSearchParams(selector ? { 'match[]': selector } : {});
    const res = (await (await fetch(`${promUrl}/api/v1/label/${q.label}/values?${params}`)).json()) as { status: string; data: string[] };
    expect(res.status, `variable ${v.name}: ${selector}`).toBe('success');
    expect(res.data.length, `variable ${v.name} has no values: ${selector}`).toBeGreaterThan(0);
    const multi = Boolean(v.multi || v.includeAll);
    const value = v.includeAll ? (v.allValue ?? `(${res.data.map(regexEscape).join('|')})`) : res.data[0]!;
    out[v.name] = { multi, value, options: res.data };
  }
  return out;
}
