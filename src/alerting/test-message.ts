/**
 * `keywatch notify-test`: a clearly marked test message sent directly (not through the outbox)
 * to each notifier, so a wrong URL or a rejected secret shows up now, not at the first real page.
 */
import type { ResolvedConfig } from '../config/load.js';
import type { Notifier } from '../config/schema.js';
import { alertFingerprint, type Notification } from './notification.js';
import { send, type SendResult } from './send.js';

export interface TestResult {
  notifier: string;
  type: Notifier['type'];
  result: SendResult;
}

export function testNotification(now: number): Notification {
  return {
    status: 'firing',
    rule: 'notify_test',
    severity: 'info',
    key: 'keywatch-notify-test',
    provider: 'keywatch',
    labels: {},
    summary: 'TEST: keywatch notify-test. This is not a real alert; no key is affected.',
    startsAt: now,
    fingerprint: alertFingerprint('keywatch-notify-test', `notify_test:${now}`),
    sequence: 1,
    repeat: false,
    test: true,
    // Alertmanager: let the test alert lapse on its own after five minutes.
    validForMs: 5 * 60_000,
  };
}

export async function sendTestNotifications(
  config: ResolvedConfig,
  opts: { notifier?: string; now?: number; timeoutMs?: number } = {},
): Promise<TestResult[]> {
  const now = opts.now ?? Date.now();
  const targets = config.raw.alerting.notifiers.filter((n) => opts.notifier === undefined || n.name === opts.notifier);
  const message = testNotification(now);
  const { externalUrl, dashboardUrl } = config.raw.server;
  return Promise.all(
    targets.map(async (n) => ({
      notifier: n.name,
      type: n.type,
      result: await send(n, [message], { now, ...(externalUrl !== undefined ? { externalUrl } : {}), ...(dashboardUrl !== undefined ? { dashboardUrl } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) }),
    })),
  );
}
