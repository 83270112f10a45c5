/**
 * `keywatch check [--provider ID|auto] [--base-url URL] [--json]`: one-shot judgement of ONE key,
 * read from $KEYWATCH_KEY or stdin (never argv: argv shows in `ps`). Runs every read-only probe
 * once through the runner, then the same analysis the daemon runs, and prints it.
 * Exit 0 ready, 1 review, 2 blocked, 3 could not check.
 * Extra options: --watch MODEL (repeatable), --timeout 10s, --horizon 7d; $KEYWATCH_ADMIN_KEY for
 * an optional billing/management credential.
 */
import { parseArgs } from 'node:util';
import { analyzeKey } from '../analysis/index.js';
import { EXIT_CODES, exitCodeFor, formatKeyReport, keyReport, REPORT_VERSION, type CheckReport } from '../analysis/report.js';
import type { HistorySample } from '../analysis/types.js';
import { describeIdentity, makeIdentify } from '../identity.js';
import type { ResolvedKey } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { HttpClient } from '../http/client.js';
import type { ProviderRegistry } from '../provider.js';
import { runKey, type Identify, type RunResult } from '../runner.js';
import { Secret } from '../secret.js';
import type { KeyState } from '../state.js';
import type { ProbeKind, ProbeOutcome } from '../../probes/types.js';
import { writeLine, type CliIO, type Command } from './io.js';

export interface CheckDeps {
  registry: ProviderRegistry;
  /** Provider auto-detection (src/identity.ts `makeIdentify`); without it `--provider auto` cannot check. */
  identify?: Identify;
  now?: () => number;
}

const USAGE =
  'usage: keywatch check [--provider ID|auto] [--base-url URL] [--json] [--watch MODEL]... [--timeout 10s] [--horizon 7d]\n' +
  'The key is read from $KEYWATCH_KEY or stdin, never from the command line.';

const DAY_MS = 86_400_000;

export async function runCheck(args: string[], io: CliIO, deps: CheckDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        provider: { type: 'string', short: 'p', default: 'auto' },
        'base-url': { type: 'string' },
        json: { type: 'boolean', default: false },
        watch: { type: 'string', multiple: true, default: [] },
        timeout: { type: 'string', default: '10s' },
        horizon: { type: 'string', default: '7d' },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    // A positional argument is most likely a key pasted on the command line: never echo it.
    const positional = (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL';
    writeLine(io.stderr, positional ? 'keywatch check: takes no positional arguments (pass the key in $KEYWATCH_KEY or on stdin)' : `keywatch check: ${(err as Error).message}`);
    writeLine(io.stderr, USAGE);
    return EXIT_CODES.could_not_check;
  }
  const timeoutMs = parseDuration(values.timeout);
  const horizonMs = parseDuration(values.horizon);
  if (timeoutMs === undefined || timeoutMs <= 0 || horizonMs === undefined) {
    writeLine(io.stderr, 'keywatch check: --timeout and --horizon take durations such as 10s or 7d');
    return EXIT_CODES.could_not_check;
  }
  const baseUrl = values['base-url'];
  if (baseUrl !== undefined && !(URL.canParse(baseUrl) && /^https?:$/.test(new URL(baseUrl).protocol))) {
    writeLine(io.stderr, 'keywatch check: --base-url must be an http(s) URL');
    return EXIT_CODES.could_not_check;
  }

  const raw = await readKey(io);
  if (raw === undefined) {
    writeLine(io.stderr, 'keywatch check: no key: set KEYWATCH_KEY or pipe the key on stdin');
    return EXIT_CODES.could_not_check;
  }
  const secret = new Secret(raw);
  const adminRaw = io.env.KEYWATCH_ADMIN_KEY?.trim();
  const claimed = values.provider;
  const key: ResolvedKey = {
    name: 'check',
    provider: claimed,
    key: secret,
    ...(adminRaw ? { adminKey: new Secret(adminRaw) } : {}),
    ...(baseUrl !== undefined ? { baseUrl } : {}),
    intervalMs: 0,
    timeoutMs,
    labels: {},
    watchModels: values.watch,
    thresholds: {},
  };
  const base = { key: { masked: secret.masked(), fingerprint: secret.fingerprint() } };

  const couldNot = (kind: string, message: string, detected: string, result?: RunResult): number => {
    const report: CheckReport = {
      version: REPORT_VERSION,
      checkedAt: new Date(now()).toISOString(),
      status: 'could_not_check',
      exitCode: EXIT_CODES.could_not_check,
      key: base.key,
      provider: { claimed, detected, ...(baseUrl !== undefined ? { baseUrl } : {}) },
      error: { kind, message },
      ...(result ? { probes: result.outcomes.map(probeOf) } : {}),
    };
    if (values.json) writeLine(io.stdout, JSON.stringify(report, null, 2));
    else {
      writeLine(io.stdout, `keywatch check: ${base.key.masked} (fingerprint ${base.key.fingerprint})`);
      for (const p of result?.outcomes ?? []) {
        if (!p.ok) writeLine(io.stdout, `  ${p.probe}: ${p.errorKind ?? 'failed'}${p.status ? ` (HTTP ${p.status})` : ''} ${p.message ?? ''}`.trimEnd());
      }
      writeLine(io.stdout, `could not check (${kind}): ${message}`);
    }
    return EXIT_CODES.could_not_check;
  };

  if (claimed !== 'auto' && !deps.registry.has(claimed)) {
    return couldNot('config', `unknown provider "${claimed}" (known: ${[...deps.registry.keys()].join(', ')}, auto)`, claimed);
  }
  if (claimed === 'auto' && deps.identify === undefined) {
    return couldNot('config', 'provider auto-detection is not available in this build; pass --provider ID', 'auto');
  }

  const http = new HttpClient({ defaultTimeoutMs: timeoutMs });
  let result: RunResult;
  try {
    result = await runKey({ key }, { registry: deps.registry, http, now, ...(deps.identify ? { identify: deps.identify } : {}) });
  } finally {
    await http.close();
  }

  if (!deps.registry.has(result.provider)) {
    const why = result.outcomes.find((o) => !o.ok);
    return couldNot(why?.errorKind ?? 'config', why?.message ?? 'could not identify the provider of this key', result.provider, result);
  }
  if (result.facts.valid === undefined) {
    // No probe could say whether the key works (network down, 5xx, timeouts): that is not a verdict.
    const why = result.outcomes.find((o) => !o.ok);
    return couldNot(why?.errorKind ?? 'bad_response', why?.message ?? 'no probe could tell whether the key is valid', result.provider, result);
  }

  const state = stateOf(key, secret, result);
  const analysis = analyzeKey({
    state,
    history: [sampleOf(result)],
    now: now(),
    thresholds: {},
    stabilityWindowMs: DAY_MS,
    readinessHorizonMs: horizonMs,
  });
  const judged = keyReport(state, analysis);
  const exitCode = exitCodeFor(analysis.readiness.verdict);
  const { name: _name, key: _key, provider: _provider, probes: _probes, ...rest } = judged;
  const report: CheckReport = {
    version: REPORT_VERSION,
    checkedAt: new Date(result.startedAt).toISOString(),
    status: 'checked',
    exitCode,
    key: base.key,
    provider: { claimed, detected: result.provider, ...(baseUrl !== undefined ? { baseUrl } : {}) },
    ...rest,
    probes: result.outcomes.map(probeOf),
  };
  if (values.json) writeLine(io.stdout, JSON.stringify(report, null, 2));
  else writeLine(io.stdout, formatKeyReport(judged, 'keywatch check', { identity: describeIdentity(result.facts.identity, deps.registry) }));
  return exitCode;
}

