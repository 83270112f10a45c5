/**
 * The whole path: the OpenRouter simulator -> core's daemon (real runner, store, scheduler runs
 * driven by runOnce) -> alerting -> a local Slack receiver. A key spends below its limit
 * threshold: one firing message; it gets headroom again: one resolved message; nothing between.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createAlerting } from '../src/alerting/index.js';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { FAKE_KEY } from './fixtures/alerting/harness.js';
import { parseMetrics, startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { requireTool } from './helpers/tools.js';

let sim: OpenRouterSim;
let slack: Receiver;
let td: TestDaemon | undefined;
const SLACK_PATH = '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';

beforeEach(async () => {
  sim = await startOpenRouterSim({ keys: [{ key: FAKE_KEY, limit: 100, usage: 90, usagePerHour: 0 }] });
  slack = await startReceiver();
});
afterEach(async () => {
  await td?.cleanup();
  td = undefined;
  await sim.close();
  await slack.close();
});

it('simulated key crosses its limit threshold and recovers: one firing and one resolved Slack message', async () => {
  td = await startTestDaemon({
    alerting: createAlerting,
    env: { OPENROUTER_API_KEY: FAKE_KEY, SLACK_WEBHOOK_URL: `${slack.url}${SLACK_PATH}` },
    yaml: `
keys:
  - name: prod-main
    provider: openrouter
    key: \${OPENROUTER_API_KEY}
    baseUrl: ${sim.url}
    labels: { team: search }
    alerts: { limitRemainingBelow: 5 }
alerting:
  repeat: 4h
  notifiers:
    - { name: ops, type: slack, url: "\${SLACK_WEBHOOK_URL}" }
`,
  });
  const d = td.daemon;

  await d.runOnce(); // 10 left: fine
  sim.setKey(FAKE_KEY, { usage: 96 }); // 4 left: below 5
  await d.runOnce();
  await slack.waitFor(1);
  const firingMetric = parseMetrics(await td.metricsText());
  const apiAlerts = (await td.get('/api/alerts')).json() as { alerts: { key: string; rule: string; state: string }[] };
  await d.runOnce(); // still low: nothing new
  await d.runOnce();
  sim.setKey(FAKE_KEY, { usage: 50 }); // 50 left
  await d.runOnce();
  await slack.waitFor(2);
  await d.runOnce();
  await td.stop(); // flushes alerting

  const texts = slack.received.map((r) => (r.json as { text: string }).text);
  expect(texts).toHaveLength(2);
  expect(texts[0]).toMatch(/^\[FIRING\] limit_remaining_low on prod-main \(openrouter, warning\): limit remaining 4\.00 USD is below 5\.00 USD/);
  expect(texts[1]).toMatch(/^\[RESOLVED\] limit_remaining_low on prod-main/);
  for (const r of slack.received) {
    expect(r.body).not.toContain(FAKE_KEY);
    expect(r.body).not.toContain(FAKE_KEY.slice(-12));
  }
  expect(firingMetric.get('keywatch_alert_firing{key="prod-main",rule="limit_remaining_low",severity="warning"}')).toBe(1);
  expect(apiAlerts.alerts).toEqual([expect.objectContaining({ key: 'prod-main', rule: 'limit_remaining_low', state: 'firing' })]);
});

it('a silenced firing alert leaves keywatch_alert_firing and shows in keywatch_alert_muted; /api/alerts lists it muted', async () => {
  const endsAt = new Date(Date.now() + 3_600_000).toISOString();
  td = await startTestDaemon({
    alerting: createAlerting,
    env: { OPENROUTER_API_KEY: FAKE_KEY, SLACK_WEBHOOK_URL: `${slack.url}${SLACK_PATH}` },
    yaml: `
keys:
  - name: prod-main
    provider: openrouter
    key: \${OPENROUTER_API_KEY}
    baseUrl: ${sim.url}
    alerts: { limitRemainingBelow: 5, balanceBelow: 1000 }
alerting:
  notifiers:
    - { name: ops, type: slack, url: "\${SLACK_WEBHOOK_URL}" }
  silences:
    - { key: prod-main, rule: limit_remaining_low, endsAt: "${endsAt}" }
`,
  });
  sim.setKey(FAKE_KEY, { usage: 96 }); // 4 left: below 5, but silenced

  await td.daemon.runOnce();
  const text = await td.metricsText();
  const metrics = parseMetrics(text);
  const apiAlerts = (await td.get('/api/alerts')).json() as { alerts: { rule: string; state: string; muted: string | null }[] };

  expect(metrics.get('keywatch_alert_firing{key="prod-main",rule="limit_remaining_low",severity="warning"}')).toBeUndefined();
  expect(metrics.get('keywatch_alert_muted{key="prod-main",rule="limit_remaining_low",severity="warning",reason="silenced"}')).toBe(1);
  expect(apiAlerts.alerts).toContainEqual(expect.objectContaining({ rule: 'limit_remaining_low', state: 'firing', muted: 'silenced' }));
  const promtool = requireTool('promtool', 'prometheus');
  if (promtool !== undefined) {
    const res = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(res.stdout + res.stderr).toBe('');
  }
});
