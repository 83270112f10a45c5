/**
 * The nine rules, as pure functions of a key's state: each says whether its condition holds
 * (`breach`), whether the value is far enough back on the good side to resolve (`clear`, the
 * hysteresis line), or that it cannot tell (both undefined: missing data never resolves an alert).
 */
import { RULE_NAMES, type Thresholds } from '../config/schema.js';
import { formatDuration } from '../config/duration.js';
import type { KeyState } from '../state.js';
import type { RuleName, Severity } from './types.js';

/** The rule names, in the order rules are evaluated (the config's enum: one list). */
export const RULES: readonly RuleName[] = RULE_NAMES;

export const DEFAULT_SEVERITIES: Record<RuleName, Severity> = {
  key_invalid: 'critical',
  limit_remaining_low: 'warning',
  balance_low: 'warning',
  exhaustion_soon: 'warning',
  stability_degraded: 'warning',
  probe_failing: 'warning',
  identity_changed: 'critical',
  model_access_lost: 'warning',
  key_expiring: 'warning',
};

/** While a key is refused, these say nothing new: they are inhibited by key_invalid. */
export const INHIBITED_BY_INVALID: ReadonlySet<RuleName> = new Set<RuleName>([
  'limit_remaining_low',
  'balance_low',
  'exhaustion_soon',
  'stability_degraded',
  'probe_failing',
  'model_access_lost',
]);

export const DEFAULT_PROBE_FAILURES = 3;
export const DEFAULT_EXPIRING_WITHIN_MS = 7 * 86_400_000;
export const DEFAULT_HYSTERESIS = 0.1;
/** identity_changed stays firing this long after the change, then resolves on its own. */
export const IDENTITY_CHANGE_HOLD_MS = 24 * 3_600_000;

export type Unit = 'money' | 'seconds' | 'ratio' | 'count' | 'text';

export interface Observation {
  rule: RuleName;
  /** The condition holds now. undefined = cannot tell (keep the current state). */
  breach?: boolean;
  /** Past the recovery line: a firing alert may resolve. */
  clear?: boolean;
  value?: number | string;
  threshold?: number | string;
  unit: Unit;
  currency?: string;
  summary: string;
}

/** What alerting remembers about a key between runs (persisted), for the change-detecting rules. */
export interface KeyMemory {
  provider?: string;
  previousProvider?: string;
  providerChangedAt?: number;
  /** Watched models this key has been seen to have access to. */
  hadAccess: string[];
}

export function emptyMemory(): KeyMemory {
  return { hadAccess: [] };
}

/**
 * Folds this run's facts into the memory; returns the new memory (the input is not changed), or
 * `prev` itself when this run changes nothing (most runs: no copy to build and compare).
 */
export function updateMemory(prev: KeyMemory, state: KeyState, now: number): KeyMemory {
  if (!memoryMoves(prev, state)) return prev;
  const next: KeyMemory = { ...prev, hadAccess: [...prev.hadAccess] };
  const provider = state.facts.identity?.provider;
  if (provider !== undefined && provider !== prev.provider) {
    if (prev.provider !== undefined) {
      next.previousProvider = prev.provider;
      next.providerChangedAt = now;
    }
    next.provider = provider;
  }
  const access = state.facts.models?.access;
  const watched = new Set(state.watchModels);
  next.hadAccess = next.hadAccess.filter((m) => watched.has(m));
  if (access) {
    for (const m of state.watchModels) {
      if (access[m] === true && !next.hadAccess.includes(m)) next.hadAccess.push(m);
    }
  }
  return next;
}

/** Whether updateMemory would change anything: a new provider, a watched model gained or unwatched. */
function memoryMoves(prev: KeyMemory, state: KeyState): boolean {
  const provider = state.facts.identity?.provider;
  if (provider !== undefined && provider !== prev.provider) return true;
  for (const m of prev.hadAccess) if (!state.watchModels.includes(m)) return true;
  const access = state.facts.models?.access;
  if (access) {
    for (const m of state.watchModels) if (access[m] === true && !prev.hadAccess.includes(m)) return true;
  }
  return false;
}

export interface RuleContext {
  state: KeyState;
  thresholds: Thresholds;
  /** Memory BEFORE this run's facts were folded in. */
  memory: KeyMemory;
  now: number;
}

export function observe(ctx: RuleContext): Observation[] {
  return RULES.map((rule) => OBSERVERS[rule](ctx, true)!);
}

/**
 * One rule's observation. With `full` false the caller only needs it when the condition holds (an
 * alert with no record that does not breach has nothing to step): undefined is returned then, before
 * the summary and the object are built (evaluate() runs 9 rules after every key run; most never hold).
 */
export function observeRule(rule: RuleName, ctx: RuleContext, full: boolean): Observation | undefined {
  return OBSERVERS[rule](ctx, full);
}

