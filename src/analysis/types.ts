/** What analysis derives from a key's history; consumed by metrics, alerting, the API and the CLI. */
import type { Currency } from '../../probes/types.js';

export type BurnWindow = '1h' | '24h' | '7d';
export const BURN_WINDOWS: readonly BurnWindow[] = ['1h', '24h', '7d'];

export type Confidence = 'none' | 'low' | 'medium' | 'high';

export interface BurnRate {
  window: BurnWindow;
  currency: Currency;
  /** Spend per hour in `currency`; never negative. */
  perHour: number;
  /** What it was derived from. */
  source: 'usage' | 'usage_windows' | 'balance';
  /** History span actually covered, ms. */
  spanMs: number;
  samples: number;
}

export interface Exhaustion {
  /** Seconds until the limit or balance runs out at the current burn rate; undefined = not burning / cannot tell. */
  seconds?: number;
  against?: 'limit' | 'balance';
  /** The limit resets before it would run out this period. */
  resetsFirst: boolean;
  confidence: Confidence;
  /** Human explanation, e.g. "limit resets daily before it runs out". */
  note: string;
  /** Projected epoch ms of exhaustion (set with `seconds`). */
  at?: number;
  /** The burn rate the projection used, per hour, and the window it came from. */
  perHour?: number;
  window?: BurnWindow;
  /**
   * When the limit resets first but the burn rate would still exhaust it within a period:
   * seconds from now until it runs out in the next period (at the current rate).
   */
  nextPeriodSeconds?: number;
}

export type FailureClass = 'transient' | 'quota' | 'revoked' | 'config' | 'unknown_shape' | 'network';

export interface Stability {
  /** Successful probe runs / all runs over the window, 0..1; 1 when there is no history. */
  ratio: number;
  windowMs: number;
  samples: number;
  p50Ms?: number;
  p95Ms?: number;
  consecutiveFailures: number;
  /** Success<->failure transitions over the window. */
  flaps: number;
  failures: Partial<Record<FailureClass, number>>;
}

export interface RiskReason {
  code: string;
  message: string;
  weight: number;
}

export interface Risk {
  score: number;
  reasons: RiskReason[];
}

export type Verdict = 'ready' | 'review' | 'blocked';
export const VERDICTS: readonly Verdict[] = ['ready', 'review', 'blocked'];

export type NextAction =
  | 'add_provider_config'
  | 'fill_pricing'
  | 'import_inventory'
  | 'set_route'
  | 'add_monitoring'
  | 'send_to_human_review';

export const NEXT_ACTIONS: readonly NextAction[] = [
  'add_provider_config',
  'fill_pricing',
  'import_inventory',
  'set_route',
  'add_monitoring',
  'send_to_human_review',
];

export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One readiness check and its outcome: `warn` makes the verdict at least review, `fail` blocked. */
export interface ReadinessCheck {
  /** Stable name: key_valid, identity, runway, limit_headroom, models, stability, provider, monitoring, key_type, expiry. */
  check: string;
  status: CheckStatus;
  /** Names the numbers, e.g. "runway 2d3h < horizon 7d at 1.25 USD/h". */
  detail: string;
}

export interface Readiness {
  verdict: Verdict;
  reasons: string[];
  nextActions: { action: NextAction; detail: string }[];
  /** Every check that ran, passing ones included. */
  checks?: ReadinessCheck[];
}

export interface LimitMatrixRow {
  dimension: string;
  limit?: number | null;
  remaining?: number | null;
  reset?: string | null;
  resetAt?: number;
  unit: string;
}

export interface ModelMatrixRow {
  model: string;
  access: boolean;
  pricingKnown?: boolean;
}

export interface KeyAnalysis {
  burnRates: BurnRate[];
  exhaustion: Exhaustion;
  stability: Stability;
  risk: Risk;
  readiness: Readiness;
  limitMatrix: LimitMatrixRow[];
  modelMatrix: { count?: number; rows: ModelMatrixRow[] };
}

/**
 * One point of a key's history as the store hands it to analysis: a raw probe run, or an hourly
 * rollup standing for `runs` runs (raw rows are kept for storage.rawRetention, then rolled up).
 * Money fields are the last values seen in that span.
 */
export interface HistorySample {
  /** Epoch ms: the run's start, or for a rollup the last run within its hour. */
  at: number;
  runs: number;
  okRuns: number;
  /** Failed runs by the first failing probe's kind (`invalid` = the key was refused). */
  failures?: Partial<Record<string, number>>;
  /** Raw: that run's duration; rollup: mean duration. */
  latencyMs?: number;
  valid?: boolean;
  currency?: Currency;
  usageTotal?: number;
  usageDaily?: number;
  usageWeekly?: number;
  usageMonthly?: number;
  limit?: number | null;
  limitRemaining?: number | null;
  balance?: number;
  /**
   * A key's current hour read as its rollup (the store's HistoryOptions.cleanHourAsRollupAt): the
   * raw runs it stands for, so a burn rate counts the samples the detailed read would have.
   */
  detailSamples?: number;
}

export interface AnalyzeInput {
  state: import('../state.js').KeyState;
  /** Oldest first; raw runs and hourly rollups, as the store returns them. */
  history: HistorySample[];
  now: number;
  thresholds: import('../config/schema.js').Thresholds;
  stabilityWindowMs: number;
  readinessHorizonMs: number;
}

export type Analyze = (input: AnalyzeInput) => KeyAnalysis;

/** What analysis takes from a key's history (see historyFigures in index.ts). */
export interface HistoryFigures {
  /** When they were computed. */
  at: number;
  burn: import('./burn.js').BurnAnalysis;
  stability: Stability;
  /** The latest money values the history held. */
  last: import('./exhaustion.js').LastMoney;
  /** History samples they were computed from. */
  samples: number;
  /** Where the key's spend stood when they were computed (see spendDrifted in index.ts). */
  spend?: SpendMark;
}

/** A key's live usage total and balance at its last run, in the currencies of its burn rates. */
export interface SpendMark {
  at: number;
  usage?: number;
  balance?: number;
  currency: Currency;
}

/** analyzeKey, split: the history part can be kept a while and the live state judged against it. */
export type SplitAnalyze = Analyze & {
  figures: (input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>) => HistoryFigures;
  judge: (input: Omit<AnalyzeInput, 'history'>, figures: HistoryFigures) => KeyAnalysis;
  /** The week before the last 25 hours, kept a while, so the figures read only those hours again (index.ts). */
  far?: (input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>, lifetimeMs?: number) => import('./index.js').FarFigures | undefined;
  near?: (input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>, far: import('./index.js').FarFigures) => HistoryFigures | undefined;
  farServes?: (far: import('./index.js').FarFigures, input: Pick<AnalyzeInput, 'state' | 'now' | 'stabilityWindowMs'>) => boolean;
  /** Whether the key spent since the figures were computed otherwise than their 1h rate says (index.ts). */
  drifted?: (figures: HistoryFigures, state: import('../state.js').KeyState) => boolean;
};
