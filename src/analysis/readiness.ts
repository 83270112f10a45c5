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
  /** Empty while only statuses are judged (see readiness). */
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

/**
 * The verdict at once; the checks' texts, reasons and next actions when first read (then kept).
 * The daemon judges every key on every run but reads those texts only to answer the API, write
 * the key's state or print a report: built each run they were most of judging's cost (their
 * numbers formatted into ~10 strings a run). The checks run twice in that case, the second time
 * writing their texts; they are pure functions of `input`, so both passes agree.
 */
export function readiness(input: ReadinessInput): Readiness {
  let worst = 'pass' as CheckStatus;
  const status: Record_ = (_check, findings) => {
    for (const f of findings) if (f.status === 'fail' || (f.status === 'warn' && worst === 'pass')) worst = f.status;
  };
  runChecks(input, false, status);
  const verdict = worst === 'fail' ? 'blocked' : worst === 'warn' ? 'review' : 'ready';
  let texts: Omit<Readiness, 'verdict'> | undefined;
  const read = (): Omit<Readiness, 'verdict'> => (texts ??= describe(input, verdict));
  return {
    verdict,
    get reasons() {
      return read().reasons;
    },
    get nextActions() {
      return read().nextActions;
    },
    get checks() {
      return read().checks;
    },
  };
}

/** Each check in order, writing its texts when `text` (else its details are empty strings). */
function runChecks(input: ReadinessInput, text: boolean, record: Record_): void {
  providerCheck(input, text, record);
  validityCheck(input, text, record);
  identityCheck(input, text, record);
  expiryCheck(input, text, record);
  runwayCheck(input, text, record);
  headroomCheck(input, text, record);
  modelsCheck(input, text, record);
  stabilityCheck(input, text, record);
}

/** The texts of a readiness whose verdict is known. */
function describe(input: ReadinessInput, verdict: Readiness['verdict']): Omit<Readiness, 'verdict'> {
  const checks: ReadinessCheck[] = [];
  let actions: Map<NextAction, string[]> | undefined;
  runChecks(input, true, (check, findings, passDetail) => {
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
  });
  return {
    reasons: verdict !== 'ready' ? checks.filter((c) => c.status !== 'pass').map((c) => `${c.check}: ${c.detail}`) : (NONE as never[]),
    nextActions: actions !== undefined ? [...actions].map(([action, details]) => ({ action, detail: details.join('; ') })) : (NONE as never[]),
    checks,
  };
}

type Record_ = (check: string, findings: readonly Finding[], passDetail: string) => void;

/* Each check takes `text`: false while only statuses are judged, when every detail is ''. */

function providerCheck({ state }: ReadinessInput, text: boolean, record: Record_): void {
  const unresolved = UNRESOLVED_PROVIDERS.has(state.provider);
  record(
    'provider',
    unresolved
      ? [{ status: 'warn', detail: text ? `provider not identified (configured as "${state.claimedProvider}")` : '', action: 'add_provider_config' }]
      : NONE,
    text ? `answered as ${state.provider}` : '',
  );
}

function validityCheck({ facts, state, historySamples, now }: ReadinessInput, text: boolean, record: Record_): void {
  const expired = typeof facts.expiresAt === 'number' && facts.expiresAt * 1000 <= now;
  let finding: Finding | undefined;
  if (facts.valid === false || facts.disabled === true || expired) {
    const why = facts.validity ?? (facts.disabled ? 'disabled' : expired ? 'expired' : 'refused');
    finding = { status: 'fail', detail: text ? `the provider refuses the key (${why}); replace or re-issue it` : '', action: 'send_to_human_review' };
  } else if (facts.valid === undefined) {
    const never = state.lastRunAt === undefined && historySamples === 0;
    finding = {
      status: 'warn',
      detail: never ? 'never probed: validity unknown' : 'validity unknown: no probe has answered yet',
      action: 'add_monitoring',
    };
  }
  record('key_valid', finding !== undefined ? [finding] : NONE, 'the provider accepts the key');

  record(
    'key_type',
    facts.isManagementKey === true
      ? [{ status: 'warn', detail: 'a management key: use an ordinary key for traffic, keep this one for administration', action: 'send_to_human_review' }]
      : NONE,
    'ordinary key',
  );
}

