/**
 * analyzeKey: everything keywatch derives from one key's live state and history (burn rates,
 * exhaustion, stability, risk, limit and model matrices, readiness). Pure: no I/O, no clock
 * (the caller passes `now`), never throws on odd history.
 */
import { burnRates, farBurn, WINDOW_MS, type FarBurn } from './burn.js';
import { effectiveThresholds } from './defaults.js';
import { exhaustion, lastMoney, moneyOf, num } from './exhaustion.js';
import { limitMatrix, modelMatrix } from './matrix.js';
import { readiness } from './readiness.js';
import { risk } from './risk.js';
import { HOUR_MS } from './periods.js';
import { share } from '../share.js';
import { stability } from './stability.js';
import type { Currency } from '../../probes/types.js';
import type { AnalyzeInput, BurnRate, HistoryFigures, HistorySample, KeyAnalysis, SpendMark, SplitAnalyze } from './types.js';

/**
 * What analysis takes from a key's history: the burn rates, the stability and the last money the
 * history knew. Reading the history is most of analysis' cost (a week is ~180 samples out of
 * SQLite), and these figures move slowly, so the daemon keeps them per key for a while
 * (defaults.analysisInterval) and judges every run's live state against them.
 */
export function historyFigures(input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>): HistoryFigures {
  const { state, now } = input;
  const history = sortedHistory(input.history);
  return {
    at: now,
    burn: burnRates(history, now, fallbackCurrencyOf(state)),
    // The live counter knows about runs the store has not flushed yet; without a run, the history decides.
    stability: stability(history, now, input.stabilityWindowMs, state.lastRunAt !== undefined ? state.consecutiveFailures : undefined),
    last: lastMoney(history, now),
    samples: history.length,
    ...withSpend(state),
  };
}

/** The history figures' input after the cut: read again each time; the week before it is kept (FarFigures). */
export const NEAR_HISTORY_MS = 25 * HOUR_MS;
/** How long a FarFigures serves: its cut stays NEAR_HISTORY_MS or more before `now` meanwhile. */
export const FAR_LIFETIME_MS = HOUR_MS;

/**
 * The part of a key's week of history before `cut` (NEAR_HISTORY_MS before `at`), as history
 * figures need it, for FAR_LIFETIME_MS: its spend segments (farBurn), its newest money values and
 * its sample count. Those samples are hourly rollups of hours long past: they do not change. With
 * it, nearFigures reads only the last 25 hours again (~25 rollups and the current hour's runs
 * instead of ~170 samples), which is what the 1h and 24h rates, the stability window (24 h by
 * default) and the money need; the 7d rate adds the kept sums.
 */
export interface FarFigures {
  at: number;
  fallbackCurrency: Currency;
  burn: FarBurn;
  /** The newest money values before the cut, each with its sample's time. */
  last: {
    limit: { at: number; value: number | null } | undefined;
    limitRemaining: { at: number; value: number | null } | undefined;
    balance: { at: number; value: number } | undefined;
  };
  /** Times of the samples before the cut that leave the read range (now - 7d) before it expires. */
  edgeAts: number[];
  /** Samples before the cut that stay in the read range until it expires. */
  wholeSamples: number;
}

/**
 * FarFigures from a whole week of history read at `now` (from now - 7d on, as historyFigures
 * takes it), serving for `lifetimeMs` (FAR_LIFETIME_MS at most). Undefined when figures could not
 * be computed from it (see nearFigures).
 */
export function farFigures(input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>, lifetimeMs = FAR_LIFETIME_MS): FarFigures | undefined {
  const { state, now } = input;
  if (!splittable(input.stabilityWindowMs)) return undefined;
  const cut = now - NEAR_HISTORY_MS;
  const validUntil = now + Math.min(lifetimeMs, FAR_LIFETIME_MS);
  const far = sortedHistory(input.history).filter((s) => s.at < cut);
  const fallbackCurrency = fallbackCurrencyOf(state);
  const last: FarFigures['last'] = { limit: undefined, limitRemaining: undefined, balance: undefined };
  for (let i = far.length - 1; i >= 0; i--) {
    const s = far[i]!;
    if (last.limit === undefined && s.limit !== undefined) last.limit = { at: s.at, value: s.limit };
    if (last.limitRemaining === undefined && s.limitRemaining !== undefined) last.limitRemaining = { at: s.at, value: s.limitRemaining };
    if (last.balance === undefined && s.balance !== undefined) last.balance = { at: s.at, value: s.balance };
  }
  const whole = validUntil - WINDOW_MS['7d'];
  const edgeAts = far.filter((s) => s.at < whole).map((s) => s.at);
  return {
    at: now,
    fallbackCurrency,
    burn: farBurn(far, cut, validUntil, fallbackCurrency),
    last,
    edgeAts,
    wholeSamples: far.length - edgeAts.length,
  };
}

