/** The live, in-memory state of each monitored key: what /metrics, /api and alerting read. */
import type { KeyFacts, ProbeKind, ProbeOutcome } from '../probes/types.js';
import type { KeyAnalysis } from './analysis/types.js';

export interface KeyState {
  name: string;
  /** Provider from the config (`auto` allowed). */
  claimedProvider: string;
  /** Provider that answers (detected, or the claimed one until identified). */
  provider: string;
  labels: Record<string, string>;
  watchModels: string[];
  /** First 8 hex of SHA-256 of the key; safe to store and show. */
  fingerprint: string;
  /** e.g. `sk-or-v1-…a1b2`. */
  masked: string;
  account?: string;
  facts: KeyFacts;
  probes: Partial<Record<ProbeKind, ProbeOutcome>>;
  lastSuccessAt: Partial<Record<ProbeKind, number>>;
  /** Epoch ms of the last completed run. */
  lastRunAt?: number;
  /** Consecutive runs in which every probe failed for reasons other than findings. */
  consecutiveFailures: number;
  /** When the last run was judged (the `now` its analysis used). */
  analysedAt?: number;
  /**
   * The analysis, where a state holds it: loaded from the store, from `keywatch check`, or in a
   * daemon without kept figures. A running daemon's live states do not (see Daemon.analysis).
   */
  analysis?: KeyAnalysis;
}

/** A probe's outcome as a key's state keeps it: what the probe learnt is in the state's facts, not again here. */
export function withoutFacts(o: ProbeOutcome): ProbeOutcome {
  // A failed probe learnt nothing: its outcome is kept as it is (never written: a state holding a
  // failed outcome is never updated in place, src/steady.ts).
  if (!Object.hasOwn(o, 'facts')) return o;
  // A good answer, the usual case, as one literal (a rest copy walks and filters every property).
  if (o.errorKind === undefined && o.status === undefined && o.message === undefined && o.retryAfterMs === undefined) {
    return { probe: o.probe, ok: o.ok, durationMs: o.durationMs, at: o.at };
  }
  const { facts: _facts, ...rest } = o;
  return rest;
}
