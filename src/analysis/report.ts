/**
 * What `keywatch check` and `keywatch report` print: one key's judgement as a JSON document
 * (published as schemas/check-report.schema.json) and as text for people. Pure: the commands do
 * the I/O. Only masked forms and fingerprints of a key ever appear here.
 */
import type { KeyFacts, ProbeOutcome } from '../../probes/types.js';
import { formatDuration } from '../config/duration.js';
import type { KeyState } from '../state.js';
import type { BurnRate, Exhaustion, KeyAnalysis, LimitMatrixRow, ModelMatrixRow, Readiness, Risk, Stability, Verdict } from './types.js';

export const REPORT_VERSION = 1;

/** Exit codes of check (and report, for the worst key): 0 ready, 1 review, 2 blocked, 3 could not check. */
export const EXIT_CODES = { ready: 0, review: 1, blocked: 2, could_not_check: 3 } as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export function exitCodeFor(verdict: Verdict): ExitCode {
  return EXIT_CODES[verdict];
}

/** The facts worth showing, in their KeyFacts units (money in `currency`, timestamps epoch seconds). */
export type ReportFacts = Pick<
  KeyFacts,
  | 'valid'
  | 'validity'
  | 'currency'
  | 'usage'
  | 'limit'
  | 'limitRemaining'
  | 'limitReset'
  | 'limitResetAt'
  | 'balance'
  | 'balanceCurrency'
  | 'isFreeTier'
  | 'isManagementKey'
  | 'disabled'
  | 'expiresAt'
  | 'rateLimits'
>;

const FACT_FIELDS: readonly (keyof ReportFacts)[] = [
  'valid',
  'validity',
  'currency',
  'usage',
  'limit',
  'limitRemaining',
  'limitReset',
  'limitResetAt',
  'balance',
  'balanceCurrency',
  'isFreeTier',
  'isManagementKey',
  'disabled',
  'expiresAt',
  'rateLimits',
];

export interface ReportProbe {
  probe: string;
  ok: boolean;
  errorKind?: string;
  status?: number;
  message?: string;
  durationMs: number;
}

export interface KeyReport {
  name: string;
  key: { masked: string; fingerprint: string };
  provider: { claimed: string; detected: string };
  /** ISO time of the last probe run, absent when never probed. */
  lastRunAt?: string;
  identity?: NonNullable<KeyFacts['identity']>;
  facts: ReportFacts;
  probes: ReportProbe[];
  limits: LimitMatrixRow[];
  models: { count?: number; rows: ModelMatrixRow[] };
  burnRates: BurnRate[];
  exhaustion: Exhaustion;
  stability: Stability;
  risk: Risk;
  readiness: Readiness;
}

export interface CheckReport extends Partial<KeyReport> {
  version: typeof REPORT_VERSION;
  checkedAt: string;
  status: 'checked' | 'could_not_check';
  exitCode: ExitCode;
  key: { masked: string; fingerprint: string };
  provider: { claimed: string; detected: string; baseUrl?: string };
  /** Why the key could not be checked (status could_not_check). */
  error?: { kind: string; message: string };
}

export interface FleetReport {
  version: typeof REPORT_VERSION;
  generatedAt: string;
  exitCode: ExitCode;
  keys: KeyReport[];
}

function pickFacts(facts: KeyFacts): ReportFacts {
  const out: ReportFacts = {};
  for (const f of FACT_FIELDS) {
    if (facts[f] !== undefined) (out as Record<string, unknown>)[f] = facts[f];
  }
  return out;
}

function reportProbe(o: ProbeOutcome): ReportProbe {
  const p: ReportProbe = { probe: o.probe, ok: o.ok, durationMs: Math.round(o.durationMs) };
  if (o.errorKind !== undefined) p.errorKind = o.errorKind;
  if (o.status !== undefined) p.status = o.status;
  if (o.message !== undefined) p.message = o.message;
  return p;
}

export function keyReport(state: KeyState, analysis: KeyAnalysis): KeyReport {
  const r: KeyReport = {
    name: state.name,
    key: { masked: state.masked, fingerprint: state.fingerprint },
    provider: { claimed: state.claimedProvider, detected: state.provider },
    facts: pickFacts(state.facts),
    probes: Object.values(state.probes)
      .filter((o): o is ProbeOutcome => o !== undefined)
      .map(reportProbe),
    limits: analysis.limitMatrix,
    models: analysis.modelMatrix,
    burnRates: analysis.burnRates,
    exhaustion: analysis.exhaustion,
    stability: analysis.stability,
    risk: analysis.risk,
    readiness: analysis.readiness,
  };
  if (state.lastRunAt !== undefined) r.lastRunAt = new Date(state.lastRunAt).toISOString();
  if (state.facts.identity !== undefined) r.identity = state.facts.identity;
  return r;
}

/** The worst verdict's exit code; no keys = 0. */
export function worstExitCode(reports: readonly { readiness: Readiness }[]): ExitCode {
  return reports.reduce<ExitCode>((worst, r) => Math.max(worst, exitCodeFor(r.readiness.verdict)) as ExitCode, 0);
}

// ---------------------------------------------------------------- text

const n = (v: number): string => String(Number(v.toPrecision(6)));
const pct = (v: number): string => `${Number((v * 100).toPrecision(3))}%`;
const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

function row(label: string, text: string): string {
  return `${label.padEnd(11)}${text}`;
}

function more(lines: string[]): string[] {
  return lines.map((l, i) => (i === 0 ? l : `${' '.repeat(11)}${l}`));
}