/**
 * historyFigures at `now` from the history read from far.burn.cut on and the kept FarFigures: the
 * same figures as from the whole week read now (sums in another order). Undefined when `far` does
 * not serve (expired, from the future, another fallback currency, a stability window reaching
 * before the cut, or no live failure count): read the whole week then.
 */
export function nearFigures(input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>, far: FarFigures): HistoryFigures | undefined {
  const { state, now } = input;
  if (!farServes(far, input)) return undefined;
  const cut = far.burn.cut;
  const history = sortedHistory(input.history);
  // The range a whole read at `now` starts from (the daemon reads 7d, or the stability window if longer).
  const since = now - WINDOW_MS['7d'];
  const last = lastMoney(history, now);
  const kept = <T>(v: { at: number; value: T } | undefined): v is { at: number; value: T } => v !== undefined && v.at >= since;
  if (!('limit' in last) && kept(far.last.limit)) last.limit = far.last.limit.value;
  if (!('limitRemaining' in last) && kept(far.last.limitRemaining)) last.limitRemaining = far.last.limitRemaining.value;
  if (!('balance' in last) && kept(far.last.balance)) last.balance = far.last.balance.value;
  let samples = history.length + far.wholeSamples;
  for (const at of far.edgeAts) if (at >= since) samples++;
  return {
    at: now,
    burn: burnRates(history.filter((s) => s.at >= cut), now, far.fallbackCurrency, far.burn, since),
    stability: stability(history, now, input.stabilityWindowMs, state.consecutiveFailures),
    last,
    samples,
    ...withSpend(state),
  };
}

/**
 * How far the spend since a key's history figures were computed may depart from what their 1h rate
 * predicts for that time, as a share of the larger of the two, before spendDrifted says so.
 */
export const SPEND_DRIFT = 0.25;

/**
 * Whether the key spent, since its figures were computed, otherwise than their 1h burn rate says:
 * by more than SPEND_DRIFT of the larger of the spend and the prediction. So the daemon can keep a
 * steady key's figures for the whole of defaults.analysisInterval and read a key's again early
 * when it starts, stops or changes spending, or when spend leaving the 1h window moves the rate.
 * The usage total says what was spent where the key has one, else the balance (which falls with
 * the whole account: its 1h balance rate). A reset, a top-up or a change of currency is not drift:
 * figuresMoved reads the figures again for those.
 */
export function spendDrifted(figures: HistoryFigures, state: AnalyzeInput['state']): boolean {
  const mark = figures.spend;
  const at = state.lastRunAt;
  if (mark === undefined || at === undefined || !(at > mark.at) || fallbackCurrencyOf(state) !== mark.currency) return false;
  const total = state.facts.usage?.total;
  const balance = state.facts.balance;
  let spent: number;
  let rate: BurnRate | undefined;
  if (mark.usage !== undefined && num(total)) {
    spent = total - mark.usage;
    rate = hourlyRate(figures.burn.rates, mark.currency);
  } else if (mark.balance !== undefined && num(balance)) {
    spent = mark.balance - balance;
    rate = hourlyRate(figures.burn.balanceRates, mark.currency);
  } else return false;
  if (spent < 0) return false;
  const predicted = ((rate?.perHour ?? 0) * (at - mark.at)) / HOUR_MS;
  return Math.abs(spent - predicted) > SPEND_DRIFT * Math.max(spent, predicted);
}

function hourlyRate(rates: readonly BurnRate[], currency: Currency): BurnRate | undefined {
  for (const r of rates) if (r.window === '1h' && r.currency === currency) return r;
  return undefined;
}

/** The spend mark of figures computed from a key's state (none before its first run, or without usage or balance). */
function withSpend(state: AnalyzeInput['state']): { spend?: SpendMark } {
  const at = state.lastRunAt;
  const { usage, balance } = state.facts;
  const total = usage?.total;
  if (at === undefined || (!num(total) && !num(balance))) return {};
  // The store gives a sample the key's currency, else its balance's: the rates are in that one.
  const spend: SpendMark = { at, currency: fallbackCurrencyOf(state) };
  if (num(total)) spend.usage = total;
  if (num(balance)) spend.balance = balance;
  return { spend };
}

