/**
 * Helpers for the ops tests (dashboards, Prometheus rules, the compose stack): reading the shipped
 * dashboards, pulling metric names out of PromQL, filling Grafana template variables, and running a
 * real Prometheus on a free port with its own config and storage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** The metric names of the public contract (../shared/CONTRACT.md, "Metrics"). */
export const CONTRACT_METRICS = [
  'keywatch_key_info',
  'keywatch_key_valid',
  'keywatch_key_usage',
  'keywatch_key_limit',
  'keywatch_key_limit_remaining',
  'keywatch_key_limit_reset_timestamp_seconds',
  'keywatch_key_balance',
  'keywatch_key_burn_rate',
  'keywatch_key_exhaustion_seconds',
  'keywatch_key_stability',
  'keywatch_key_risk_score',
  'keywatch_key_readiness',
  'keywatch_key_model_access',
  'keywatch_probe_success',
  'keywatch_probe_duration_seconds',
  'keywatch_probe_last_success_timestamp_seconds',
  'keywatch_alert_firing',
  'keywatch_notifications_total',
  'keywatch_notification_failures_total',
  'keywatch_config_last_reload_successful',
] as const;

// ---------------------------------------------------------------- dashboards

export interface Panel {
  id?: number;
  type: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: { refId?: string; expr?: string; datasource?: unknown }[];
  panels?: Panel[];
  datasource?: unknown;
}

export interface TemplateVar {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  allValue?: string;
  includeAll?: boolean;
  multi?: boolean;
  current?: { value?: unknown };
  options?: { value: string }[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: TemplateVar[] };
}

export interface DashboardFile {
  file: string;
  dashboard: Dashboard;
}

export const DASHBOARD_DIR = join(ROOT, 'grafana/dashboards');

export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, dashboard: JSON.parse(readFileSync(join(DASHBOARD_DIR, f), 'utf8')) as Dashboard }));
}

/** Every panel, rows flattened (a collapsed row holds its panels inside). */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface PanelQuery {
  panel: string;
  refId: string;
  expr: string;
}

export function panelQueries(d: Dashboard): PanelQuery[] {
  return allPanels(d).flatMap((p) =>
    (p.targets ?? [])
      .filter((t) => typeof t.expr === 'string')
      .map((t) => ({ panel: p.title ?? `panel ${p.id}`, refId: t.refId ?? '?', expr: t.expr! })),
  );
}

/** The PromQL text of a query variable (`label_values(...)`, `query_result(...)` or plain). */
export function variableQuery(v: TemplateVar): string | undefined {
  if (v.type !== 'query') return undefined;
  if (typeof v.query === 'string') return v.query;
  if (v.query !== null && typeof v.query === 'object' && 'query' in v.query) return String((v.query as { query: unknown }).query);
  return v.definition;
}

/** `label_values(SELECTOR, label)` -> { selector, label }; undefined for other forms. */
export function parseLabelValues(q: string): { selector?: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(q);
  if (m === null) return undefined;
  return { selector: m[1]?.trim() || undefined, label: m[2]! };
}

// ---------------------------------------------------------------- PromQL

const AGGREGATIONS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
  'limitk', 'limit_ratio',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/**
 * The metric names a PromQL expression selects. A small scanner, not a parser: it skips strings,
 * label matchers `{...}`, ranges `[...]`, numbers/durations, functions, aggregations, keywords and
 * the label lists after by/without/on/ignoring/group_left/group_right. Template variables ($x) are
 * ignored. Also catches `{__name__="x"}` selectors.
 */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  let i = 0;
  const n = expr.length;
  const skipString = (): void => {
    const q = expr[i]!;
    i++;
    while (i < n && expr[i] !== q) i += expr[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipBalanced = (open: string, close: string): string => {
    const start = i;
    let depth = 0;
    while (i < n) {
      const c = expr[i]!;
      if (c === '"' || c === "'" || c === '`') {
        skipString();
        continue;
      }
      if (c === open) depth++;
      if (c === close) {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      }
      i++;
    }
    return expr.slice(start, i);
  };
  const nextNonSpace = (from: number): string | undefined => {
    let j = from;
    while (j < n && /\s/.test(expr[j]!)) j++;
    return expr[j];
  };
  while (i < n) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      skipString();
    } else if (c === '{') {
      const body = skipBalanced('{', '}');
      const m = /__name__\s*=\s*"([^"]+)"/.exec(body);
      if (m) names.add(m[1]!);
    } else if (c === '[') {
      skipBalanced('[', ']');
    } else if (c === '#') {
      while (i < n && expr[i] !== '\n') i++;
    } else if (c === '$') {
      i++;
      if (expr[i] === '{') skipBalanced('{', '}');
      else while (i < n && /[a-zA-Z0-9_]/.test(expr[i]!)) i++;
    } else if (/[0-9.]/.test(c)) {
      while (i < n && /[a-zA-Z0-9_.]/.test(expr[i]!)) i++;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < n && /[a-zA-Z0-9_:]/.test(expr[i]!)) i++;
      const word = expr.slice(start, i);
      const lower = word.toLowerCase();
      if (LABEL_LIST_KEYWORDS.has(lower)) {
        if (nextNonSpace(i) === '(') {
          while (expr[i] !== '(') i++;
          skipBalanced('(', ')');
        }
      } else if (AGGREGATIONS.has(lower) || KEYWORDS.has(lower) || nextNonSpace(i) === '(') {
        // function, aggregation or keyword
      } else {
        names.add(word);
      }
    } else {
      i++;
    }
  }
  return [...names];
}

