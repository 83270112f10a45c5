/**
 * Alerting writes only what changed: a key run that changes neither an alert nor the key's memory
 * writes nothing, and what it does change is still on disk for a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
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
});