/** Whether `far` serves for figures at `now` (nearFigures' condition, to check before reading). */
export function farServes(far: FarFigures, input: Pick<AnalyzeInput, 'state' | 'now' | 'stabilityWindowMs'>): boolean {
  const { state, now } = input;
  return (
    now >= far.at &&
    now < far.burn.validUntil &&
    splittable(input.stabilityWindowMs) &&
    fallbackCurrencyOf(state) === far.fallbackCurrency &&
    state.lastRunAt !== undefined
  );
}

/** The split needs the stability window inside the part read again, and the week to be the read range. */
function splittable(stabilityWindowMs: number): boolean {
  return stabilityWindowMs <= NEAR_HISTORY_MS - FAR_LIFETIME_MS;
}

function fallbackCurrencyOf(state: AnalyzeInput['state']): Currency {
  return state.facts.currency ?? state.facts.balanceCurrency ?? 'USD';
}

/**
 * The analysis of the key's live state, with history figures computed now or a little earlier.
 * `prev`, the key's previous analysis (by default the one its state holds, where a state holds one:
 * the daemon's live states do not, see Daemon.analysis), lends its parts to this one where they came
 * out the same (see share.ts); the result is the same data either way.
 */
export function judgeKey(input: Omit<AnalyzeInput, 'history'>, figures: HistoryFigures, prev: KeyAnalysis | undefined = input.state.analysis): KeyAnalysis {
  const { state, now } = input;
  const facts = state.facts;
  const fallbackCurrency = facts.currency ?? facts.balanceCurrency ?? 'USD';
  const thresholds = effectiveThresholds(input.thresholds);
  const burn = figures.burn;
  const money = moneyOf(facts, figures.last, now, fallbackCurrency);
  const ex = share(prev?.exhaustion, exhaustion(money, burn.rates, burn.balanceRates, now));
  // Figures kept from an earlier run still get this run's streak of failures.
  const st =
    figures.at === now || state.lastRunAt === undefined || figures.stability.consecutiveFailures === state.consecutiveFailures
      ? figures.stability
      : share(prev?.stability, { ...figures.stability, consecutiveFailures: state.consecutiveFailures });
  const models = share(prev?.modelMatrix, modelMatrix(facts, state.watchModels));

  const next: KeyAnalysis = {
    burnRates: burn.rates,
    exhaustion: ex,
    stability: st,
    risk: share(
      prev?.risk,
      risk({
        facts,
        money,
        exhaustion: ex,
        stability: st,
        thresholds,
        readinessHorizonMs: input.readinessHorizonMs,
        now,
      }),
    ),
    readiness: share(
      prev?.readiness,
      readiness({
        state,
        facts,
        money,
        exhaustion: ex,
        stability: st,
        models,
        thresholds,
        readinessHorizonMs: input.readinessHorizonMs,
        historySamples: figures.samples,
        now,
      }),
    ),
    limitMatrix: share(prev?.limitMatrix, limitMatrix(facts, money)),
    modelMatrix: models,
  };
  if (
    prev !== undefined &&
    next.burnRates === prev.burnRates &&
    next.exhaustion === prev.exhaustion &&
    next.stability === prev.stability &&
    next.risk === prev.risk &&
    next.readiness === prev.readiness &&
    next.limitMatrix === prev.limitMatrix &&
    next.modelMatrix === prev.modelMatrix
  ) {
    return prev;
  }
  return next;
}

export const analyzeKey: SplitAnalyze = Object.assign((input: AnalyzeInput): KeyAnalysis => judgeKey(input, historyFigures(input)), {
  figures: historyFigures,
  judge: judgeKey,
  far: farFigures,
  near: nearFigures,
  farServes,
  drifted: spendDrifted,
});

/** The store hands history oldest first; a caller that did not is not punished for it. */
function sortedHistory(history: readonly HistorySample[]): HistorySample[] {
  for (let i = 1; i < history.length; i++) {
    if (history[i]!.at < history[i - 1]!.at) return [...history].sort((a, b) => a.at - b.at);
  }
  return history as HistorySample[];
}

export { DEFAULT_THRESHOLDS, effectiveThresholds } from './defaults.js';
export { classifyFailure } from './stability.js';
export { nextPeriodStart, periodStart } from './periods.js';
export type * from './types.js';