/** key_invalid's breach, without building its observation (evaluate() needs it for inhibition). */
export function keyInvalid(state: KeyState): boolean {
  return state.facts.valid === false;
}

const OBSERVERS: Record<RuleName, (ctx: RuleContext, full: boolean) => Observation | undefined> = {
  key_invalid: ({ state }, full) => {
    const valid = state.facts.valid;
    if (!full && valid !== false) return undefined;
    const why = state.facts.validity ?? 'rejected';
    return {
      rule: 'key_invalid',
      ...(valid === undefined ? {} : { breach: !valid, clear: valid }),
      value: valid === false ? why : 'valid',
      unit: 'text',
      summary: valid === false ? `key ${state.name} is invalid (${why})` : `key ${state.name} is valid`,
    };
  },

  limit_remaining_low: ({ state, thresholds }, full) => {
    const abs = thresholds.limitRemainingBelow;
    const ratio = thresholds.limitRemainingRatioBelow;
    const { limit, limitRemaining } = state.facts;
    // Every early return below is no breach; past them the breach needs a number under the line.
    if (!full && (abs === undefined && ratio === undefined || limit === null || typeof limitRemaining !== 'number')) return undefined;
    const base = { rule: 'limit_remaining_low' as const, unit: 'money' as const, currency: state.facts.currency };
    if (abs === undefined && ratio === undefined) return { ...base, breach: false, clear: true, summary: 'no limit threshold set' };
    if (limit === null) return { ...base, breach: false, clear: true, summary: `key ${state.name} has no spend limit` };
    if (typeof limitRemaining !== 'number') return { ...base, summary: 'limit remaining unknown' };
    // One effective line: the larger of the absolute floor and the ratio of the limit.
    const fromRatio = ratio !== undefined && typeof limit === 'number' && limit > 0 ? ratio * limit : undefined;
    const line = Math.max(abs ?? -Infinity, fromRatio ?? -Infinity);
    if (!full && !(limitRemaining < line)) return undefined;
    if (!Number.isFinite(line)) return { ...base, summary: 'limit unknown' };
    const h = hysteresisOf(thresholds);
    const cur = state.facts.currency ?? '';
    return {
      ...base,
      breach: limitRemaining < line,
      clear: limitRemaining >= line * (1 + h),
      value: round(limitRemaining),
      threshold: round(line),
      summary: `limit remaining ${money(limitRemaining, cur)} ${limitRemaining < line ? 'is below' : 'vs'} ${money(line, cur)}${
        typeof limit === 'number' ? ` (limit ${money(limit, cur)})` : ''
      }`,
    };
  },

  balance_low: ({ state, thresholds }, full) => {
    const below = thresholds.balanceBelow;
    if (!full && (below === undefined || !(typeof state.facts.balance === 'number' && state.facts.balance < below))) return undefined;
    const cur = state.facts.balanceCurrency ?? state.facts.currency ?? '';
    const base = { rule: 'balance_low' as const, unit: 'money' as const, currency: cur || undefined };
    if (below === undefined) return { ...base, breach: false, clear: true, summary: 'no balance threshold set' };
    const balance = state.facts.balance;
    if (typeof balance !== 'number') return { ...base, summary: 'balance unknown' };
    return {
      ...base,
      breach: balance < below,
      clear: balance >= below * (1 + hysteresisOf(thresholds)),
      value: round(balance),
      threshold: below,
      summary: `balance ${money(balance, cur)} ${balance < below ? 'is below' : 'vs'} ${money(below, cur)}`,
    };
  },

  exhaustion_soon: ({ state, thresholds }, full) => {
    const within = thresholds.exhaustionWithin;
    const ex = state.analysis?.exhaustion;
    if (!full && !(within !== undefined && ex !== undefined && ex.seconds !== undefined && !ex.resetsFirst && ex.seconds < within / 1000 && ex.confidence !== 'none')) {
      return undefined;
    }
    const base = { rule: 'exhaustion_soon' as const, unit: 'seconds' as const };
    if (within === undefined) return { ...base, breach: false, clear: true, summary: 'no exhaustion threshold set' };
    if (ex === undefined) return { ...base, summary: 'exhaustion not analysed yet' };
    const line = within / 1000;
    // Not burning, or the limit resets before it runs out: nothing will run dry.
    if (ex.seconds === undefined || ex.resetsFirst) {
      return { ...base, breach: false, clear: true, threshold: line, summary: ex.note || 'not running out' };
    }
    return {
      ...base,
      breach: ex.seconds < line && ex.confidence !== 'none',
      clear: ex.seconds >= line * (1 + hysteresisOf(thresholds)),
      value: Math.round(ex.seconds),
      threshold: line,
      summary: `${ex.against ?? 'budget'} runs out in ${formatDuration(ex.seconds * 1000)} at the current burn rate (alert within ${formatDuration(within)})`,
    };
  },

  stability_degraded: ({ state, thresholds }, full) => {
    const below = thresholds.stabilityBelow;
    const st = state.analysis?.stability;
    if (!full && !(below !== undefined && st !== undefined && st.ratio < below)) return undefined;
    const base = { rule: 'stability_degraded' as const, unit: 'ratio' as const };
    if (below === undefined) return { ...base, breach: false, clear: true, summary: 'no stability threshold set' };
    if (st === undefined) return { ...base, summary: 'stability not analysed yet' };
    // A ratio cannot exceed 1, so the recovery margin is a share of the room left above the line.
    const recover = below + (1 - below) * hysteresisOf(thresholds);
    return {
      ...base,
      breach: st.ratio < below,
      clear: st.ratio >= recover,
      value: round(st.ratio, 4),
      threshold: below,
      summary: `probe success ${pct(st.ratio)} over ${formatDuration(st.windowMs)} ${st.ratio < below ? 'is below' : 'vs'} ${pct(below)}`,
    };
  },

  probe_failing: ({ state, thresholds }, full) => {
    const n = thresholds.probeFailures ?? DEFAULT_PROBE_FAILURES;
    const f = state.consecutiveFailures;
    if (!full && !(f >= n)) return undefined;
    return {
      rule: 'probe_failing',
      breach: f >= n,
      // Resolves on the first fully successful run, not on a lower failure count.
      clear: f === 0,
      value: f,
      threshold: n,
      unit: 'count',
      summary: `${f} consecutive failed probe runs (alert at ${n})`,
    };
  },

  identity_changed: ({ state, memory, now }, full) => {
    const current = state.facts.identity?.provider;
    // The usual run: the key answers as it always did and never changed (no breach possible).
    if (!full && (current === undefined || (memory.provider === current && memory.providerChangedAt === undefined))) return undefined;
    const base = { rule: 'identity_changed' as const, unit: 'text' as const };
    if (current === undefined) return { ...base, summary: 'identity unknown' };
    let from: string | undefined;
    let at: number | undefined;
    if (memory.provider !== undefined && memory.provider !== current) {
      from = memory.provider;
      at = now;
    } else if (memory.providerChangedAt !== undefined && memory.provider === current) {
      from = memory.previousProvider;
      at = memory.providerChangedAt;
    }
    const active = from !== undefined && at !== undefined && now - at < IDENTITY_CHANGE_HOLD_MS;
    if (!full && !active) return undefined;
    return {
      ...base,
      breach: active,
      clear: !active,
      value: current,
      ...(from !== undefined ? { threshold: from } : {}),
      summary: active ? `key ${state.name} now answers as ${current} (was ${from})` : `key ${state.name} answers as ${current}`,
    };
  },

  model_access_lost: ({ state, memory }, full) => {
    const access = state.facts.models?.access;
    if (!full && (access === undefined || !memory.hadAccess.some((m) => access[m] === false && state.watchModels.includes(m)))) return undefined;
    const base = { rule: 'model_access_lost' as const, unit: 'text' as const };
    if (access === undefined) return { ...base, summary: 'model access unknown' };
    const lost = memory.hadAccess.filter((m) => state.watchModels.includes(m) && access[m] === false);
    return {
      ...base,
      breach: lost.length > 0,
      clear: lost.length === 0,
      value: lost.join(', '),
      summary: lost.length > 0 ? `lost access to ${lost.join(', ')}` : 'all watched models accessible',
    };
  },

  key_expiring: ({ state, thresholds, now }, full) => {
    const within = thresholds.expiringWithin ?? DEFAULT_EXPIRING_WITHIN_MS;
    const exp = state.facts.expiresAt;
    if (!full && !(typeof exp === 'number' && exp - now / 1000 < within / 1000)) return undefined;
    const base = { rule: 'key_expiring' as const, unit: 'seconds' as const, threshold: within / 1000 };
    if (exp === undefined) return { ...base, summary: 'expiry unknown' };
    if (exp === null) return { ...base, breach: false, clear: true, summary: 'key never expires' };
    const left = exp - now / 1000;
    return {
      ...base,
      breach: left < within / 1000,
      clear: left >= (within / 1000) * (1 + hysteresisOf(thresholds)),
      value: Math.round(left),
      summary:
        left <= 0
          ? `key ${state.name} expired ${formatDuration(-left * 1000)} ago`
          : `key ${state.name} expires in ${formatDuration(left * 1000)}`,
    };
  },
};

function hysteresisOf(t: Thresholds): number {
  return t.hysteresis ?? DEFAULT_HYSTERESIS;
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function money(n: number, currency: string): string {
  return `${n.toFixed(2)}${currency ? ` ${currency}` : ''}`;
}

function pct(r: number): string {
  return `${(r * 100).toFixed(1)}%`;
}