/** Names of the template variables an expression refers to ($x, ${x}, ${x:fmt}, [[x]]). */
export function referencedVariables(expr: string): string[] {
  const out = new Set<string>();
  for (const m of expr.matchAll(/\$\{([a-zA-Z0-9_]+)(?::[^}]*)?\}|\$([a-zA-Z0-9_]+)|\[\[([a-zA-Z0-9_]+)\]\]/g)) {
    out.add(m[1] ?? m[2] ?? m[3]!);
  }
  return [...out];
}

/** Replace template variables the way Grafana's Prometheus datasource does (longest names first). */
export function fillVariables(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{([a-zA-Z0-9_]+)(?::[^}]*)?\}|\$([a-zA-Z0-9_]+)|\[\[([a-zA-Z0-9_]+)\]\]/g, (whole, a, b, c) => {
    const name = (a ?? b ?? c) as string;
    return name in values ? values[name]! : whole;
  });
}

/** Grafana's regex escaping for a multi-value variable inside =~ "...". */
export function regexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&');
}

// ---------------------------------------------------------------- processes

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export interface Running {
  proc: ChildProcess;
  url: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** Keeps the last chunk of a process's output, for failure messages. */
function capture(proc: ChildProcess): () => string {
  let text = '';
  const add = (b: Buffer): void => {
    text = (text + b.toString('utf8')).slice(-20_000);
  };
  proc.stdout?.on('data', add);
  proc.stderr?.on('data', add);
  return () => text;
}

export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((ok) => proc.once('exit', () => ok()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export function spawnLogged(cmd: string, args: string[], env?: NodeJS.ProcessEnv, cwd = ROOT): Running {
  const proc = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { proc, url: '', output: capture(proc), stop: () => stopProcess(proc) };
}

/**
 * Poll `probe` until it resolves true, or fail with `what` and the process output. `proc`, when
 * given, fails the wait at once if that process exits.
 */
export async function waitFor(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  output?: () => string,
  proc?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const fail = (why: string): Error =>
    new Error(`${why} waiting for ${typeof what === 'string' ? what : what()}${output ? `\n--- output ---\n${output()}` : ''}`);
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (proc !== undefined && (proc.exitCode !== null || proc.signalCode !== null)) {
      throw fail(`process exited (${proc.exitCode ?? proc.signalCode})`);
    }
    if (Date.now() > deadline) throw fail('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * A real Prometheus on a free loopback port, scraping `targets` (host:port) every `scrapeInterval`,
 * with its own temp config and TSDB, optional rule files and Alertmanagers (host:port).
 */
export async function startPrometheus(
  bin: string,
  opts: { targets: string[]; scrapeInterval: string; ruleFiles?: string[]; alertmanagers?: string[] },
): Promise<Running & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'keywatch-prom-'));
  const port = await freePort();
  const config = [
    'global:',
    `  scrape_interval: ${opts.scrapeInterval}`,
    `  evaluation_interval: ${opts.scrapeInterval}`,
    ...(opts.ruleFiles?.length ? ['rule_files:', ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    ...(opts.alertmanagers?.length
      ? ['alerting:', '  alertmanagers:', '    - static_configs:', `        - targets: [${opts.alertmanagers.map((t) => JSON.stringify(t)).join(', ')}]`]
      : []),
    'scrape_configs:',
    '  - job_name: keywatch',
    `    scrape_timeout: ${opts.scrapeInterval}`,
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const proc = spawn(
    bin,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = capture(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, 20_000, 'prometheus to be ready', output, proc);
  return { proc, url, dir, output, stop: () => stopProcess(proc) };
}

export interface PromResult {
  status: string;
  data: { resultType: string; result: unknown[] | [number, string] };
  error?: string;
}

export async function promQuery(url: string, query: string, time?: number): Promise<PromResult> {
  const params = new URLSearchParams({ query });
  if (time !== undefined) params.set('time', String(time));
  const res = await fetch(`${url}/api/v1/query`, { method: 'POST', body: params });
  return (await res.json()) as PromResult;
}

/** Non-empty: a vector/matrix with at least one series, or a scalar/string. */
export function hasData(r: PromResult): boolean {
  if (r.status !== 'success') return false;
  if (r.data.resultType === 'scalar' || r.data.resultType === 'string') return true;
  return Array.isArray(r.data.result) && r.data.result.length > 0;
}

/**
 * A real Alertmanager on a free loopback port with `config` (YAML text), clustering off, its own
 * temp storage.
 */
export async function startAlertmanager(bin: string, config: string): Promise<Running & { dir: string; hostPort: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'keywatch-am-'));
  const port = await freePort();
  writeFileSync(join(dir, 'alertmanager.yml'), config);
  const proc = spawn(
    bin,
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = capture(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, 20_000, 'alertmanager to be ready', output, proc);
  return { proc, url, dir, hostPort: `127.0.0.1:${port}`, output, stop: () => stopProcess(proc) };
}
