/**
 * Launch readiness: ready | review | blocked, from named checks that each state their numbers.
 * A `fail` blocks, a `warn` asks for review. Each non-passing check proposes one next action from
 * a fixed vocabulary:
 *
 * | situation                                              | check          | status | next action           |
 * |--------------------------------------------------------|----------------|--------|-----------------------|
 * | provider unknown / unresolved `auto`                   | provider       | warn   | add_provider_config   |
 * | never probed, validity unknown                         | key_valid      | warn   | add_monitoring        |
 * | key refused / disabled / expired                       | key_valid      | fail   | send_to_human_review  |
 * | management key where an ordinary key would do          | key_type       | warn   | send_to_human_review  |
 * | identity does not match the claim, or is doubtful      | identity       | warn   | send_to_human_review  |
 * | expires within the readiness horizon                   | expiry         | warn   | send_to_human_review  |
 * | limit or balance used up                               | runway         | fail   | send_to_human_review  |
 * | runs out within the readiness horizon / every period   | runway         | warn   | send_to_human_review  |
 * | spend limit, balance or a rate limit below threshold   | limit_headroom | warn   | send_to_human_review  |
 * | watched models but the model list is unknown           | models         | warn   | import_inventory      |
 * | a watched model is not available to the key            | models         | warn   | set_route             |
 * | a watched model's price is unknown                     | models         | warn   | fill_pricing          |
 * | success ratio below threshold / failing in a row       | stability      | warn   | send_to_human_review  |
 * | answers of unexpected shape (provider API change?)     | stability      | warn   | send_to_human_review  |
 */
import type { KeyFacts } from '../../probes/types.js';
import { formatDuration } from '../config/duration.js';
import type { KeyState } from '../state.js';
import { IDENTITY_CONFIDENCE_MIN, MIN_STABILITY_RUNS, type EffectiveThresholds } from './defaults.js';
import type { Money } from './exhaustion.js';
import type { CheckStatus, Exhaustion, ModelMatrixRow, NextAction, Readiness, ReadinessCheck, Stability } from './types.js';

export interface ReadinessInput {
  state: Pick<KeyState, 'provider' | 'claimedProvider' | 'watchModels' | 'lastRunAt'>;
  facts: KeyFacts;
  money: Money;
  exhaustion: Exhaustion;
  stability: Stability;
  models: { count?: number; rows: ModelMatrixRow[] };
  thresholds: EffectiveThresholds;
  readinessHorizonMs: number;
  historySamples: number;
  now: number;
}

/** Provider ids that mean "not identified". */
const UNRESOLVED_PROVIDERS = new Set(['', 'auto', 'unknown']);

const fmt = (v: number): string => String(Number(v.toPrecision(4)));
const pct = (v: number): string => `${fmt(v * 100)}%`;

interface Finding {
  status: CheckStatus;
  detail: string;
  action?: NextAction;
}

/** Nothing to say: shared by every run that has no reason / next action (never mutated). */
const NONE: readonly never[] = Object.freeze([]);

/** Passing checks whose text never changes: one shared object, not a new one per run. */
const PASSING = new Map<string, ReadinessCheck>();
function passing(check: string, detail: string): ReadinessCheck {
  const k = `${check}\u0000${detail}`;
  let c = PASSING.get(k);
  if (c === undefined) {
    c = Object.freeze({ check, status: 'pass' as const, detail });
    PASSING.set(k, c);
  }
  return c;
}
/** Pass texts that are constants (no numbers in them), so passing() keeps a bounded set. */
const CONSTANT_PASS = new Set(['the provider accepts the key', 'ordinary key', 'no expiry', 'no watched models']);

export function readiness(input: ReadinessInput): Readiness {
  const checks: ReadinessCheck[] = [];
  let actions: Map<NextAction, string[]> | undefined;
  const record = (check: string, findings: readonly Finding[], passDetail: string): void => {
    if (findings.length === 0) {
      checks.push(CONSTANT_PASS.has(passDetail) ? passing(check, passDetail) : { check, status: 'pass', detail: passDetail });
      return;
    }
    for (const f of findings) {
      if (f.status === 'pass') continue;
      checks.push({ check, status: f.status, detail: f.detail });
      if (f.action !== undefined) {
        actions ??= new Map();
        actions.set(f.action, [...(actions.get(f.action) ?? []), f.detail]);
      }
    }
    if (!findings.some((f) => f.status !== 'pass')) checks.push({ check, status: 'pass', detail: passDetail });
  };

  providerCheck(input, record);
  validityCheck(input, record);
  identityCheck(input, record);
  expiryCheck(input, record);
  runwayCheck(input, record);
  headroomCheck(input, record);
  modelsCheck(input, record);
  stabilityCheck(input, record);

  const verdict = checks.some((c) => c.status === 'fail') ? 'blocked' : checks.some((c) => c.status === 'warn') ? 'review' : 'ready';
  const failing = verdict !== 'ready';
  return {
    verdict,
    reasons: failing ? checks.filter((c) => c.status !== 'pass').map((c) => `${c.check}: ${c.detail}`) : (NONE as never[]),
    nextActions: actions !== undefined ? [...actions].map(([action, details]) => ({ action, detail: details.join('; ') })) : (NONE as never[]),
    checks,
  };
}

