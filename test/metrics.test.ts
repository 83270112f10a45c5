import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { KeyAnalysis } from '../src/analysis/types.js';
import { createMetrics } from '../src/metrics.js';
import type { KeyState } from '../src/state.js';
import { keyState } from './helpers/state.js';
import { requireTool } from './helpers/tools.js';

const state = keyState;

const analysis: KeyAnalysis = {
  burnRates: [{ window: '1h', currency: 'USD', perHour: 0.5, source: 'usage', spanMs: 3_600_000, samples: 12 }],
  exhaustion: { seconds: 7200, against: 'limit', resetsFirst: false, confidence: 'medium', note: '' },
  stability: { ratio: 0.9, windowMs: 86_400_000, samples: 10, consecutiveFailures: 0, flaps: 1, failures: {} },
  risk: { score: 0.25, reasons: [] },
  readiness: { verdict: 'review', reasons: [], nextActions: [] },
  limitMatrix: [],
  modelMatrix: { rows: [] },
};

const T = 1_767_000_000_000;

function fleet(): KeyState[] {
  return [
    state('capped', {
      labels: { team: 'search', key: 'shadow' },
      watchModels: ['openrouter/auto', 'openrouter/free'],
      facts: {
        valid: true,
        currency: 'USD',
        usage: { total: 25.5, daily: 1.25, weekly: 5, monthly: 20 },
        limit: 100,
        limitRemaining: 74.5,
        limitResetAt: 1_767_225_600,
        balance: 42,
        balanceCurrency: 'USD',
        models: { count: 3, source: 'user', access: { 'openrouter/auto': true }, pricingKnown: {} },
      },
      probes: {
        current_key: { probe: 'current_key', ok: true, durationMs: 120, at: T },
        models: { probe: 'models', ok: false, errorKind: 'timeout', durationMs: 2000, at: T },
      },
      lastSuccessAt: { current_key: T },
      lastRunAt: T,
      analysis,
    }),
    state('unlimited', { facts: { valid: true, currency: 'CNY', usage: { total: 3 }, limit: null, limitRemaining: null } }),
    state('revoked', { claimedProvider: 'auto', facts: { valid: false } }),
  ];
}

describe('metrics', () => {
  it('exports each contract metric from the current states', async () => {
    const m = createMetrics({ states: fleet, firing: () => [{ key: 'revoked', rule: 'key_invalid', severity: 'critical', provider: 'openrouter', startsAt: T, summary: '' }] });
    m.setReloadResult(true, T);

    const text = await m.render();

    expect(text).toContain('keywatch_key_info{team="search",label_key="shadow",key="capped",provider="openrouter",claimed_provider="openrouter"} 1');
    expect(text).toContain('keywatch_key_valid{key="capped",provider="openrouter"} 1');
    expect(text).toContain('keywatch_key_valid{key="revoked",provider="openrouter"} 0');
    expect(text).toContain('keywatch_key_usage{key="capped",provider="openrouter",currency="USD",window="daily"} 1.25');
    expect(text).toContain('keywatch_key_usage{key="unlimited",provider="openrouter",currency="CNY",window="total"} 3');
    expect(text).toContain('keywatch_key_limit{key="capped",provider="openrouter",currency="USD"} 100');
    expect(text).toContain('keywatch_key_limit_remaining{key="capped",provider="openrouter",currency="USD"} 74.5');
    expect(text).toContain('keywatch_key_limit_reset_timestamp_seconds{key="capped",provider="openrouter"} 1767225600');
    expect(text).toContain('keywatch_key_balance{key="capped",provider="openrouter",currency="USD"} 42');
    expect(text).toContain('keywatch_key_model_access{key="capped",provider="openrouter",model="openrouter/free"} 0');
    expect(text).toContain('keywatch_key_burn_rate{key="capped",provider="openrouter",currency="USD",window="1h"} 0.5');
    expect(text).toContain('keywatch_key_exhaustion_seconds{key="capped",provider="openrouter"} 7200');
    expect(text).toContain('keywatch_key_stability{key="capped",provider="openrouter"} 0.9');
    expect(text).toContain('keywatch_key_risk_score{key="capped",provider="openrouter"} 0.25');
    expect(text).toContain('keywatch_key_readiness{key="capped",provider="openrouter",verdict="review"} 1');
    expect(text).toContain('keywatch_key_readiness{key="capped",provider="openrouter",verdict="ready"} 0');
    expect(text).toContain('keywatch_probe_success{key="capped",provider="openrouter",probe="models"} 0');
    expect(text).toContain('keywatch_probe_duration_seconds{key="capped",provider="openrouter",probe="current_key"} 0.12');
    expect(text).toContain(`keywatch_probe_last_success_timestamp_seconds{key="capped",provider="openrouter",probe="current_key"} ${T / 1000}`);
    expect(text).toContain('keywatch_alert_firing{key="revoked",rule="key_invalid",severity="critical"} 1');
    expect(text).toContain('keywatch_config_last_reload_successful 1');
    expect(text).toMatch(/# HELP keywatch_key_usage .*[Cc]ached from the last probe/);
  });

  it('has no limit series for an unlimited key', async () => {
    const text = await createMetrics({ states: fleet }).render();

    expect(text).not.toMatch(/keywatch_key_limit(_remaining)?\{key="unlimited"/);
    expect(text).toContain('keywatch_key_usage{key="unlimited"');
  });

  it('drops a removed key at the next render', async () => {
    let states = fleet();
    const m = createMetrics({ states: () => states, cacheMs: 60_000 });
    const before = await m.render();

    states = states.filter((s) => s.name !== 'capped');
    m.invalidate();
    const after = await m.render();

    expect(before).toContain('key="capped"');
    expect(after).not.toContain('key="capped"');
  });

  it('passes promtool check metrics', async () => {
    const promtool = requireTool('promtool', 'prometheus');
    if (promtool === undefined) return;
    const m = createMetrics({ states: fleet });
    m.setReloadResult(false);

    const text = await m.render();
    const res = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });

    expect(res.stderr + res.stdout).toBe('');
    expect(res.status).toBe(0);
    expect(text).toContain('keywatch_config_last_reload_successful 0');
  });
});
