/**
 * analyzeKey: everything keywatch derives from one key's live state and history (burn rates,
 * exhaustion, stability, risk, limit and model matrices, readiness). Pure: no I/O, no clock
 * (the caller passes `now`), never throws on odd history.
 */
import { burnRates } from './burn.js';
import { effectiveThresholds } from './defaults.js';
import { exhaustion, lastMoney, moneyOf } from './exhaustion.js';
import { limitMatrix, modelMatrix } from './matrix.js';
import { readiness } from './readiness.js';
import { risk } from './risk.js';
import { share } from '../share.js';
import { stability } from './stability.js';
import type { AnalyzeInput, HistoryFigures, HistorySample, KeyAnalysis, SplitAnalyze } from './types.js';

/**
 * What analysis takes from a key's history: the burn rates, the stability and the last money the
 * history knew. Reading the history is most of analysis' cost (a week is ~180 samples out of
 * SQLite), and these figures move slowly, so the daemon keeps them per key for a while
 * (defaults.analysisInterval) and judges every run's live state against them.
 */
export function historyFigures(input: Pick<AnalyzeInput, 'state' | 'history' | 'now' | 'stabilityWindowMs'>): HistoryFigures {
  const { state, now } = input;
  const history = sortedHistory(input.history);
  const fallbackCurrency = state.facts.currency ?? state.facts.balanceCurrency ?? 'USD';
  return {
    at: now,
    burn: burnRates(history, now, fallbackCurrency),
    // The live counter knows about runs the store has not flushed yet; without a run, the history decides.
    stability: stability(history, now, input.stabilityWindowMs, state.lastRunAt !== undefined ? state.consecutiveFailures : undefined),
    last: lastMoney(history, now),
    samples: history.length,
  };
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