type Record_ = (check: string, findings: readonly Finding[], passDetail: string) => void;

function providerCheck({ state }: ReadinessInput, record: Record_): void {
  const unresolved = UNRESOLVED_PROVIDERS.has(state.provider);
  record(
    'provider',
    unresolved
      ? [{ status: 'warn', detail: `provider not identified (configured as "${state.claimedProvider}")`, action: 'add_provider_config' }]
      : [],
    `answered as ${state.provider}`,
  );
}

function validityCheck({ facts, state, historySamples, now }: ReadinessInput, record: Record_): void {
  const expired = typeof facts.expiresAt === 'number' && facts.expiresAt * 1000 <= now;
  const findings: Finding[] = [];
  if (facts.valid === false || facts.disabled === true || expired) {
    const why = facts.validity ?? (facts.disabled ? 'disabled' : expired ? 'expired' : 'refused');
    findings.push({ status: 'fail', detail: `the provider refuses the key (${why}); replace or re-issue it`, action: 'send_to_human_review' });
  } else if (facts.valid === undefined) {
    const never = state.lastRunAt === undefined && historySamples === 0;
    findings.push({
      status: 'warn',
      detail: never ? 'never probed: validity unknown' : 'validity unknown: no probe has answered yet',
      action: 'add_monitoring',
    });
  }
  record('key_valid', findings, 'the provider accepts the key');

  record(
    'key_type',
    facts.isManagementKey === true
      ? [{ status: 'warn', detail: 'a management key: use an ordinary key for traffic, keep this one for administration', action: 'send_to_human_review' }]
      : [],
    'ordinary key',
  );
}

function identityCheck({ facts, state }: ReadinessInput, record: Record_): void {
  const id = facts.identity;
  const findings: Finding[] = [];
  if (id !== undefined && !id.matchesClaim) {
    findings.push({
      status: 'warn',
      detail: `answers as ${id.provider} (${pct(id.confidence)} certain), configured as ${state.claimedProvider}`,
      action: 'send_to_human_review',
    });
  } else if (id !== undefined && id.confidence < IDENTITY_CONFIDENCE_MIN) {
    findings.push({
      status: 'warn',
      detail: `identity as ${id.provider} only ${pct(id.confidence)} certain (< ${pct(IDENTITY_CONFIDENCE_MIN)})`,
      action: 'send_to_human_review',
    });
  }
  const pass =
    id !== undefined
      ? `${id.provider}, ${pct(id.confidence)} certain${id.account ? `, account ${id.account}` : ''}`
      : `not independently verified; the ${state.provider} API answered`;
  record('identity', findings, pass);
}

function expiryCheck({ facts, readinessHorizonMs, now }: ReadinessInput, record: Record_): void {
  const at = typeof facts.expiresAt === 'number' ? facts.expiresAt * 1000 : undefined;
  const findings: Finding[] =
    at !== undefined && at > now && at - now < readinessHorizonMs
      ? [
          {
            status: 'warn',
            detail: `expires in ${formatDuration(at - now)} (< horizon ${formatDuration(readinessHorizonMs)})`,
            action: 'send_to_human_review',
          },
        ]
      : [];
  record('expiry', findings, at === undefined ? 'no expiry' : `expires ${new Date(at).toISOString()}`);
}

function runwayCheck({ exhaustion: ex, readinessHorizonMs }: ReadinessInput, record: Record_): void {
  const findings: Finding[] = [];
  if (ex.seconds === 0) {
    findings.push({ status: 'fail', detail: `${ex.against ?? 'limit'} used up; raise the limit or add credit`, action: 'send_to_human_review' });
  } else if (ex.seconds !== undefined && ex.seconds * 1000 < readinessHorizonMs) {
    findings.push({
      status: 'warn',
      detail: `${ex.against} runs out in ${formatDuration(ex.seconds * 1000)} (< horizon ${formatDuration(readinessHorizonMs)}) at ${fmt(ex.perHour ?? 0)}/h, ${ex.confidence} confidence`,
      action: 'send_to_human_review',
    });
  } else if (ex.nextPeriodSeconds !== undefined && ex.nextPeriodSeconds * 1000 < readinessHorizonMs) {
    findings.push({
      status: 'warn',
      detail: `the limit resets first, but at ${fmt(ex.perHour ?? 0)}/h runs out within the next period (in ${formatDuration(ex.nextPeriodSeconds * 1000)})`,
      action: 'send_to_human_review',
    });
  }
  const pass =
    ex.seconds !== undefined
      ? `${ex.against} lasts ${formatDuration(ex.seconds * 1000)} (>= horizon ${formatDuration(readinessHorizonMs)}), ${ex.confidence} confidence`
      : ex.note;
  record('runway', findings, pass);
}

