/**
 * One alert's life, per (key, rule): inactive -> pending -> firing -> resolved (-> pending ...).
 * A pure step function: the caller persists the record and enqueues what it emits, in one
 * transaction, so a restart neither forgets a firing alert nor announces it twice.
 */
import type { Observation, Unit } from './rules.js';
import type { RuleName, Severity } from './types.js';

export type AlertPhase = 'inactive' | 'pending' | 'firing' | 'resolved';

export interface AlertRecord {
  key: string;
  rule: RuleName;
  phase: AlertPhase;
  /** When the condition started to hold (pending since). */
  activeSince?: number;
  /** Consecutive evaluations the condition has held this episode (for `forProbes`). */
  heldRuns?: number;
  /** When it started firing. */
  startsAt?: number;
  endsAt?: number;
  /** A firing notification went out (was enqueued) for this episode. */
  announced: boolean;
  lastNotifiedAt?: number;
  /** Notifications emitted for this (key, rule) so far, across episodes; part of the idempotency id. */
  seq: number;
  severity: Severity;
  provider: string;
  labels: Record<string, string>;
  value?: number | string;
  threshold?: number | string;
  unit?: Unit;
  currency?: string;
  summary: string;
  /** Last time this firing alert was (re)posted to Alertmanager, which forgets alerts not refreshed. */
  refreshedAt?: number;
  /** Why it is not being announced right now. */
  muted?: 'silenced' | 'inhibited';
}

export interface StepOptions {
  forMs: number;
  /** The condition must also hold for this many consecutive evaluations (0 or 1: no extra wait). */
  forProbes?: number;
  repeatMs: number;
  sendResolved: boolean;
  /** Silenced or inhibited: the state machine runs, but nothing is announced. */
  muted?: 'silenced' | 'inhibited';
}

export interface Emission {
  status: 'firing' | 'resolved';
  /** A reminder for an alert already announced. */
  repeat: boolean;
}

export interface StepResult {
  next: AlertRecord;
  emit?: Emission;
}

export function inactiveRecord(key: string, rule: RuleName, severity: Severity, provider: string): AlertRecord {
  return { key, rule, phase: 'inactive', announced: false, seq: 0, severity, provider, labels: {}, summary: '' };
}

export function step(prev: AlertRecord, obs: Observation, now: number, opts: StepOptions): StepResult {
  const next: AlertRecord = {
    ...prev,
    summary: obs.summary,
    unit: obs.unit,
    ...(obs.value !== undefined ? { value: obs.value } : {}),
    ...(obs.threshold !== undefined ? { threshold: obs.threshold } : {}),
    ...(obs.currency !== undefined ? { currency: obs.currency } : {}),
  };
  if (opts.muted) next.muted = opts.muted;
  else delete next.muted;

  switch (prev.phase) {
    case 'inactive':
    case 'resolved':
      if (obs.breach === true) {
        next.activeSince = now;
        next.heldRuns = 1;
        delete next.endsAt;
        next.announced = false;
        delete next.lastNotifiedAt;
        if (opts.forMs <= 0 && held(next, opts)) {
          next.phase = 'firing';
          next.startsAt = now;
        } else {
          next.phase = 'pending';
          delete next.startsAt;
        }
      }
      break;
    case 'pending':
      // `for` means the condition held at every evaluation; one miss starts over.
      // `forProbes` counts evaluations that confirmed it; an unknown one neither counts nor cancels.
      if (obs.breach === false) {
        next.phase = 'inactive';
        delete next.activeSince;
        delete next.heldRuns;
      } else if (obs.breach === true) {
        next.heldRuns = (prev.heldRuns ?? 1) + 1;
        if (now - (prev.activeSince ?? now) >= opts.forMs && held(next, opts)) {
          next.phase = 'firing';
          next.startsAt = now;
        }
      }
      break;
    case 'firing':
      // Hysteresis: only a value past the recovery line resolves; unknown keeps it firing.
      if (obs.clear === true) {
        next.phase = 'resolved';
        next.endsAt = now;
        if (prev.announced && opts.sendResolved) {
          next.seq = prev.seq + 1;
          next.lastNotifiedAt = now;
          return { next, emit: { status: 'resolved', repeat: false } };
        }
        return { next };
      }
      break;
  }

  if (next.phase === 'firing' && !opts.muted) {
    if (!next.announced) {
      next.announced = true;
      next.seq = prev.seq + 1;
      next.lastNotifiedAt = now;
      return { next, emit: { status: 'firing', repeat: false } };
    }
    if (opts.repeatMs > 0 && now - (next.lastNotifiedAt ?? now) >= opts.repeatMs) {
      next.seq = prev.seq + 1;
      next.lastNotifiedAt = now;
      return { next, emit: { status: 'firing', repeat: true } };
    }
  }
  return { next };
}

/** Both waits must be over: `for` (time, checked by the caller) and `forProbes` (evaluations). */
function held(rec: AlertRecord, opts: StepOptions): boolean {
  return (rec.heldRuns ?? 1) >= (opts.forProbes ?? 0);
}
