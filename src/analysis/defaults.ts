/**
 * Thresholds analysis falls back to when the config sets none (alerting.thresholds and keys[].alerts
 * override them). One place, so risk, readiness and the CLI agree.
 */
import type { Thresholds } from '../config/schema.js';
import { DAY_MS, HOUR_MS } from './periods.js';

export interface EffectiveThresholds {
  limitRemainingBelow?: number;
  limitRemainingRatioBelow: number;
  balanceBelow?: number;
  exhaustionWithinMs: number;
  stabilityBelow: number;
  expiringWithinMs: number;
  probeFailures: number;
}

export const DEFAULT_THRESHOLDS: EffectiveThresholds = {
  limitRemainingRatioBelow: 0.1,
  exhaustionWithinMs: 48 * HOUR_MS,
  stabilityBelow: 0.95,
  expiringWithinMs: 7 * DAY_MS,
  probeFailures: 3,
};

export function effectiveThresholds(t: Thresholds | undefined): EffectiveThresholds {
  const out: EffectiveThresholds = {
    limitRemainingRatioBelow: t?.limitRemainingRatioBelow ?? DEFAULT_THRESHOLDS.limitRemainingRatioBelow,
    exhaustionWithinMs: t?.exhaustionWithin ?? DEFAULT_THRESHOLDS.exhaustionWithinMs,
    stabilityBelow: t?.stabilityBelow ?? DEFAULT_THRESHOLDS.stabilityBelow,
    expiringWithinMs: t?.expiringWithin ?? DEFAULT_THRESHOLDS.expiringWithinMs,
    probeFailures: t?.probeFailures ?? DEFAULT_THRESHOLDS.probeFailures,
  };
  if (t?.limitRemainingBelow !== undefined) out.limitRemainingBelow = t.limitRemainingBelow;
  if (t?.balanceBelow !== undefined) out.balanceBelow = t.balanceBelow;
  return out;
}

/** Fewer runs than this in the stability window is too little to call a key unstable. */
export const MIN_STABILITY_RUNS = 3;

/** Identity confidence below this is doubtful. */
export const IDENTITY_CONFIDENCE_MIN = 0.5;