function identityCheck({ facts, state }: ReadinessInput, text: boolean, record: Record_): void {
  const id = facts.identity;
  let finding: Finding | undefined;
  if (id !== undefined && !id.matchesClaim) {
    finding = {
      status: 'warn',
      detail: text ? `answers as ${id.provider} (${pct(id.confidence)} certain), configured as ${state.claimedProvider}` : '',
      action: 'send_to_human_review',
    };
  } else if (id !== undefined && id.confidence < IDENTITY_CONFIDENCE_MIN) {
    finding = {
      status: 'warn',
      detail: text ? `identity as ${id.provider} only ${pct(id.confidence)} certain (< ${pct(IDENTITY_CONFIDENCE_MIN)})` : '',
      action: 'send_to_human_review',
    };
  }
  const pass = !text
    ? ''
    : id !== undefined
      ? `${id.provider}, ${pct(id.confidence)} certain${id.account ? `, account ${id.account}` : ''}`
      : `not independently verified; the ${state.provider} API answered`;
  record('identity', finding !== undefined ? [finding] : NONE, pass);
}

function expiryCheck({ facts, readinessHorizonMs, now }: ReadinessInput, text: boolean, record: Record_): void {
  const at = typeof facts.expiresAt === 'number' ? facts.expiresAt * 1000 : undefined;
  const findings: readonly Finding[] =
    at !== undefined && at > now && at - now < readinessHorizonMs
      ? [
          {
            status: 'warn',
            detail: text ? `expires in ${formatDuration(at - now)} (< horizon ${formatDuration(readinessHorizonMs)})` : '',
            action: 'send_to_human_review',
          },
        ]
      : NONE;
  record('expiry', findings, at === undefined ? 'no expiry' : text ? `expires ${new Date(at).toISOString()}` : '');
}

function runwayCheck({ exhaustion: ex, readinessHorizonMs }: ReadinessInput, text: boolean, record: Record_): void {
  let finding: Finding | undefined;
  if (ex.seconds === 0) {
    finding = { status: 'fail', detail: text ? `${ex.against ?? 'limit'} used up; raise the limit or add credit` : '', action: 'send_to_human_review' };
  } else if (ex.seconds !== undefined && ex.seconds * 1000 < readinessHorizonMs) {
    finding = {
      status: 'warn',
      detail: text
        ? `${ex.against} runs out in ${formatDuration(ex.seconds * 1000)} (< horizon ${formatDuration(readinessHorizonMs)}) at ${fmt(ex.perHour ?? 0)}/h, ${ex.confidence} confidence`
        : '',
      action: 'send_to_human_review',
    };
  } else if (ex.nextPeriodSeconds !== undefined && ex.nextPeriodSeconds * 1000 < readinessHorizonMs) {
    finding = {
      status: 'warn',
      detail: text
        ? `the limit resets first, but at ${fmt(ex.perHour ?? 0)}/h runs out within the next period (in ${formatDuration(ex.nextPeriodSeconds * 1000)})`
        : '',
      action: 'send_to_human_review',
    };
  }
  const pass = !text
    ? ''
    : ex.seconds !== undefined
      ? `${ex.against} lasts ${formatDuration(ex.seconds * 1000)} (>= horizon ${formatDuration(readinessHorizonMs)}), ${ex.confidence} confidence`
      : ex.note;
  record('runway', finding !== undefined ? [finding] : NONE, pass);
}

