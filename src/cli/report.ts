/**
 * `keywatch report [--config FILE] [--key NAME] [--json]`: the daemon's judgement of configured keys
 * (and keys found by fleet discovery) from the store, without probing anything.
 * Exit code: the worst verdict (0 ready, 1 review, 2 blocked), 3 when it cannot report (bad config,
 * no store yet, unknown --key).
 * Secrets are not needed: a `${VAR}` left unset in the environment is filled with a placeholder,
 * since report never sends a request.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { analyzeKey } from '../analysis/index.js';
import { BURN_WINDOWS } from '../analysis/types.js';
import { WINDOW_MS } from '../analysis/burn.js';
import { EXIT_CODES, formatKeyReport, keyReport, REPORT_VERSION, worstExitCode, type FleetReport, type KeyReport } from '../analysis/report.js';
import type { Thresholds } from '../config/schema.js';
import { loadConfigFile, type ResolvedConfig } from '../config/load.js';
import { ConfigError, formatIssue } from '../errors.js';
import type { KeyState } from '../state.js';
import { openStore } from '../store/index.js';
import { configPath, writeLine, type CliIO, type Command } from './io.js';

export interface ReportDeps {
  providers?: readonly string[];
  now?: () => number;
}

/** What fills an unset `${VAR}`: valid as a key and as an http(s) URL, useless as either. */
const PLACEHOLDER = 'https://unset.invalid/keywatch-report-placeholder';

export async function runReport(args: string[], io: CliIO, deps: ReportDeps = {}): Promise<number> {
  const now = (deps.now ?? Date.now)();
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c' }, key: { type: 'string', short: 'k' }, json: { type: 'boolean', default: false } },
      allowPositionals: false,
    }));
  } catch (err) {
    // Exit 3 (cannot report), not 1: for report, 1 means "needs review".
    writeLine(io.stderr, `keywatch report: ${(err as Error).message.split('\n')[0]} (usage: keywatch report [--config FILE] [--key NAME] [--json])`);
    return EXIT_CODES.could_not_check;
  }
  const file = configPath(values.config, io.env);
  const loaded = loadWithoutSecrets(file, io, deps.providers);
  if (loaded === undefined) return EXIT_CODES.could_not_check;
  const { config, placeholders } = loaded;

  const storePath = config.raw.storage.path;
  if (storePath !== ':memory:' && !existsSync(storePath)) {
    writeLine(io.stderr, `keywatch report: no store at ${storePath} yet (start the daemon with keywatch run first)`);
    return EXIT_CODES.could_not_check;
  }

  const store = openStore(storePath);
  try {
    const states = store.loadStates();
    const targets = reportTargets(config, states, placeholders);
    const chosen = values.key === undefined ? targets : targets.filter((t) => t.state.name === values.key);
    if (values.key !== undefined && chosen.length === 0) {
      writeLine(io.stderr, `keywatch report: no key named "${values.key}" in ${file} (or discovered by its accounts)`);
      return EXIT_CODES.could_not_check;
    }
    const stabilityWindowMs = config.raw.defaults.stabilityWindow;
    const readinessHorizonMs = config.raw.defaults.readinessHorizon;
    // The widest window analysis reads, plus an hour so the first window has a sample before it.
    const since = now - Math.max(stabilityWindowMs, ...BURN_WINDOWS.map((w) => WINDOW_MS[w])) - 3_600_000;

    const reports: KeyReport[] = chosen.map(({ state, thresholds }) => {
      const analysis = analyzeKey({
        state,
        history: store.history(state.name, since),
        now,
        thresholds,
        stabilityWindowMs,
        readinessHorizonMs,
      });
      return keyReport(state, analysis);
    });
    const exitCode = worstExitCode(reports);

    if (values.json) {
      const doc: FleetReport = { version: REPORT_VERSION, generatedAt: new Date(now).toISOString(), exitCode, keys: reports };
      writeLine(io.stdout, JSON.stringify(doc, null, 2));
    } else {
      for (const r of reports) {
        writeLine(io.stdout, formatKeyReport(r, `== ${r.name}`));
        writeLine(io.stdout);
      }
      writeLine(io.stdout, summary(reports));
    }
    return exitCode;
  } finally {
    store.close();
  }
}

function summary(reports: readonly KeyReport[]): string {
  const count = (v: string): number => reports.filter((r) => r.readiness.verdict === v).length;
  return `${reports.length} key${reports.length === 1 ? '' : 's'}: ${count('ready')} ready, ${count('review')} review, ${count('blocked')} blocked`;
}

/** Loads the config; unset variables get a placeholder (report sends nothing), other problems fail. */
function loadWithoutSecrets(
  file: string,
  io: CliIO,
  providers: readonly string[] | undefined,
): { config: ResolvedConfig; placeholders: boolean } | undefined {
  const opts = providers !== undefined ? { providers } : {};
  try {
    return { config: loadConfigFile(file, { env: io.env, ...opts }), placeholders: false };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    try {
      const env = new Proxy(io.env, { get: (t, p) => (typeof p === 'string' ? (t[p] ?? PLACEHOLDER) : undefined) });
      return { config: loadConfigFile(file, { env, ...opts }), placeholders: true };
    } catch (again) {
      if (!(again instanceof ConfigError)) throw again;
      for (const issue of again.issues) writeLine(io.stderr, formatIssue(issue, file));
      return undefined;
    }
  }
}

interface Target {
  state: KeyState;
  thresholds: Thresholds;
}

/** Configured keys (a never-probed one gets an empty state), then keys discovered by configured accounts. */
function reportTargets(config: ResolvedConfig, states: Map<string, KeyState>, placeholders: boolean): Target[] {
  const out: Target[] = [];
  for (const k of config.keys) {
    const stored = states.get(k.name);
    const state: KeyState = stored
      ? { ...stored, watchModels: k.watchModels, labels: k.labels }
      : {
          name: k.name,
          claimedProvider: k.provider,
          provider: k.provider,
          labels: k.labels,
          watchModels: k.watchModels,
          // With placeholders the configured key is not the real one: do not show its fingerprint.
          fingerprint: placeholders ? 'unknown' : k.key.fingerprint(),
          masked: placeholders ? '…' : k.key.masked(),
          facts: {},
          probes: {},
          lastSuccessAt: {},
          consecutiveFailures: 0,
        };
    out.push({ state, thresholds: k.thresholds });
  }
  const configured = new Set(config.keys.map((k) => k.name));
  for (const a of config.accounts) {
    const found = [...states.values()]
      .filter((s) => !configured.has(s.name) && (s.account === a.name || s.name.startsWith(`${a.name}.`)))
      .sort((x, y) => x.name.localeCompare(y.name));
    for (const s of found) out.push({ state: { ...s, watchModels: s.watchModels ?? a.watchModels }, thresholds: a.thresholds });
  }
  return out;
}

const cmd: Command = async (args, io) => {
  const { providerIds } = await import('../../providers/index.js');
  return runReport(args, io, { providers: providerIds() });
};
export default cmd;
