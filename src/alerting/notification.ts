/**
 * One notification as it is queued (secret-free), and how each notifier type renders it:
 * the contract's webhook body, a Slack Block Kit message, Alertmanager's v2 alert list.
 */
import { createHash } from 'node:crypto';
import { formatDuration } from '../config/duration.js';
import type { Unit } from './rules.js';
import type { Severity } from './types.js';

export interface Notification {
  status: 'firing' | 'resolved';
  rule: string;
  severity: Severity;
  key: string;
  provider: string;
  labels: Record<string, string>;
  value?: number | string;
  threshold?: number | string;
  unit?: Unit;
  currency?: string;
  summary: string;
  /** Epoch ms. */
  startsAt: number;
  endsAt?: number;
  /** Alert identity: stable per (key, rule). */
  fingerprint: string;
  /** Per (key, rule) notification counter: fingerprint+status+sequence is the delivery id. */
  sequence: number;
  repeat: boolean;
  /** The key's own fingerprint (first 8 hex of SHA-256): safe to show, never the key. */
  keyFingerprint?: string;
  runwaySeconds?: number;
  /** `keywatch notify-test`: not a real alert. */
  test?: boolean;
  /** Alertmanager only: a firing alert lapses this long after it was sent unless refreshed. */
  validForMs?: number;
}

export function alertFingerprint(key: string, rule: string): string {
  return createHash('sha256').update(`${key}\u0000${rule}`).digest('hex').slice(0, 16);
}

export function deliveryId(n: Notification): string {
  return `${n.fingerprint}:${n.status}:${n.sequence}`;
}

/** Where a notification links to: keywatch's own URL, and optionally a dashboard URL template with {key}. */
export interface Links {
  externalUrl?: string;
  dashboardUrl?: string;
}

/** The generic webhook body, exactly the contract's fields plus a few additive ones. */
export function webhookBody(n: Notification, links: Links = {}): Record<string, unknown> {
  const { externalUrl } = links;
  return {
    version: 1,
    status: n.status,
    rule: n.rule,
    severity: n.severity,
    key: n.key,
    provider: n.provider,
    labels: n.labels,
    value: n.value ?? null,
    threshold: n.threshold ?? null,
    summary: n.summary,
    startsAt: new Date(n.startsAt).toISOString(),
    ...(n.endsAt !== undefined ? { endsAt: new Date(n.endsAt).toISOString() } : {}),
    fingerprint: n.fingerprint,
    sequence: n.sequence,
    repeat: n.repeat,
    ...(n.unit !== undefined ? { unit: n.unit } : {}),
    ...(n.currency !== undefined ? { currency: n.currency } : {}),
    ...(n.keyFingerprint !== undefined ? { keyFingerprint: n.keyFingerprint } : {}),
    ...(n.runwaySeconds !== undefined ? { runwaySeconds: n.runwaySeconds } : {}),
    ...(externalUrl !== undefined ? { url: keyUrl(externalUrl, n.key) } : {}),
    ...(links.dashboardUrl !== undefined ? { dashboardUrl: dashboardLink(links.dashboardUrl, n.key) } : {}),
    ...(n.test ? { test: true } : {}),
  };
}

/** Slack's limits: 50 blocks per message, 3000 characters per section text, 150 per header. */
export const SLACK_MAX_BLOCKS = 50;
export const SLACK_MAX_TEXT = 3000;
const SLACK_MAX_HEADER = 150;
const SLACK_MAX_FIELD = 2000;

export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

/** One or several notifications (a digest, or what a rate limit held back) as one Slack message. */
export function slackMessage(ns: readonly Notification[], links: Links = {}, title?: string): SlackMessage {
  if (ns.length === 1 && title === undefined) return slackSingle(ns[0]!, links);
  const heading = title ?? `keywatch: ${ns.length} alert notifications`;
  const blocks: Record<string, unknown>[] = [header(heading)];
  // Each alert takes 2 blocks (section + context); keep one slot for the "and N more" line.
  const room = Math.floor((SLACK_MAX_BLOCKS - 2) / 2);
  for (const n of ns.slice(0, room)) {
    blocks.push(section(`${icon(n)} *${statusWord(n)}* \`${n.rule}\` on *${esc(n.key)}* (${esc(n.provider)}, ${n.severity})\n${esc(n.summary)}`));
    blocks.push(context(contextText(n, links)));
  }
  if (ns.length > room) blocks.push(section(`…and ${ns.length - room} more`));
  const text = truncate(`${heading}: ${ns.map((n) => `${statusWord(n)} ${n.rule} on ${n.key}`).join('; ')}`, SLACK_MAX_TEXT);
  return { text, blocks };
}

