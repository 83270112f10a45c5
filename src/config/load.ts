/**
 * Reads, interpolates and validates a config file, and resolves it into what the daemon runs:
 * keys with their secrets wrapped, durations in ms, thresholds merged. Every problem is
 * reported at once with its YAML path; no secret value is ever echoed.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { Secret } from '../secret.js';
import { Config, RULE_NAMES, type KeyConfig, type Thresholds } from './schema.js';
import { parseYaml } from './yaml.js';

export interface ResolvedKey {
  name: string;
  /** Configured provider id, or `auto`. */
  provider: string;
  key: Secret;
  adminKey?: Secret;
  /** Explicit per-key or per-provider base URL; undefined = the adapter's default. */
  baseUrl?: string;
  intervalMs: number;
  schedule?: string;
  timeoutMs: number;
  labels: Record<string, string>;
  watchModels: string[];
  thresholds: Thresholds;
  /** Skip the models probe for this long after a successful one; undefined or 0 = every run. */
  modelsIntervalMs?: number;
  /** Set for keys found by fleet discovery. */
  account?: string;
}

export interface ResolvedAccount {
  name: string;
  provider: string;
  adminKey: Secret;
  baseUrl?: string;
  intervalMs: number;
  schedule?: string;
  timeoutMs: number;
  labels: Record<string, string>;
  watchModels: string[];
  thresholds: Thresholds;
  includeDisabled: boolean;
}

export interface ResolvedConfig {
  file?: string;
  raw: Config;
  keys: ResolvedKey[];
  accounts: ResolvedAccount[];
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Known provider ids (plus `auto`); unknown ones are reported. */
  providers?: readonly string[];
}

/**
 * The thresholds a key is judged and alerted against (already merged with alerting.thresholds by the
 * loader): its own when configured, else its account's (discovered keys), else alerting.thresholds.
 */
export function thresholdsFor(config: ResolvedConfig, key: ResolvedKey | undefined, account: string | undefined): Thresholds {
  if (key !== undefined) return key.thresholds;
  const a = account !== undefined ? config.accounts.find((x) => x.name === account) : undefined;
  return a?.thresholds ?? config.raw.alerting.thresholds;
}

