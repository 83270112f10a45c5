/**
 * Risk 0..1 with the reasons behind it. Each reason has a weight (how likely it alone is to hurt);
 * they combine like independent chances, score = 1 - Π(1 - weight), so one strong reason dominates,
 * several weak ones add up, and the score never passes 1. An invalid key is 1.
 */
import type { KeyFacts } from '../../probes/types.js';
import { formatDuration } from '../config/duration.js';
import { IDENTITY_CONFIDENCE_MIN, MIN_STABILITY_RUNS, type EffectiveThresholds } from './defaults.js';
import type { Money } from './exhaustion.js';
import type { Exhaustion, Risk, RiskReason, Stability } from './types.js';

export const RISK_WEIGHTS = {
  invalid: 1,
  limit_exhausted: 0.8,
  balance_exhausted: 0.8,
  short_runway: 0.5,
  near_limit: 0.4,
  low_balance: 0.4,
  expiring_soon: 0.4,
  identity_doubtful: 0.4,
  unstable: 0.3,
  probe_failing: 0.3,
  quota_errors: 0.3,
  management_key: 0.3,
  runway_below_horizon: 0.2,
  no_spend_limit: 0.2,
  provider_api_change: 0.2,
  free_tier: 0.15,
} as const;

export type RiskCode = keyof typeof RISK_WEIGHTS;

export interface RiskInput {
  facts: KeyFacts;
  money: Money;
  exhaustion: Exhaustion;
  stability: Stability;
  thresholds: EffectiveThresholds;
  readinessHorizonMs: number;
  now: number;
}

const fmt = (v: number): string => String(Number(v.toPrecision(4)));
const pct = (v: number): string => `${fmt(v * 100)}%`;

export function risk(input: RiskInput): Risk {
  const { facts, money, exhaustion: ex, stability: st, thresholds: t, now } = input;
  const reasons: RiskReason[] = [];
  const add = (code: RiskCode, message: string): void => void reasons.push({ code, message, weight: RISK_WEIGHTS[code] });

  const expired = typeof facts.expiresAt === 'number' && facts.expiresAt * 1000 <= now;
  if (facts.valid === false || facts.disabled === true || expired) {
    const why = facts.validity ?? (facts.disabled ? 'disabled' : expired ? 'expired' : 'refused');
    add('invalid', `the provider refuses the key (${why})`);
  }

  if (typeof money.limitRemaining === 'number' && typeof money.limit === 'number') {
    const ratio = money.limit > 0 ? money.limitRemaining / money.limit : 0;
    if (money.limitRemaining <= 0) {
      add('limit_exhausted', `spend limit used up: ${fmt(money.limitRemaining)} of ${fmt(money.limit)} ${money.currency} left`);
    } else if (ratio < t.limitRemainingRatioBelow || (t.limitRemainingBelow !== undefined && money.limitRemaining < t.limitRemainingBelow)) {
      add(
        'near_limit',
        `${fmt(money.limitRemaining)} of ${fmt(money.limit)} ${money.currency} left (${pct(ratio)}; threshold ${pct(t.limitRemainingRatioBelow)}` +
          `${t.limitRemainingBelow !== undefined ? ` or ${fmt(t.limitRemainingBelow)} ${money.currency}` : ''})`,
      );
    }
  } else if (money.limit === null) {
    add('no_spend_limit', 'no spend limit: a leaked key or a runaway loop can spend without bound');
  }

  if (typeof money.balance === 'number') {
    if (money.balance <= 0) add('balance_exhausted', `account balance is ${fmt(money.balance)} ${money.balanceCurrency}`);
    else if (t.balanceBelow !== undefined && money.balance < t.balanceBelow) {
      add('low_balance', `balance ${fmt(money.balance)} ${money.balanceCurrency} < ${fmt(t.balanceBelow)}`);
    }
  }

  if (ex.seconds !== undefined && ex.seconds > 0) {
    const ms = ex.seconds * 1000;
    if (ms < t.exhaustionWithinMs) {
      add('short_runway', `${ex.against ?? 'limit'} runs out in ${formatDuration(ms)} (< ${formatDuration(t.exhaustionWithinMs)})`);
    } else if (ms < input.readinessHorizonMs) {
      add('runway_below_horizon', `${ex.against ?? 'limit'} runs out in ${formatDuration(ms)} (< horizon ${formatDuration(input.readinessHorizonMs)})`);
    }
  }

  // A refused key fails every run: that is the `invalid` reason, not instability on top of it.
  const refused = reasons.some((r) => r.code === 'invalid');
  if (!refused && st.samples >= MIN_STABILITY_RUNS && st.ratio < t.stabilityBelow) {
    add('unstable', `${pct(st.ratio)} of ${st.samples} probe runs succeeded over ${formatDuration(st.windowMs)} (< ${pct(t.stabilityBelow)})`);
  }
  if (!refused && st.consecutiveFailures >= t.probeFailures) {
    add('probe_failing', `${st.consecutiveFailures} probe runs failed in a row (threshold ${t.probeFailures})`);
  }
  if ((st.failures.quota ?? 0) > 0) add('quota_errors', `${st.failures.quota} runs hit a quota / insufficient-credit error`);
  if ((st.failures.unknown_shape ?? 0) > 0) {
    add('provider_api_change', `${st.failures.unknown_shape} answers had an unexpected shape: the provider API may have changed`);
  }

  if (typeof facts.expiresAt === 'number' && !expired && facts.expiresAt * 1000 - now <= t.expiringWithinMs) {
    add('expiring_soon', `key expires in ${formatDuration(facts.expiresAt * 1000 - now)} (${new Date(facts.expiresAt * 1000).toISOString()})`);
  }

  const id = facts.identity;
  if (id !== undefined && (!id.matchesClaim || id.confidence < IDENTITY_CONFIDENCE_MIN)) {
    add(
      'identity_doubtful',
      id.matchesClaim
        ? `identity as ${id.provider} only ${pct(id.confidence)} certain`
        : `answers as ${id.provider} (${pct(id.confidence)} certain), not the configured provider`,
    );
  }
  if (facts.isManagementKey === true) {
    add('management_key', 'a management key (it can create and delete keys) is used where an ordinary key would do');
  }
  if (facts.isFreeTier === true) add('free_tier', 'free-tier key: low request caps, no paid credit behind it');

  reasons.sort((a, b) => b.weight - a.weight);
  const score = reasons.reduce((keep, r) => keep * (1 - r.weight), 1);
  return { score: Math.round((1 - score) * 1000) / 1000, reasons };
}