function slackSingle(n: Notification, links: Links): SlackMessage {
  const text = truncate(
    `${n.test ? '[TEST] ' : ''}[${statusWord(n)}] ${n.rule} on ${n.key} (${n.provider}, ${n.severity}): ${n.summary}`,
    SLACK_MAX_TEXT,
  );
  const fields = [
    ['Key', n.key],
    ['Provider', n.provider],
    ['Rule', n.rule],
    ['Severity', n.severity],
    ['Value', formatValue(n.value, n)],
    ['Threshold', formatValue(n.threshold, n)],
  ];
  if (n.runwaySeconds !== undefined) fields.push(['Runway', formatDuration(n.runwaySeconds * 1000)]);
  const blocks: Record<string, unknown>[] = [
    header(`${n.test ? 'TEST: ' : ''}${icon(n)} ${statusWord(n)}: ${n.rule} on ${n.key}`),
    section(esc(n.summary)),
    {
      type: 'section',
      fields: fields.map(([k, v]) => ({ type: 'mrkdwn', text: truncate(`*${k}*\n${esc(v ?? '')}`, SLACK_MAX_FIELD) })),
    },
    context(contextText(n, links)),
  ];
  if (n.test) blocks.push(context('This is a test message from `keywatch notify-test`; no alert is firing.'));
  return { text, blocks };
}

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

/** Alertmanager v2: our labels first, then the key's config labels (which cannot override ours). */
export function alertmanagerAlert(n: Notification, externalUrl?: string, now = Date.now()): AlertmanagerAlert {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(n.labels)) labels[k] = v;
  Object.assign(labels, { alertname: n.test ? 'keywatch_notify_test' : n.rule, key: n.key, provider: n.provider, severity: n.severity });
  const annotations: Record<string, string> = { summary: n.summary };
  if (n.value !== undefined) annotations.value = formatValue(n.value, n);
  if (n.threshold !== undefined) annotations.threshold = formatValue(n.threshold, n);
  if (n.runwaySeconds !== undefined) annotations.runway = formatDuration(n.runwaySeconds * 1000);
  if (n.keyFingerprint !== undefined) annotations.key_fingerprint = n.keyFingerprint;
  const endsAt = n.status === 'resolved' ? (n.endsAt ?? now) : n.validForMs !== undefined ? now + n.validForMs : undefined;
  return {
    labels,
    annotations,
    startsAt: new Date(n.startsAt).toISOString(),
    ...(endsAt !== undefined ? { endsAt: new Date(endsAt).toISOString() } : {}),
    ...(externalUrl !== undefined ? { generatorURL: keyUrl(externalUrl, n.key) } : {}),
  };
}

export function formatValue(v: number | string | undefined, n: Pick<Notification, 'unit' | 'currency'>): string {
  if (v === undefined || v === '') return '—';
  if (typeof v === 'string') return v;
  switch (n.unit) {
    case 'money':
      return `${v.toFixed(2)}${n.currency ? ` ${n.currency}` : ''}`;
    case 'seconds':
      return v <= 0 ? 'now' : formatDuration(v * 1000);
    case 'ratio':
      return `${(v * 100).toFixed(1)}%`;
    default:
      return String(v);
  }
}

export function keyUrl(externalUrl: string, key: string): string {
  return `${externalUrl.replace(/\/+$/, '')}/api/keys/${encodeURIComponent(key)}`;
}

/** server.dashboardUrl with {key} filled in (URL-encoded: key names are safe, labels in them need not be). */
export function dashboardLink(template: string, key: string): string {
  return template.split('{key}').join(encodeURIComponent(key));
}

/** The link people follow from a message: the dashboard when configured, else keywatch's key JSON. */
export function alertLink(links: Links, key: string): { url: string; label: string } | undefined {
  if (links.dashboardUrl !== undefined) return { url: dashboardLink(links.dashboardUrl, key), label: 'open dashboard' };
  if (links.externalUrl !== undefined) return { url: keyUrl(links.externalUrl, key), label: 'open in keywatch' };
  return undefined;
}

function statusWord(n: Notification): string {
  if (n.status === 'resolved') return 'RESOLVED';
  return n.repeat ? 'STILL FIRING' : 'FIRING';
}

function icon(n: Notification): string {
  if (n.status === 'resolved') return ':white_check_mark:';
  return n.severity === 'critical' ? ':rotating_light:' : n.severity === 'warning' ? ':warning:' : ':information_source:';
}

function contextText(n: Notification, links: Links): string {
  const parts = [`since ${new Date(n.startsAt).toISOString()}`];
  if (n.endsAt !== undefined) parts.push(`ended ${new Date(n.endsAt).toISOString()}`);
  if (n.keyFingerprint) parts.push(`key fp \`${n.keyFingerprint}\``);
  parts.push(`alert \`${n.fingerprint}\``);
  const link = alertLink(links, n.key);
  if (link !== undefined) parts.push(`<${link.url}|${link.label}>`);
  return parts.join(' · ');
}

function header(text: string): Record<string, unknown> {
  return { type: 'header', text: { type: 'plain_text', text: truncate(text, SLACK_MAX_HEADER), emoji: true } };
}

function section(text: string): Record<string, unknown> {
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(text, SLACK_MAX_TEXT) } };
}

function context(text: string): Record<string, unknown> {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, SLACK_MAX_TEXT) }] };
}

/** Slack mrkdwn needs &, < and > escaped. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
