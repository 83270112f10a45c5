/**
 * End to end against a local receiver: what a Slack channel or a webhook endpoint actually gets,
 * through the durable outbox, with retries, Retry-After, signatures and rate limits.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { config, FAKE_KEY, harness, keyState, type Harness } from './fixtures/alerting/harness.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { SLACK_MAX_BLOCKS, SLACK_MAX_TEXT } from '../src/alerting/notification.js';
import { createLogger } from '../src/log.js';

let receiver: Receiver;
let h: Harness | undefined;
beforeEach(async () => {
  receiver = await startReceiver();
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await receiver.close();
});

const SLACK_PATH = '/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX';

function slackYaml(extra = ''): string {
  return `
server: { externalUrl: "https://keywatch.example.internal" }
keys:
  - name: prod-main
    provider: openrouter
    key: \${TEST_KEY}
    labels: { team: search }
    alerts: { limitRemainingBelow: 5 }
alerting:
  notifiers:
    - { name: ops, type: slack, url: "${receiver.url}${SLACK_PATH}"${extra} }
`;
}

const at = (remaining: number) => keyState({ facts: { limit: 100, limitRemaining: remaining, currency: 'USD' } });

describe('slack, end to end', () => {
  it('links to server.dashboardUrl with {key} filled in when it is set, instead of the key JSON', async () => {
    const yaml = slackYaml().replace(
      'server: { externalUrl: "https://keywatch.example.internal" }',
      'server: { externalUrl: "https://keywatch.example.internal", dashboardUrl: "https://grafana.example/d/keywatch-key?var-key={key}&orgId=1" }',
    );
    h = harness(config(yaml), { now: Date.now });

    h.alerting.evaluate(at(3), Date.now());
    await h.alerting.flush(5000);

    expect(receiver.received).toHaveLength(1);
    const blocks = JSON.stringify((receiver.received[0]!.json as { blocks: unknown }).blocks);
    expect(blocks).toContain('<https://grafana.example/d/keywatch-key?var-key=prod-main&orgId=1|open dashboard>');
    expect(blocks).not.toContain('/api/keys/prod-main');
  });

  it('a key crossing its limit threshold: one firing message, then one resolved message, nothing in between', async () => {
    h = harness(config(slackYaml()), { now: Date.now });
    const series = [20, 10, 6, 4.5, 3, 2, 4, 5.2, 8, 9];

    for (const remaining of series) {
      h.alerting.evaluate(at(remaining), Date.now());
      await h.alerting.flush(5000);
    }

    expect(receiver.received).toHaveLength(2);
    const [firing, resolved] = receiver.received.map((r) => r.json as { text: string; blocks: Record<string, unknown>[] });
    expect(firing!.text).toMatch(/^\[FIRING\] limit_remaining_low on prod-main \(openrouter, warning\)/);
    expect(resolved!.text).toMatch(/^\[RESOLVED\] limit_remaining_low on prod-main/);
    const firingBlocks = JSON.stringify(firing!.blocks);
    expect(firingBlocks).toContain('4.50 USD'); // value
    expect(firingBlocks).toContain('5.00 USD'); // threshold
    expect(firingBlocks).toContain('https://keywatch.example.internal/api/keys/prod-main');
    for (const r of receiver.received) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe(SLACK_PATH);
      expect(r.body).not.toContain(FAKE_KEY);
      expect(r.body).not.toContain(FAKE_KEY.slice(-20));
      expect(r.body).not.toContain(SLACK_PATH); // the webhook URL is a credential too
      const msg = r.json as { blocks: { text?: { text: string }; fields?: { text: string }[] }[] };
      expect(msg.blocks.length).toBeLessThanOrEqual(SLACK_MAX_BLOCKS);
      for (const b of msg.blocks) {
        for (const t of [b.text?.text, ...(b.fields ?? []).map((f) => f.text)]) expect((t ?? '').length).toBeLessThanOrEqual(SLACK_MAX_TEXT);
      }
    }
  });

  it('500, then 429 with Retry-After, then 200: the message arrives once, after the wait', async () => {
    h = harness(config(slackYaml()), { now: Date.now, retry: { baseMs: 50 } });
    receiver.script({ status: 500 }, { status: 429, headers: { 'retry-after': '1' } });

    h.alerting.evaluate(at(1), Date.now());
    await h.alerting.flush(10_000);

    const got = receiver.received;
    expect(got.map((r) => r.status)).toEqual([500, 429, 200]);
    expect(new Set(got.map((r) => r.body)).size).toBe(1); // the same message each time
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(1000);
    expect(await counter(h, 'keywatch_notifications_total')).toBe(3);
    expect(await counter(h, 'keywatch_notification_failures_total')).toBe(2);
    expect(h.alerting.outbox!().map((r) => [r.status, r.attempts])).toEqual([['delivered', 3]]);
  });

  it('delivery failures are logged with the notifier and status, never the webhook URL or the key', async () => {
    let logged = '';
    const sink = { write: (line: string) => void (logged += line) } as unknown as NodeJS.WritableStream;
    h = harness(config(slackYaml()), { now: Date.now, retry: { baseMs: 20 }, log: createLogger({ destination: sink, level: 'debug' }) });
    receiver.script({ status: 503 });

    h.alerting.evaluate(at(1), Date.now());
    await h.alerting.flush(3000);

    const lines = logged.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'notification delivery failed; will retry')).toMatchObject({ notifier: 'ops', status: 503, error: 'HTTP 503' });
    expect(lines.find((l) => l.msg === 'notification delivered')).toMatchObject({ notifier: 'ops' });
    expect(logged).not.toContain(SLACK_PATH);
    expect(logged).not.toContain('XXXXXXXXXXXX');
    expect(logged).not.toContain(FAKE_KEY);
  });

  it('after a restart, what was queued but not delivered goes out without waiting for a probe run', async () => {
    h = harness(config(slackYaml()), { now: Date.now, retry: { baseMs: 300 } });
    receiver.script({ status: 500 });
    h.alerting.evaluate(at(1), Date.now());
    await receiver.waitFor(1);

    h.restart();
    await receiver.waitFor(2, 5000);

    expect(receiver.received.map((r) => r.status)).toEqual([500, 200]);
  });

  it('a rate limit holds messages instead of dropping them, then sends them as one combined message', async () => {
    const cfg = config(`
alerting:
  thresholds: { limitRemainingBelow: 5 }
  notifiers:
    - { name: ops, type: slack, url: "${receiver.url}${SLACK_PATH}", rateLimit: { max: 1, per: 1s } }
`);
    h = harness(cfg, { now: Date.now });
    const low = (name: string) => keyState({ name, facts: { limit: 100, limitRemaining: 1 } });

    h.alerting.evaluate(low('a-key'), Date.now());
    await h.alerting.flush(500);
    h.alerting.evaluate(low('b-key'), Date.now());
    h.alerting.evaluate(low('c-key'), Date.now());
    await h.alerting.flush(5000);

    const texts = receiver.received.map((r) => (r.json as { text: string }).text);
    expect(texts).toHaveLength(2);
    expect(texts[0]).toMatch(/^\[FIRING\] limit_remaining_low on a-key/);
    expect(texts[1]).toMatch(/^keywatch: 2 alert notifications: FIRING limit_remaining_low on b-key; FIRING limit_remaining_low on c-key/);
    expect(receiver.received[1]!.at - receiver.received[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it('digest rules wait for the interval boundary and arrive as one message', async () => {
    const cfg = config(`
alerting:
  thresholds: { probeFailures: 1 }
  digest: { rules: [probe_failing], interval: 1s }
  notifiers:
    - { name: ops, type: slack, url: "${receiver.url}${SLACK_PATH}" }
`);
    h = harness(cfg, { now: Date.now });

    for (const name of ['k1', 'k2', 'k3']) h.alerting.evaluate(keyState({ name, consecutiveFailures: 1, facts: {} }), Date.now());
    await h.alerting.flush(3000);

    expect(receiver.received).toHaveLength(1);
    const msg = receiver.received[0]!.json as { text: string; blocks: unknown[] };
    expect(msg.text).toMatch(/^keywatch digest: 3 notifications/);
    expect(msg.blocks.length).toBe(1 + 3 * 2);
  });
});

describe('webhook', () => {
  it('the body is the contract shape and verifies with its HMAC-SHA256 signature', async () => {
    const cfg = config(
      `
keys:
  - { name: prod-main, provider: openrouter, key: "\${TEST_KEY}", labels: { team: search }, alerts: { balanceBelow: 10 } }
alerting:
  notifiers:
    - { name: hook, type: webhook, url: "${receiver.url}/hook", secret: "\${HOOK_SECRET}", headers: { x-team: search } }
`,
      { HOOK_SECRET: 'whsec-test-not-a-real-secret-123' },
    );
    h = harness(cfg, { now: Date.now });

    h.alerting.evaluate(keyState({ facts: { balance: 3, currency: 'USD' } }), Date.now());
    await h.alerting.flush(5000);

    expect(receiver.received).toHaveLength(1);
    const r = receiver.received[0]!;
    const expected = `sha256=${createHmac('sha256', 'whsec-test-not-a-real-secret-123').update(r.body).digest('hex')}`;
    const got = String(r.headers['x-keywatch-signature']);
    expect(timingSafeEqual(Buffer.from(got), Buffer.from(expected))).toBe(true);
    expect(r.headers['x-team']).toBe('search');
    expect(r.headers['x-keywatch-delivery']).toMatch(/^[0-9a-f]{16}:firing:1$/);
    expect(r.json).toMatchObject({
      version: 1,
      status: 'firing',
      rule: 'balance_low',
      severity: 'warning',
      key: 'prod-main',
      provider: 'openrouter',
      labels: { team: 'search' },
      value: 3,
      threshold: 10,
      summary: 'balance 3.00 USD is below 10.00 USD',
      startsAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(r.body).not.toContain(FAKE_KEY);
    expect(r.body).not.toContain('whsec-test');
  });

  it('a permanent 4xx is given up (not retried forever) and counted as a failure', async () => {
    h = harness(
      config(`
keys: [{ name: prod-main, provider: openrouter, key: "\${TEST_KEY}", alerts: { balanceBelow: 10 } }]
alerting:
  notifiers: [{ name: hook, type: webhook, url: "${receiver.url}/gone" }]
`),
      { now: Date.now, retry: { baseMs: 10 } },
    );
    receiver.script({ status: 404 });

    h.alerting.evaluate(keyState({ facts: { balance: 3 } }), Date.now());
    await h.alerting.flush(2000);

    expect(receiver.received).toHaveLength(1);
    expect(h.alerting.outbox!().map((r) => r.status)).toEqual(['failed']);
    expect(await counter(h, 'keywatch_notification_failures_total')).toBe(1);
  });
});

async function counter(hh: Harness, name: string): Promise<number> {
  const m = await hh.registry.getSingleMetric(name)!.get();
  return m.values.reduce((s, v) => s + v.value, 0);
}
