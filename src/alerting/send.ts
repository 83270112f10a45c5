/**
 * Delivers rendered notifications over HTTP POST. This is the only place a notifier URL or
 * signing secret is revealed, and neither ever appears in a result, a log or an error.
 */
import { createHmac } from 'node:crypto';
import type { Notifier } from '../config/schema.js';
import { scrubSecrets } from '../secret.js';
import {
  alertmanagerAlert,
  deliveryId,
  slackMessage,
  webhookBody,
  type Links,
  type Notification,
} from './notification.js';

export interface SendResult {
  ok: boolean;
  status?: number;
  /** The receiver asked us to wait (429/503 Retry-After), ms. */
  retryAfterMs?: number;
  /** Retrying cannot help (4xx other than 408/429). */
  permanent?: boolean;
  /** Short, secret-free reason. */
  error?: string;
}

export interface SendOptions {
  externalUrl?: string;
  /** server.dashboardUrl: a URL template with {key}; Slack links there instead of the key's JSON. */
  dashboardUrl?: string;
  timeoutMs?: number;
  /** Slack only: a heading for a combined message (digest). */
  title?: string;
  now?: number;
}

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What would be POSTed (tests and notify-test use the same path as the outbox). */
export function render(n: Notifier, batch: readonly Notification[], opts: SendOptions = {}): { url: string; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'keywatch/0.1' };
  switch (n.type) {
    case 'slack':
      return { url: n.url.reveal(), headers, body: JSON.stringify(slackMessage(batch, linksOf(opts), opts.title)) };
    case 'webhook': {
      const one = batch[0]!;
      const body = JSON.stringify(webhookBody(one, linksOf(opts)));
      Object.assign(headers, n.headers ?? {});
      // Receivers de-duplicate on this: the outbox is at-least-once.
      headers['x-keywatch-delivery'] = deliveryId(one);
      if (n.secret) headers['x-keywatch-signature'] = signBody(body, n.secret.reveal());
      return { url: n.url.reveal(), headers, body };
    }
    case 'alertmanager': {
      const url = `${n.url.replace(/\/+$/, '')}/api/v2/alerts`;
      return { url, headers, body: JSON.stringify(batch.map((a) => alertmanagerAlert(a, opts.externalUrl, opts.now))) };
    }
  }
}

export async function send(n: Notifier, batch: readonly Notification[], opts: SendOptions = {}): Promise<SendResult> {
  const { url, headers, body } = render(n, batch, opts);
  const timeout = opts.timeoutMs ?? 10_000;
  try {
    // undici whole, loaded when the first notification goes out rather than at start-up (src/http/undici.ts).
    const { request } = await import('undici');
    const res = await request(url, { method: 'POST', headers, body, headersTimeout: timeout, bodyTimeout: timeout });
    // Drain so the connection is reused; the body is not ours to show (it may echo the URL).
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { ok: true, status };
    const retryAfterMs = parseRetryAfter(headerValue(res.headers['retry-after']), opts.now ?? Date.now());
    const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
    return { ok: false, status, permanent, error: `HTTP ${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, error: scrubSecrets(code ?? (err as Error).name ?? 'send failed') };
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Seconds, or an HTTP date. Capped at one hour so a bad header cannot park the queue. */
export function parseRetryAfter(v: string | undefined, now: number): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const s = v.trim();
  let ms: number | undefined;
  if (/^\d+(\.\d+)?$/.test(s)) ms = Number(s) * 1000;
  else {
    const at = Date.parse(s);
    if (!Number.isNaN(at)) ms = Math.max(0, at - now);
  }
  return ms === undefined ? undefined : Math.min(ms, 3_600_000);
}

function linksOf(opts: SendOptions): Links {
  return {
    ...(opts.externalUrl !== undefined ? { externalUrl: opts.externalUrl } : {}),
    ...(opts.dashboardUrl !== undefined ? { dashboardUrl: opts.dashboardUrl } : {}),
  };
}