function headroomCheck({ money, facts, thresholds: t }: ReadinessInput, record: Record_): void {
  const findings: Finding[] = [];
  const parts: string[] = [];
  if (typeof money.limit === 'number' && typeof money.limitRemaining === 'number') {
    const ratio = money.limit > 0 ? money.limitRemaining / money.limit : 0;
    const text = `${fmt(money.limitRemaining)} of ${fmt(money.limit)} ${money.currency} left (${pct(ratio)})`;
    if (money.limitRemaining <= 0) {
      findings.push({ status: 'fail', detail: `spend limit used up: ${text}`, action: 'send_to_human_review' });
    } else if (ratio < t.limitRemainingRatioBelow || (t.limitRemainingBelow !== undefined && money.limitRemaining < t.limitRemainingBelow)) {
      findings.push({
        status: 'warn',
        detail: `spend limit nearly used: ${text}, threshold ${pct(t.limitRemainingRatioBelow)}${t.limitRemainingBelow !== undefined ? ` or ${fmt(t.limitRemainingBelow)} ${money.currency}` : ''}`,
        action: 'send_to_human_review',
      });
    }
    parts.push(`spend limit ${text}`);
  } else if (money.limit === null) parts.push('no spend limit');
  if (typeof money.balance === 'number') {
    const text = `balance ${fmt(money.balance)} ${money.balanceCurrency}`;
    if (money.balance <= 0) findings.push({ status: 'fail', detail: `${text}: no credit left`, action: 'send_to_human_review' });
    else if (t.balanceBelow !== undefined && money.balance < t.balanceBelow) {
      findings.push({ status: 'warn', detail: `${text} < ${fmt(t.balanceBelow)}`, action: 'send_to_human_review' });
    }
    parts.push(text);
  }
  for (const [dim, w] of Object.entries(facts.rateLimits ?? {})) {
    if (typeof w.limit !== 'number' || typeof w.remaining !== 'number' || w.limit <= 0) continue;
    const ratio = w.remaining / w.limit;
    if (ratio < t.limitRemainingRatioBelow) {
      findings.push({
        status: 'warn',
        detail: `${dim} rate limit: ${fmt(w.remaining)} of ${fmt(w.limit)} left (${pct(ratio)})`,
        action: 'send_to_human_review',
      });
    }
    parts.push(`${dim} ${fmt(w.remaining)}/${fmt(w.limit)}`);
  }
  record('limit_headroom', findings, parts.length > 0 ? parts.join(', ') : 'no limits reported');
}

function modelsCheck({ state, facts, models }: ReadinessInput, record: Record_): void {
  const findings: Finding[] = [];
  if (state.watchModels.length === 0) {
    record('models', [], facts.models ? `${facts.models.count} models available; none watched` : 'no watched models');
    return;
  }
  if (facts.models === undefined) {
    findings.push({
      status: 'warn',
      detail: `model list unknown: cannot confirm ${state.watchModels.join(', ')}`,
      action: 'import_inventory',
    });
  } else {
    for (const row of models.rows) {
      if (!row.access) {
        findings.push({ status: 'warn', detail: `${row.model} is not available to this key`, action: 'set_route' });
      } else if (row.pricingKnown !== true) {
        findings.push({ status: 'warn', detail: `${row.model} has no known price`, action: 'fill_pricing' });
      }
    }
  }
  const ok = models.rows.filter((r) => r.access).length;
  record('models', findings, `${ok}/${state.watchModels.length} watched models available and priced (${models.count ?? '?'} in all)`);
}

function stabilityCheck({ stability: st, thresholds: t, facts }: ReadinessInput, record: Record_): void {
  const findings: Finding[] = [];
  const window = formatDuration(st.windowMs);
  // A refused key fails every run; key_valid already says so.
  const refused = facts.valid === false;
  if (!refused && st.samples >= MIN_STABILITY_RUNS && st.ratio < t.stabilityBelow) {
    findings.push({
      status: 'warn',
      detail: `${pct(st.ratio)} of ${st.samples} runs succeeded over ${window} (< ${pct(t.stabilityBelow)})`,
      action: 'send_to_human_review',
    });
  }
  if (!refused && st.consecutiveFailures >= t.probeFailures) {
    findings.push({ status: 'warn', detail: `last ${st.consecutiveFailures} probe runs failed`, action: 'send_to_human_review' });
  }
  if ((st.failures.unknown_shape ?? 0) > 0) {
    findings.push({
      status: 'warn',
      detail: `${st.failures.unknown_shape} answers of unexpected shape over ${window}: possible provider API change`,
      action: 'send_to_human_review',
    });
  }
  const pass =
    st.samples < MIN_STABILITY_RUNS
      ? `${st.samples} run${st.samples === 1 ? '' : 's'} over ${window}: too few to judge`
      : `${pct(st.ratio)} of ${st.samples} runs over ${window}${st.p95Ms !== undefined ? `, p95 ${Math.round(st.p95Ms)} ms` : ''}`;
  record('stability', findings, pass);
}
