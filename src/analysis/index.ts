/**
 * analyzeKey: everything keywatch derives from one key's live state and history (burn rates,
 * exhaustion, stability, risk, limit and model matrices, readiness). Pure: no I/O, no clock
 * (the caller passes `now`), never throws on odd history.
 */
import { burnRates } from './burn.js';
import { effectiveThresholds } from './defaults.js';
import { currentMoney, exhaustion } from './exhaustion.js';
import { limitMatrix, modelMatrix } from './matrix.js';
import { readiness } from './readiness.js';
import { risk } from './risk.js';
import { stability } from './stability.js';
import type { Analyze, AnalyzeInput, HistorySample, KeyAnalysis } from './types.js';

export const analyzeKey: Analyze = (input: AnalyzeInput): KeyAnalysis => {
  const { state, now } = input;
  const facts = state.facts;
  const history = sortedHistory(input.history);
  const fallbackCurrency = facts.currency ?? facts.balanceCurrency ?? 'USD';
  const thresholds = effectiveThresholds(input.thresholds);

  const burn = burnRates(history, now, fallbackCurrency);
  const money = currentMoney(facts, history, now, fallbackCurrency);
  const ex = exhaustion(money, burn.rates, burn.balanceRates, now);
  // The live counter knows about runs the store has not flushed yet; without a run, the history decides.
  const st = stability(history, now, input.stabilityWindowMs, state.lastRunAt !== undefined ? state.consecutiveFailures : undefined);
  const models = modelMatrix(facts, state.watchModels);

  return {
    burnRates: burn.rates,
    exhaustion: ex,
    stability: st,
    risk: risk({
      facts,
      money,
      exhaustion: ex,
      stability: st,
      thresholds,
      readinessHorizonMs: input.readinessHorizonMs,
      now,
    }),
    readiness: readiness({
      state,
      facts,
      money,
      exhaustion: ex,
      stability: st,
      models,
      thresholds,
      readinessHorizonMs: input.readinessHorizonMs,
      historySamples: history.length,
      now,
    }),
    limitMatrix: limitMatrix(facts, money),
    modelMatrix: models,
  };
};

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