function headroomCheck({ money, facts, thresholds: t }: ReadinessInput, text: boolean, record: Record_): void {
  const findings: Finding[] = [];
  const parts: string[] = [];
  if (typeof money.limit === 'number' && typeof money.limitRemaining === 'number') {
    const ratio = money.limit > 0 ? money.limitRemaining / money.limit : 0;
    const line = text ? `${fmt(money.limitRemaining)} of ${fmt(money.limit)} ${money.currency} left (${pct(ratio)})` : '';
    if (money.limitRemaining <= 0) {
      findings.push({ status: 'fail', detail: text ? `spend limit used up: ${line}` : '', action: 'send_to_human_review' });
    } else if (ratio < t.limitRemainingRatioBelow || (t.limitRemainingBelow !== undefined && money.limitRemaining < t.limitRemainingBelow)) {
      findings.push({
        status: 'warn',
        detail: text
          ? `spend limit nearly used: ${line}, threshold ${pct(t.limitRemainingRatioBelow)}${t.limitRemainingBelow !== undefined ? ` or ${fmt(t.limitRemainingBelow)} ${money.currency}` : ''}`
          : '',
        action: 'send_to_human_review',
      });
    }
    if (text) parts.push(`spend limit ${line}`);
  } else if (money.limit === null && text) parts.push('no spend limit');
  if (typeof money.balance === 'number') {
    const line = text ? `balance ${fmt(money.balance)} ${money.balanceCurrency}` : '';
    if (money.balance <= 0) findings.push({ status: 'fail', detail: text ? `${line}: no credit left` : '', action: 'send_to_human_review' });
    else if (t.balanceBelow !== undefined && money.balance < t.balanceBelow) {
      findings.push({ status: 'warn', detail: text ? `${line} < ${fmt(t.balanceBelow)}` : '', action: 'send_to_human_review' });
    }
    if (text) parts.push(line);
  }
  const rateLimits = facts.rateLimits;
  for (const dim in rateLimits) {
    const w = rateLimits[dim]!;
    if (typeof w.limit !== 'number' || typeof w.remaining !== 'number' || w.limit <= 0) continue;
    const ratio = w.remaining / w.limit;
    if (ratio < t.limitRemainingRatioBelow) {
      findings.push({
        status: 'warn',
        detail: text ? `${dim} rate limit: ${fmt(w.remaining)} of ${fmt(w.limit)} left (${pct(ratio)})` : '',
        action: 'send_to_human_review',
      });
    }
    if (text) parts.push(`${dim} ${fmt(w.remaining)}/${fmt(w.limit)}`);
  }
  record('limit_headroom', findings, !text ? '' : parts.length > 0 ? parts.join(', ') : 'no limits reported');
}

function modelsCheck({ state, facts, models }: ReadinessInput, text: boolean, record: Record_): void {
  if (state.watchModels.length === 0) {
    record('models', NONE, facts.models ? (text ? `${facts.models.count} models available; none watched` : '') : 'no watched models');
    return;
  }
  const findings: Finding[] = [];
  if (facts.models === undefined) {
    findings.push({
      status: 'warn',
      detail: text ? `model list unknown: cannot confirm ${state.watchModels.join(', ')}` : '',
      action: 'import_inventory',
    });
  } else {
    for (const row of models.rows) {
      if (!row.access) {
        findings.push({ status: 'warn', detail: text ? `${row.model} is not available to this key` : '', action: 'set_route' });
      } else if (row.pricingKnown !== true) {
        findings.push({ status: 'warn', detail: text ? `${row.model} has no known price` : '', action: 'fill_pricing' });
      }
    }
  }
  const ok = text ? models.rows.filter((r) => r.access).length : 0;
  record('models', findings, text ? `${ok}/${state.watchModels.length} watched models available and priced (${models.count ?? '?'} in all)` : '');
}

function stabilityCheck({ stability: st, thresholds: t, facts }: ReadinessInput, text: boolean, record: Record_): void {
  const findings: Finding[] = [];
  const window = text ? formatDuration(st.windowMs) : '';
  // A refused key fails every run; key_valid already says so.
  const refused = facts.valid === false;
  if (!refused && st.samples >= MIN_STABILITY_RUNS && st.ratio < t.stabilityBelow) {
    findings.push({
      status: 'warn',
      detail: text ? `${pct(st.ratio)} of ${st.samples} runs succeeded over ${window} (< ${pct(t.stabilityBelow)})` : '',
      action: 'send_to_human_review',
    });
  }
  if (!refused && st.consecutiveFailures >= t.probeFailures) {
    findings.push({ status: 'warn', detail: text ? `last ${st.consecutiveFailures} probe runs failed` : '', action: 'send_to_human_review' });
  }
  if ((st.failures.unknown_shape ?? 0) > 0) {
    findings.push({
      status: 'warn',
      detail: text ? `${st.failures.unknown_shape} answers of unexpected shape over ${window}: possible provider API change` : '',
      action: 'send_to_human_review',
    });
  }
  const pass = !text
    ? ''
    : st.samples < MIN_STABILITY_RUNS
      ? `${st.samples} run${st.samples === 1 ? '' : 's'} over ${window}: too few to judge`
      : `${pct(st.ratio)} of ${st.samples} runs over ${window}${st.p95Ms !== undefined ? `, p95 ${Math.round(st.p95Ms)} ms` : ''}`;
  record('stability', findings, pass);
}
