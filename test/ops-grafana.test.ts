/**
 * Static checks of the shipped Grafana dashboards and provisioning: every query refers only to
 * metrics of the public contract, every variable it uses is defined, panels do not overlap, and the
 * provisioning files point where docker-compose.yml mounts the dashboards.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CONTRACT_METRICS,
  DASHBOARD_DIR,
  ROOT,
  allPanels,
  fillVariables,
  loadDashboards,
  metricNames,
  panelQueries,
  parseLabelValues,
  referencedVariables,
  variableQuery,
} from './helpers/ops.js';

const dashboards = loadDashboards();
const GRAFANA_BUILTINS = new Set(['__interval', '__interval_ms', '__rate_interval', '__range', '__range_s', '__range_ms', '__dashboard']);

describe('metricNames (the PromQL scanner the dashboard checks rely on)', () => {
  it.each([
    ['keywatch_key_valid{key=~"$key"} == 0', ['keywatch_key_valid']],
    ['sum by (key, provider) (rate(keywatch_notifications_total[$__rate_interval]))', ['keywatch_notifications_total']],
    ['a / on (key) group_left (team) b', ['a', 'b']],
    ['count(x{key="or"} == 1) or vector(0)', ['x']],
    ['max_over_time(m[5m] offset 1h) > 3e2', ['m']],
    ['{__name__="keywatch_key_usage", window="total"}', ['keywatch_key_usage']],
    ['time() - keywatch_probe_last_success_timestamp_seconds', ['keywatch_probe_last_success_timestamp_seconds']],
    ['sum without (instance) (up)', ['up']],
    ['min(keywatch_key_stability{label="a,b"}) by (provider)', ['keywatch_key_stability']],
  ])('%s', (expr, expected) => {
    const names = metricNames(expr);

    expect(names.sort()).toEqual([...expected].sort());
  });
});

describe('dashboards', () => {
  it('ships a fleet overview and a per-key drill-down', () => {
    const uids = dashboards.map((d) => d.dashboard.uid);

    expect(uids).toContain('keywatch-fleet');
    expect(uids).toContain('keywatch-key');
    expect(new Set(uids).size).toBe(uids.length);
  });

  describe.each(dashboards.map((d) => [d.file, d.dashboard] as const))('%s', (_file, d) => {
    const queries = panelQueries(d);
    const vars = d.templating.list;
    const varNames = new Set(vars.map((v) => v.name));

    it('has panels with queries, each on the datasource variable', () => {
      const panels = allPanels(d).filter((p) => p.type !== 'row');

      expect(panels.length).toBeGreaterThan(10);
      for (const p of panels) {
        expect(p.targets?.length, `panel "${p.title}" has no query`).toBeGreaterThan(0);
        expect(p.datasource, `panel "${p.title}"`).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
    });

    it('refers only to metrics in the contract', () => {
      const allowed = new Set<string>(CONTRACT_METRICS);
      // label_values(SELECTOR, label): only the selector is PromQL.
      const varExprs = vars
        .map(variableQuery)
        .filter((q): q is string => q !== undefined)
        .map((q) => parseLabelValues(q)?.selector ?? q);
      const exprs = [...queries.map((q) => q.expr), ...varExprs];

      for (const expr of exprs) {
        const names = metricNames(expr);
        expect(names.length, `no metric found in: ${expr}`).toBeGreaterThan(0);
        for (const name of names) expect(allowed.has(name), `${name} in: ${expr}`).toBe(true);
      }
    });

    it('defines every variable its queries use', () => {
      const used = new Set(
        [...queries.map((q) => q.expr), ...vars.map(variableQuery).filter((q): q is string => q !== undefined)].flatMap(referencedVariables),
      );

      for (const name of used) expect(varNames.has(name) || GRAFANA_BUILTINS.has(name), `$${name} is not defined`).toBe(true);
    });

    it('filters by provider, label and key, the key list coming from keywatch_key_info', () => {
      const key = vars.find((v) => v.name === 'key');
      const provider = vars.find((v) => v.name === 'provider');
      const filter = vars.find((v) => v.name === 'filter');

      expect(parseLabelValues(variableQuery(provider!)!)).toEqual({ selector: 'keywatch_key_info', label: 'provider' });
      const keyQuery = parseLabelValues(variableQuery(key!)!);
      expect(keyQuery?.label).toBe('key');
      expect(keyQuery?.selector).toContain('keywatch_key_info{');
      expect(keyQuery?.selector).toContain('$provider');
      expect(keyQuery?.selector).toContain('$filter');
      expect(filter?.type).toBe('textbox');
    });

    it('filters every per-key query by $key', () => {
      // Notifier counters and the reload flag are per keywatch process, not per key.
      const perProcess = ['keywatch_notifications_total', 'keywatch_notification_failures_total', 'keywatch_config_last_reload_successful'];

      for (const q of queries) {
        if (metricNames(q.expr).every((m) => perProcess.includes(m))) continue;
        const selectors = q.expr.match(/keywatch_[a-z_]+\{[^}]*\}|keywatch_[a-z_]+(?![a-z_{])/g) ?? [];
        for (const s of selectors) expect(s, `panel "${q.panel}": ${q.expr}`).toMatch(/key=~?"\$key"/);
      }
    });

    it('lays panels out without overlap', () => {
      const boxes = d.panels.map((p) => ({ title: p.title, ...p.gridPos! }));

      for (const [i, a] of boxes.entries()) {
        expect(a.x + a.w, `${a.title} is wider than the grid`).toBeLessThanOrEqual(24);
        for (const b of boxes.slice(i + 1)) {
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap, `"${a.title}" overlaps "${b.title}"`).toBe(false);
        }
      }
    });

    it('has unique panel ids and refIds', () => {
      const ids = allPanels(d).map((p) => p.id);

      expect(new Set(ids).size).toBe(ids.length);
      for (const p of allPanels(d)) {
        const refs = (p.targets ?? []).map((t) => t.refId);
        expect(new Set(refs).size, `panel "${p.title}"`).toBe(refs.length);
      }
    });
  });

  it('the fleet overview shows every key column the operators asked for', () => {
    const fleet = dashboards.find((d) => d.dashboard.uid === 'keywatch-fleet')!.dashboard;
    const used = new Set(panelQueries(fleet).flatMap((q) => metricNames(q.expr)));

    for (const m of [
      'keywatch_key_valid',
      'keywatch_key_balance',
      'keywatch_key_limit_remaining',
      'keywatch_key_burn_rate',
      'keywatch_key_exhaustion_seconds',
      'keywatch_key_stability',
      'keywatch_key_readiness',
      'keywatch_alert_firing',
    ]) {
      expect(used.has(m), m).toBe(true);
    }
    expect(allPanels(fleet).some((p) => p.type === 'table' && (p.targets?.length ?? 0) >= 8)).toBe(true);
  });

  it('the drill-down shows usage, money, burn, runway, probes and models of one key', () => {
    const key = dashboards.find((d) => d.dashboard.uid === 'keywatch-key')!.dashboard;
    const used = new Set(panelQueries(key).flatMap((q) => metricNames(q.expr)));

    for (const m of [
      'keywatch_key_usage',
      'keywatch_key_balance',
      'keywatch_key_limit',
      'keywatch_key_burn_rate',
      'keywatch_key_exhaustion_seconds',
      'keywatch_probe_duration_seconds',
      'keywatch_probe_success',
      'keywatch_key_model_access',
    ]) {
      expect(used.has(m), m).toBe(true);
    }
    expect(key.templating.list.find((v) => v.name === 'key')?.multi).toBe(false);
  });

  it('fillVariables substitutes names, braces and formats, longest name first', () => {
    const filled = fillVariables('x{key=~"$key", a="${key_b}", $filter}[$__rate_interval]', {
      key: 'k1|k2',
      key_b: 'b',
      filter: 'team="search"',
      __rate_interval: '1m',
    });

    expect(filled).toBe('x{key=~"k1|k2", a="b", team="search"}[1m]');
  });
});

describe('provisioning', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { volumes?: string[] }>;
  };
  const grafanaMounts = (compose.services.grafana?.volumes ?? []).map((v) => v.split(':'));

  it('provisions a Prometheus datasource', () => {
    const ds = parse(readFileSync(join(ROOT, 'grafana/provisioning/datasources/keywatch.yml'), 'utf8')) as {
      apiVersion: number;
      datasources: { type: string; url: string; isDefault: boolean }[];
    };

    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toHaveLength(1);
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(Object.keys(compose.services)).toContain('prometheus');
  });

  it('loads dashboards from where docker-compose.yml mounts grafana/dashboards', () => {
    const prov = parse(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/keywatch.yml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    const dashboardsMount = grafanaMounts.find(([src]) => src === './grafana/dashboards');

    expect(prov.providers[0]?.type).toBe('file');
    expect(dashboardsMount?.[1]).toBe(prov.providers[0]?.options.path);
    expect(existsSync(DASHBOARD_DIR)).toBe(true);
    for (const [src, dst] of grafanaMounts.filter(([s]) => s!.startsWith('./'))) {
      expect(existsSync(join(ROOT, src!)), `${src} -> ${dst}`).toBe(true);
    }
  });
});
