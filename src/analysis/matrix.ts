/**
 * The limit matrix (every limit a key lives under, one row per dimension) and the model permission
 * matrix (each watched model: may the key use it, is its price known).
 */
import type { KeyFacts, RateLimits } from '../../probes/types.js';
import type { Money } from './exhaustion.js';
import type { LimitMatrixRow, ModelMatrixRow } from './types.js';

/** Unit of a rate-limit dimension from its name: `tokens`, `input_tokens` -> tokens, else requests. */
export function dimensionUnit(dimension: string): string {
  return /token/i.test(dimension) ? 'tokens' : 'requests';
}

/**
 * Rows: `spend_limit` (null limit = unlimited), `balance`, then each rate-limit dimension the
 * provider reported (`requests`, `tokens`, `free_daily`, ...). `resetAt` is epoch seconds.
 */
export function limitMatrix(facts: KeyFacts, money: Money): LimitMatrixRow[] {
  const rows: LimitMatrixRow[] = [];
  if (money.limit !== undefined || money.limitRemaining !== undefined) {
    const row: LimitMatrixRow = {
      dimension: 'spend_limit',
      limit: money.limit ?? null,
      remaining: money.limitRemaining ?? null,
      reset: money.limitReset ?? null,
      unit: money.currency,
    };
    if (money.resetAt !== undefined) row.resetAt = Math.round(money.resetAt / 1000);
    rows.push(row);
  }
  if (money.balance !== undefined) {
    rows.push({ dimension: 'balance', remaining: money.balance, unit: money.balanceCurrency });
  }
  rows.push(...rateLimitRows(facts.rateLimits));
  return rows;
}

function rateLimitRows(limits: RateLimits | undefined): LimitMatrixRow[] {
  return Object.entries(limits ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([dimension, w]) => {
      const row: LimitMatrixRow = { dimension, unit: dimensionUnit(dimension) };
      if (w.limit !== undefined) row.limit = w.limit;
      if (w.remaining !== undefined) row.remaining = w.remaining;
      if (w.resetAt !== undefined) row.resetAt = w.resetAt;
      return row;
    });
}

/** One row per watched model; rows are empty when the model list was never probed. */
export function modelMatrix(facts: KeyFacts, watchModels: readonly string[]): { count?: number; rows: ModelMatrixRow[] } {
  const models = facts.models;
  if (models === undefined) return { rows: [] };
  const rows = watchModels.map((model) => {
    const row: ModelMatrixRow = { model, access: models.access[model] === true };
    const priced = models.pricingKnown[model];
    if (priced !== undefined) row.pricingKnown = priced;
    return row;
  });
  return { count: models.count, rows };
}