/** $KEYWATCH_KEY, else the first line of stdin (unless stdin is a terminal: nothing to wait for). */
async function readKey(io: CliIO): Promise<string | undefined> {
  const env = io.env.KEYWATCH_KEY?.trim();
  if (env) return env;
  if (io.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  const first = Buffer.concat(chunks).toString('utf8').split(/\r?\n/).find((l) => l.trim() !== '');
  return first?.trim() || undefined;
}

function probeOf(o: ProbeOutcome): NonNullable<CheckReport['probes']>[number] {
  return {
    probe: o.probe,
    ok: o.ok,
    durationMs: Math.round(o.durationMs),
    ...(o.errorKind !== undefined ? { errorKind: o.errorKind } : {}),
    ...(o.status !== undefined ? { status: o.status } : {}),
    ...(o.message !== undefined ? { message: o.message } : {}),
  };
}

function stateOf(key: ResolvedKey, secret: Secret, r: RunResult): KeyState {
  const probes: Partial<Record<ProbeKind, ProbeOutcome>> = {};
  const lastSuccessAt: Partial<Record<ProbeKind, number>> = {};
  for (const o of r.outcomes) {
    probes[o.probe] = o;
    if (o.ok) lastSuccessAt[o.probe] = o.at;
  }
  return {
    name: key.name,
    claimedProvider: r.claimedProvider,
    provider: r.provider,
    labels: {},
    watchModels: key.watchModels,
    fingerprint: secret.fingerprint(),
    masked: secret.masked(),
    facts: r.facts,
    probes,
    lastSuccessAt,
    lastRunAt: r.startedAt + r.durationMs,
    consecutiveFailures: r.allFailed ? 1 : 0,
  };
}

/** The run as the one history point analysis sees (what the store would record for it). */
export function sampleOf(r: RunResult): HistorySample {
  const f = r.facts;
  const s: HistorySample = { at: r.startedAt, runs: 1, okRuns: r.ok ? 1 : 0, latencyMs: r.durationMs };
  if (!r.ok) s.failures = { [r.errorKind ?? 'unknown']: 1 };
  if (f.valid !== undefined) s.valid = f.valid;
  if (f.currency !== undefined) s.currency = f.currency;
  if (f.usage?.total !== undefined) s.usageTotal = f.usage.total;
  if (f.usage?.daily !== undefined) s.usageDaily = f.usage.daily;
  if (f.usage?.weekly !== undefined) s.usageWeekly = f.usage.weekly;
  if (f.usage?.monthly !== undefined) s.usageMonthly = f.usage.monthly;
  if (f.limit !== undefined) s.limit = f.limit;
  if (f.limitRemaining !== undefined) s.limitRemaining = f.limitRemaining;
  if (f.balance !== undefined) s.balance = f.balance;
  return s;
}

async function defaultDeps(): Promise<CheckDeps> {
  const { registry } = await import('../../providers/index.js');
  return { registry, identify: makeIdentify(registry) };
}

const cmd: Command = async (args, io) => runCheck(args, io, await defaultDeps());
export default cmd;
