/**
 * Alerting writes only what changed: a key run that changes neither an alert nor the key's memory
 * writes nothing, and what it does change is still on disk for a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { lifeChanged } from '../src/alerting/index.js';
import type { AlertRecord } from '../src/alerting/machine.js';
import { config, harness, keyState, queued, T0, type Harness, type StateInput } from './fixtures/alerting/harness.js';

const MIN = 60_000;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

// A notifier nobody listens on: rows are queued (what the tests read), deliveries only retry later.
const YAML = `
keys:
  - name: prod-main
    provider: openrouter
    key: \${TEST_KEY}
alerting:
  notifiers:
    - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
`;

const access = (a: Record<string, boolean>): StateInput => ({
  watchModels: ['openrouter/auto'],
  facts: { models: { count: 3, source: 'user', access: a, pricingKnown: {} } },
});

function changes(hh: Harness): number {
  return (hh.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
}

function storedMemory(hh: Harness): unknown {
  const row = hh.db.prepare('SELECT data FROM alert_memory WHERE key = ?').get('prod-main') as { data: string } | undefined;
  return row === undefined ? undefined : JSON.parse(row.data);
}

describe('alerting persistence', () => {
  it('writes nothing when a run changes neither an alert nor the memory', () => {
    h = harness(config(YAML));
    h.alerting.evaluate(keyState(access({ 'openrouter/auto': true })), T0);
    const before = changes(h);

    for (let i = 1; i <= 5; i++) h.alerting.evaluate(keyState(access({ 'openrouter/auto': true })), T0 + i * MIN);

    expect(changes(h)).toEqual(before);
    expect(storedMemory(h)).toMatchObject({ hadAccess: ['openrouter/auto'] });
  });

  it('writes the memory when it changes, and a restart still knows it', () => {
    h = harness(config(YAML));
    h.alerting.evaluate(keyState(access({ 'openrouter/auto': false })), T0);
    h.alerting.evaluate(keyState(access({ 'openrouter/auto': false })), T0 + MIN);
    expect(storedMemory(h)).toMatchObject({ hadAccess: [] });

    h.alerting.evaluate(keyState(access({ 'openrouter/auto': true })), T0 + 2 * MIN);
    expect(storedMemory(h)).toMatchObject({ hadAccess: ['openrouter/auto'] });
    const again = h.restart();
    again.evaluate(keyState(access({ 'openrouter/auto': false })), T0 + 3 * MIN);

    expect(again.firing().map((a) => a.rule)).toEqual(['model_access_lost']);
    expect(queued(again)).toEqual(['firing model_access_lost']);
  });

  it('forgetting a key drops its remembered memory too', () => {
    h = harness(config(YAML));
    h.alerting.evaluate(keyState(access({ 'openrouter/auto': true })), T0);

    h.alerting.forget('prod-main');
    h.alerting.evaluate(keyState(access({ 'openrouter/auto': false })), T0 + MIN);

    expect(h.alerting.firing()).toEqual([]);
    expect(storedMemory(h)).toMatchObject({ hadAccess: [] });
  });

  it('does not rewrite a firing alert whose value moves every run; a restart still knows it fired', () => {
    h = harness(config(LOW));
    h.alerting.evaluate(keyState(remaining(4)), T0);
    expect(queued(h.alerting)).toEqual(['firing limit_remaining_low']);
    const before = changes(h);

    for (let i = 1; i <= 5; i++) h.alerting.evaluate(keyState(remaining(4 - i * 0.5)), T0 + i * MIN);

    expect(changes(h)).toEqual(before);
    expect(storedRecord(h)).toMatchObject({ phase: 'firing', announced: true, value: 4 });
    const again = h.restart();
    again.evaluate(keyState(remaining(1)), T0 + 6 * MIN);
    expect(again.firing().map((a) => a.rule)).toEqual(['limit_remaining_low']);
    expect(queued(again)).toEqual(['firing limit_remaining_low']); // announced once, not again after the restart
  });

  it('writes an alert record when its life changes (resolution)', () => {
    h = harness(config(LOW));
    h.alerting.evaluate(keyState(remaining(4)), T0);
    const before = changes(h);

    h.alerting.evaluate(keyState(remaining(50)), T0 + MIN);

    expect(changes(h)).toBeGreaterThan(before);
    expect(storedRecord(h)).toMatchObject({ phase: 'resolved' });
  });
});

const LOW = `
keys:
  - name: prod-main
    provider: openrouter
    key: \${TEST_KEY}
    alerts: { limitRemainingBelow: 5 }
alerting:
  notifiers:
    - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook" }
`;

const remaining = (left: number): StateInput => ({ facts: { valid: true, currency: 'USD', limit: 100, limitRemaining: left } });

function storedRecord(hh: Harness): unknown {
  const row = hh.db.prepare("SELECT data FROM alert_state WHERE key = 'prod-main' AND rule = 'limit_remaining_low'").get() as { data: string } | undefined;
  return row === undefined ? undefined : JSON.parse(row.data);
}

describe('lifeChanged', () => {
  // Every field of an alert record, classified; a new field must be classified here to compile.
  const FIELDS: Record<keyof AlertRecord, 'life' | 'display'> = {
    key: 'life',
    rule: 'life',
    phase: 'life',
    activeSince: 'life',
    heldRuns: 'life',
    startsAt: 'life',
    endsAt: 'life',
    announced: 'life',
    lastNotifiedAt: 'life',
    seq: 'life',
    severity: 'life',
    provider: 'life',
    labels: 'life',
    refreshedAt: 'life',
    muted: 'life',
    value: 'display',
    threshold: 'display',
    unit: 'display',
    currency: 'display',
    summary: 'display',
  };
  const base: AlertRecord = {
    key: 'k',
    rule: 'limit_remaining_low',
    phase: 'firing',
    activeSince: 1,
    heldRuns: 2,
    startsAt: 3,
    endsAt: 4,
    announced: true,
    lastNotifiedAt: 5,
    seq: 6,
    severity: 'warning',
    provider: 'openrouter',
    labels: { team: 'a' },
    refreshedAt: 7,
    muted: 'silenced',
    value: 8,
    threshold: 9,
    unit: 'money',
    currency: 'USD',
    summary: 's',
  };
  const other: { [K in keyof AlertRecord]-?: AlertRecord[K] } = {
    ...base,
    key: 'k2',
    rule: 'balance_low',
    phase: 'resolved',
    activeSince: 11,
    heldRuns: 12,
    startsAt: 13,
    endsAt: 14,
    announced: false,
    lastNotifiedAt: 15,
    seq: 16,
    severity: 'critical',
    provider: 'openai',
    labels: { team: 'b' },
    refreshedAt: 17,
    muted: 'inhibited',
    value: 18,
    threshold: 19,
    unit: 'ratio',
    currency: 'EUR',
    summary: 't',
  };

  it.each(Object.entries(FIELDS))('%s is %s', (field, kind) => {
    const changed = { ...base, [field]: other[field as keyof AlertRecord] } as AlertRecord;
    expect(lifeChanged(base, changed)).toBe(kind === 'life');
    const { [field as keyof AlertRecord]: _dropped, ...without } = base;
    if (!['key', 'rule', 'phase', 'announced', 'seq', 'severity', 'provider', 'labels', 'summary'].includes(field)) {
      expect(lifeChanged(base, without as AlertRecord)).toBe(kind === 'life');
    }
  });

  it('an identical record, or equal labels in another object, is no change', () => {
    expect(lifeChanged(base, { ...base, labels: { team: 'a' } })).toBe(false);
  });
});