export function loadConfigFile(file: string, opts: LoadOptions = {}): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [{ path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? 'error'})` }],
      file,
    );
  }
  return parseConfig(text, { ...opts, file });
}

export function parseConfig(text: string, opts: LoadOptions & { file?: string } = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  // yaml's parseDocument, or a faster parser where its result is certainly the same (./yaml.ts).
  const yaml = parseYaml(text);
  if (!yaml.ok) {
    throw new ConfigError(
      yaml.errors.map((message) => ({ path: '', message: `YAML syntax: ${firstLine(message)}` })),
      opts.file,
    );
  }
  const unset: ConfigIssue[] = [];
  // Without a `$` in the text (nor a `\`, whose escapes may make one) there is nothing to
  // interpolate, and the walk would only copy every object of the config once more (10,000 keys:
  // ~100,000 objects, garbage by the time zod has parsed its own copy, and promoted meanwhile).
  const data = text.includes('$') || text.includes('\\') ? interpolate(yaml.value ?? {}, [], env, unset) : (yaml.value ?? {});
  const baseDir = opts.file ? dirname(resolve(opts.file)) : process.cwd();
  const known = opts.providers ? new Set([...opts.providers, 'auto']) : undefined;
  // On the raw data, so one run reports these beside any shape problem rather than after it is fixed.
  const others: ConfigIssue[] = [...checkProviders(data, known)];
  const keyFiles = readKeyFiles(data, baseDir, others);
  const parsed = Config.safeParse(data);
  if (!parsed.success) others.push(...zodIssues(parsed.error));
  // An unset variable is the whole story at its path: its placeholder failing a URL or duration check is noise.
  const unsetPaths = new Set(unset.map((i) => i.path));
  const issues = [...unset, ...others.filter((i) => !unsetPaths.has(i.path))];
  if (!parsed.success || issues.length > 0) throw new ConfigError(dedupe(issues), opts.file);

  const cfg = parsed.data;
  const keys: ResolvedKey[] = [];
  cfg.keys.forEach((k, i) => {
    const secret = k.key ?? keyFiles.get(i);
    if (!k.enabled || secret === undefined) return;
    keys.push(resolveKey(cfg, k, secret));
  });
  const accounts: ResolvedAccount[] = cfg.accounts.map((a) => {
    const baseUrl = a.baseUrl ?? cfg.providers[a.provider]?.baseUrl;
    return {
      name: a.name,
      provider: a.provider,
      adminKey: a.adminKey,
      ...(baseUrl !== undefined ? { baseUrl } : {}),
      intervalMs: a.interval ?? cfg.defaults.interval,
      ...(a.schedule ?? cfg.defaults.schedule ? { schedule: (a.schedule ?? cfg.defaults.schedule)! } : {}),
      timeoutMs: cfg.defaults.timeout,
      labels: a.labels,
      watchModels: a.watchModels,
      thresholds: { ...cfg.alerting.thresholds, ...a.alerts },
      includeDisabled: a.includeDisabled,
    };
  });
  if (issues.length > 0) throw new ConfigError(dedupe(issues), opts.file);
  return { ...(opts.file !== undefined ? { file: opts.file } : {}), raw: cfg, keys, accounts };
}

function resolveKey(cfg: Config, k: KeyConfig, key: Secret): ResolvedKey {
  const baseUrl = k.baseUrl ?? cfg.providers[k.provider]?.baseUrl;
  const schedule = k.schedule ?? (k.interval === undefined ? cfg.defaults.schedule : undefined);
  return {
    name: k.name,
    provider: k.provider,
    key,
    ...(k.adminKey !== undefined ? { adminKey: k.adminKey } : {}),
    ...(baseUrl !== undefined ? { baseUrl } : {}),
    intervalMs: k.interval ?? cfg.defaults.interval,
    ...(schedule !== undefined ? { schedule } : {}),
    timeoutMs: k.timeout ?? cfg.defaults.timeout,
    labels: k.labels,
    watchModels: k.watchModels,
    thresholds: { ...cfg.alerting.thresholds, ...k.alerts },
    modelsIntervalMs: cfg.defaults.modelsInterval,
  };
}

/** Provider ids of keys[], accounts[] and providers:, wherever they are strings (the shape may be wrong elsewhere). */
function checkProviders(data: unknown, known: ReadonlySet<string> | undefined): ConfigIssue[] {
  if (known === undefined) return [];
  const list = [...known].sort().join(', ');
  const out: ConfigIssue[] = [];
  for (const section of ['keys', 'accounts'] as const) {
    entries(data, section).forEach((e, i) => {
      if (typeof e.provider === 'string' && e.provider !== '' && !known.has(e.provider)) {
        out.push({ path: `${section}[${i}].provider`, message: `unknown provider "${e.provider}" (known: ${list})` });
      }
    });
  }
  const providers = (data as { providers?: unknown } | null)?.providers;
  if (providers !== null && typeof providers === 'object' && !Array.isArray(providers)) {
    for (const id of Object.keys(providers)) {
      if (id !== 'auto' && !known.has(id)) out.push({ path: `providers.${id}`, message: `unknown provider "${id}" (known: ${list})` });
    }
  }
  return out;
}

/** Reads every keys[].keyFile that is given as a path; unreadable or empty files are issues. */
function readKeyFiles(data: unknown, baseDir: string, issues: ConfigIssue[]): Map<number, Secret> {
  const secrets = new Map<number, Secret>();
  entries(data, 'keys').forEach((e, i) => {
    const file = e.keyFile;
    if (typeof file !== 'string' || file === '') return;
    try {
      const value = readFileSync(resolve(baseDir, file), 'utf8').trim();
      if (value === '') issues.push({ path: `keys[${i}].keyFile`, message: `file ${file} is empty` });
      else secrets.set(i, new Secret(value));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      issues.push({ path: `keys[${i}].keyFile`, message: `cannot read ${file} (${code})` });
    }
  });
  return secrets;
}

/** The object entries of a top-level list, by their index; anything else there stands in as `{}`. */
function entries(data: unknown, section: string): Record<string, unknown>[] {
  const list = data !== null && typeof data === 'object' ? (data as Record<string, unknown>)[section] : undefined;
  if (!Array.isArray(list)) return [];
  return list.map((e) => (e !== null && typeof e === 'object' && !Array.isArray(e) ? (e as Record<string, unknown>) : {}));
}

/** `${VAR}` from the environment, `$$` for a literal `$`. Unset variables are issues naming the variable. */
function interpolate(value: unknown, path: (string | number)[], env: NodeJS.ProcessEnv, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env[name!];
      if (v === undefined) {
        issues.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
        return UNSET;
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], env, issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], env, issues);
    return out;
  }
  return value;
}

/** Stands in for an unset variable so that only the variable's issue is reported. */
const UNSET = '<unset>';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function zodIssues(error: z.ZodError): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      // alerting.severities is keyed by rule name: there a stray key is a misspelt rule.
      const rules = issue.path.at(-1) === 'severities';
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: rules ? `unknown rule (one of ${RULE_NAMES.join(', ')})` : 'unknown field' });
      }
      continue;
    }
    if (issue.code === 'invalid_union' && 'errors' in issue) {
      // Discriminated unions: report the branch's own issues when the discriminator matched.
      const nested = (issue.errors as z.core.$ZodIssue[][]).flat();
      if (nested.length > 0 && issue.path.length > 0) {
        for (const n of nested) out.push({ path: formatPath([...issue.path, ...n.path]), message: safeMessage(n) });
        continue;
      }
    }
    out.push({ path: formatPath(issue.path), message: safeMessage(issue) });
  }
  return out;
}

/** zod messages never include the received value in v4, but keep them to one line. */
function safeMessage(issue: z.core.$ZodIssue): string {
  // zod's own wording ("Invalid input: expected string, received number") is cut short; a message
  // the schema wrote (a number where a duration belongs) says more and is kept.
  if (issue.code === 'invalid_type') return issue.message.startsWith('Invalid input') ? `expected ${issue.expected}` : firstLine(issue.message);
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `expected one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return firstLine(issue.message);
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
