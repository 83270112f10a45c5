/** Rendering stays inside Slack's limits and Alertmanager's label rules whatever the input. */
import { describe, expect, it } from 'vitest';
import { alertmanagerAlert, slackMessage, SLACK_MAX_BLOCKS, SLACK_MAX_TEXT, webhookBody, type Notification } from '../src/alerting/notification.js';

const base: Notification = {
  status: 'firing',
  rule: 'limit_remaining_low',
  severity: 'warning',
  key: 'prod-main',
  provider: 'openrouter',
  labels: { team: 'search', key: 'spoofed', alertname: 'spoofed' },
  value: 4.5,
  threshold: 5,
  unit: 'money',
  currency: 'USD',
  summary: 'limit remaining 4.50 USD is below 5.00 USD',
  startsAt: Date.parse('2026-03-02T10:00:00Z'),
  fingerprint: '0123456789abcdef',
  sequence: 1,
  repeat: false,
  keyFingerprint: 'a1b2c3d4',
  runwaySeconds: 7200,
};

function texts(blocks: Record<string, unknown>[]): string[] {
  return blocks.flatMap((b) => {
    const t = (b as { text?: { text: string } }).text?.text;
    const f = ((b as { fields?: { text: string }[] }).fields ?? []).map((x) => x.text);
    const e = ((b as { elements?: { text: string }[] }).elements ?? []).map((x) => x.text);
    return [...(t ? [t] : []), ...f, ...e];
  });
}

describe('slack', () => {
  it('one alert: key, provider, rule, value vs threshold, runway and link', () => {
    const msg = slackMessage([base], { externalUrl: 'https://kw.example' });

    const all = texts(msg.blocks).join('\n');
    expect(msg.text).toBe('[FIRING] limit_remaining_low on prod-main (openrouter, warning): limit remaining 4.50 USD is below 5.00 USD');
    expect(all).toContain('*Value*\n4.50 USD');
    expect(all).toContain('*Threshold*\n5.00 USD');
    expect(all).toContain('*Runway*\n2h');
    expect(all).toContain('<https://kw.example/api/keys/prod-main|open in keywatch>');
  });

  it('links to the dashboard template when set ({key} URL-encoded), else to the key JSON', () => {
    const links = { externalUrl: 'https://kw.example', dashboardUrl: 'https://grafana.example/d/kw?var-key={key}' };

    const dash = texts(slackMessage([{ ...base, key: 'team a/prod' }], links).blocks).join('\n');
    const hook = webhookBody(base, links);
    const none = texts(slackMessage([base]).blocks).join('\n');

    expect(dash).toContain('<https://grafana.example/d/kw?var-key=team%20a%2Fprod|open dashboard>');
    expect(dash).not.toContain('/api/keys/');
    expect(hook).toMatchObject({ url: 'https://kw.example/api/keys/prod-main', dashboardUrl: 'https://grafana.example/d/kw?var-key=prod-main' });
    expect(none).not.toContain('open ');
  });

  it('many alerts and huge summaries stay within 50 blocks and 3000 characters per text', () => {
    const many = Array.from({ length: 80 }, (_, i) => ({ ...base, key: `key-${i}`, summary: 'x'.repeat(5000) }));

    const combined = slackMessage(many);
    const single = slackMessage([{ ...base, summary: '<script>&'.repeat(1000) }]);

    for (const m of [combined, single]) {
      expect(m.blocks.length).toBeLessThanOrEqual(SLACK_MAX_BLOCKS);
      expect(m.text.length).toBeLessThanOrEqual(SLACK_MAX_TEXT);
      for (const t of texts(m.blocks)) expect(t.length).toBeLessThanOrEqual(SLACK_MAX_TEXT);
    }
    expect(texts(combined.blocks).at(-1)).toMatch(/^…and \d+ more$/);
    expect(texts(single.blocks).join('')).not.toContain('<script>');
  });
});

describe('alertmanager and webhook', () => {
  it("a key's config labels cannot override alertname, key, provider or severity", () => {
    const a = alertmanagerAlert(base, undefined, base.startsAt);

    expect(a.labels).toEqual({ team: 'search', alertname: 'limit_remaining_low', key: 'prod-main', provider: 'openrouter', severity: 'warning' });
  });

  it('a firing alert carries an endsAt validity; a resolved one its end', () => {
    const now = base.startsAt + 60_000;

    const firing = alertmanagerAlert({ ...base, validForMs: 900_000 }, undefined, now);
    const resolved = alertmanagerAlert({ ...base, status: 'resolved', endsAt: now }, undefined, now);

    expect(firing.endsAt).toBe(new Date(now + 900_000).toISOString());
    expect(resolved.endsAt).toBe(new Date(now).toISOString());
  });

  it('the webhook body has every contract field, endsAt only when resolved', () => {
    const firing = webhookBody(base);
    const resolved = webhookBody({ ...base, status: 'resolved', endsAt: base.startsAt + 1000 });

    expect(Object.keys(firing)).toEqual(expect.arrayContaining(['version', 'status', 'rule', 'severity', 'key', 'provider', 'labels', 'value', 'threshold', 'summary', 'startsAt', 'fingerprint']));
    expect(firing).not.toHaveProperty('endsAt');
    expect(resolved.endsAt).toBe('2026-03-02T10:00:01.000Z');
  });
});