function limitLine(r: LimitMatrixRow): string {
  const name = r.dimension.padEnd(14);
  let text: string;
  if (r.dimension === 'balance') text = `${n(r.remaining ?? 0)} ${r.unit}`;
  else if (r.limit === null) text = `unlimited (${r.unit})`;
  else if (typeof r.limit === 'number' && typeof r.remaining === 'number') {
    text = `${n(r.remaining)} of ${n(r.limit)} ${r.unit} left (${pct(r.limit > 0 ? r.remaining / r.limit : 0)})`;
  } else if (typeof r.remaining === 'number') text = `${n(r.remaining)} ${r.unit} left`;
  else if (typeof r.limit === 'number') text = `limit ${n(r.limit)} ${r.unit}`;
  else text = `unknown (${r.unit})`;
  if (r.reset) text += `, resets ${r.reset}`;
  if (r.resetAt !== undefined) text += ` (${iso(r.resetAt)})`;
  return `${name}${text}`;
}

function usageLine(f: ReportFacts): string | undefined {
  const u = f.usage;
  if (u === undefined) return undefined;
  const cur = f.currency ?? '';
  const parts: string[] = [];
  if (u.total !== undefined) parts.push(`total ${n(u.total)}`);
  if (u.daily !== undefined) parts.push(`today ${n(u.daily)}`);
  if (u.weekly !== undefined) parts.push(`this week ${n(u.weekly)}`);
  if (u.monthly !== undefined) parts.push(`this month ${n(u.monthly)}`);
  return parts.length > 0 ? `${parts.join(', ')} ${cur}`.trim() : undefined;
}

const MARK = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** A key's judgement as text, for people. */
export function formatKeyReport(r: KeyReport, title: string, extra: { identity?: string } = {}): string {
  const lines: string[] = [title];
  const f = r.facts;
  let provider = r.provider.detected;
  if (r.provider.claimed !== r.provider.detected) provider += ` (configured: ${r.provider.claimed})`;
  if (r.identity) provider += `, identity ${pct(r.identity.confidence)} certain${r.identity.account ? `, account ${r.identity.account}` : ''}`;
  lines.push(row('key', `${r.key.masked} (fingerprint ${r.key.fingerprint})`));
  lines.push(row('provider', provider));
  if (extra.identity) lines.push(row('identity', extra.identity));
  if (r.lastRunAt) lines.push(row('probed', r.lastRunAt));
  const validity = f.valid === true ? 'yes' : f.valid === false ? `NO (${f.validity ?? 'refused'})` : 'unknown';
  lines.push(row('valid', validity + (f.isManagementKey ? ', management key' : '') + (f.isFreeTier ? ', free tier' : '')));
  if (f.expiresAt !== undefined) lines.push(row('expires', f.expiresAt === null ? 'never' : iso(f.expiresAt)));
  const usage = usageLine(f);
  if (usage) lines.push(row('usage', usage));
  if (r.limits.length > 0) lines.push(...more(r.limits.map(limitLine)).map((l, i) => (i === 0 ? row('limits', l) : l)));
  if (r.models.count !== undefined || r.models.rows.length > 0) {
    const head = `${r.models.count ?? '?'} available${r.models.rows.length > 0 ? '; watched:' : ''}`;
    const rows = r.models.rows.map(
      (m) => `  ${m.model.padEnd(32)} ${m.access ? 'yes' : 'NO '}  ${m.access ? (m.pricingKnown ? 'priced' : 'price unknown') : ''}`.trimEnd(),
    );
    lines.push(...more([head, ...rows]).map((l, i) => (i === 0 ? row('models', l) : l)));
  }
  const burn = r.burnRates.map((b) => `${b.window} ${n(b.perHour)} ${b.currency}/h (${b.source}, ${formatDuration(b.spanMs)} covered)`);
  lines.push(row('burn', burn.length > 0 ? burn.join('; ') : 'no spend observed yet'));
  const ex = r.exhaustion;
  lines.push(row('runway', `${ex.note}${ex.confidence !== 'none' ? ` [${ex.confidence} confidence]` : ''}`));
  const st = r.stability;
  lines.push(
    row(
      'stability',
      st.samples === 0
        ? 'no runs in the window'
        : `${pct(st.ratio)} of ${st.samples} run${st.samples === 1 ? '' : 's'} over ${formatDuration(st.windowMs)}` +
            (st.p50Ms !== undefined ? `, p50 ${Math.round(st.p50Ms)} ms, p95 ${Math.round(st.p95Ms ?? st.p50Ms)} ms` : '') +
            (st.consecutiveFailures > 0 ? `, ${st.consecutiveFailures} failing in a row` : '') +
            (Object.keys(st.failures).length > 0 ? `, failures ${Object.entries(st.failures).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''),
    ),
  );
  const failed = r.probes.filter((p) => !p.ok);
  if (failed.length > 0) {
    lines.push(
      ...more(failed.map((p) => `${p.probe}: ${p.errorKind ?? 'failed'}${p.status ? ` (HTTP ${p.status})` : ''}${p.message ? ` ${p.message}` : ''}`)).map(
        (l, i) => (i === 0 ? row('probe errs', l) : l),
      ),
    );
  }
  const risks = r.risk.reasons.map((x) => `${x.code}: ${x.message}`);
  lines.push(...more([`${n(r.risk.score)}`, ...risks.map((x) => `  ${x}`)]).map((l, i) => (i === 0 ? row('risk', l) : l)));
  lines.push(row('verdict', r.readiness.verdict.toUpperCase()));
  for (const c of r.readiness.checks ?? []) lines.push(row('', `${MARK[c.status]} ${c.check.padEnd(15)}${c.detail}`));
  if (r.readiness.nextActions.length > 0) {
    lines.push(...more(r.readiness.nextActions.map((a) => `${a.action}: ${a.detail}`)).map((l, i) => (i === 0 ? row('next', l) : l)));
  }
  return lines.join('\n');
}
