/**
 * Silences and maintenance windows: a matcher (key, rule, labels; all given must match) that is
 * active from startsAt (or always) until endsAt. They come from the config and from
 * POST /api/silences; both expire on their own, so there is no delete.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Duration } from '../config/schema.js';
import { RULES } from './rules.js';

export interface SilenceRule {
  id: string;
  /** Exact key name, or a glob with `*` (e.g. `acme.*`). */
  key?: string;
  rule?: string;
  labels?: Record<string, string>;
  /** Epoch ms; undefined = already started. */
  startsAt?: number;
  endsAt: number;
  comment?: string;
  createdBy?: string;
  source: 'config' | 'api';
}

export interface SilenceTarget {
  key: string;
  rule: string;
  labels: Record<string, string>;
}

/** The body POST /api/silences accepts: endsAt, or a duration from startsAt (or now). */
export const SilenceRequest = z
  .strictObject({
    key: z.string().min(1).optional(),
    rule: z
      .string()
      .refine((r) => (RULES as readonly string[]).includes(r), { message: `unknown rule (one of ${RULES.join(', ')})` })
      .optional(),
    labels: z.record(z.string(), z.string()).optional(),
    startsAt: z.string().datetime({ offset: true }).optional(),
    endsAt: z.string().datetime({ offset: true }).optional(),
    duration: Duration.optional(),
    comment: z.string().max(1000).optional(),
    createdBy: z.string().max(200).optional(),
  })
  .refine((s) => (s.endsAt === undefined) !== (s.duration === undefined), {
    message: 'give endsAt or duration (one of them)',
    path: ['endsAt'],
  })
  .refine((s) => s.key !== undefined || s.rule !== undefined || (s.labels && Object.keys(s.labels).length > 0), {
    message: 'a silence needs at least one of key, rule or labels (it would silence everything)',
    path: ['key'],
  });
export type SilenceRequest = z.infer<typeof SilenceRequest>;

export function fromRequest(req: SilenceRequest, now: number, id: string): SilenceRule {
  const startsAt = req.startsAt !== undefined ? Date.parse(req.startsAt) : undefined;
  const endsAt = req.endsAt !== undefined ? Date.parse(req.endsAt) : (startsAt ?? now) + (req.duration ?? 0);
  return {
    id,
    ...(req.key !== undefined ? { key: req.key } : {}),
    ...(req.rule !== undefined ? { rule: req.rule } : {}),
    ...(req.labels !== undefined ? { labels: req.labels } : {}),
    ...(startsAt !== undefined ? { startsAt } : {}),
    endsAt,
    ...(req.comment !== undefined ? { comment: req.comment } : {}),
    ...(req.createdBy !== undefined ? { createdBy: req.createdBy } : {}),
    source: 'api',
  };
}

export interface ConfigSilence {
  key?: string | undefined;
  rule?: string | undefined;
  labels?: Record<string, string> | undefined;
  startsAt?: string | undefined;
  endsAt: string;
  comment?: string | undefined;
}

/** Config silences get a stable id from their content, so a reload keeps their identity. */
export function fromConfig(s: ConfigSilence): SilenceRule {
  const id = 'cfg-' + createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 12);
  return {
    id,
    ...(s.key !== undefined ? { key: s.key } : {}),
    ...(s.rule !== undefined ? { rule: s.rule } : {}),
    ...(s.labels !== undefined ? { labels: s.labels } : {}),
    ...(s.startsAt !== undefined ? { startsAt: Date.parse(s.startsAt) } : {}),
    endsAt: Date.parse(s.endsAt),
    ...(s.comment !== undefined ? { comment: s.comment } : {}),
    source: 'config',
  };
}

export function isActive(s: SilenceRule, now: number): boolean {
  return (s.startsAt === undefined || s.startsAt <= now) && now < s.endsAt;
}

export function matches(s: SilenceRule, t: SilenceTarget): boolean {
  if (s.key !== undefined && !globMatch(s.key, t.key)) return false;
  if (s.rule !== undefined && s.rule !== t.rule) return false;
  for (const [k, v] of Object.entries(s.labels ?? {})) {
    if (t.labels[k] !== v) return false;
  }
  return true;
}

export function activeSilenceFor(silences: readonly SilenceRule[], t: SilenceTarget, now: number): SilenceRule | undefined {
  return silences.find((s) => isActive(s, now) && matches(s, t));
}

export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp('^' + pattern.split('*').map(escapeRe).join('.*') + '$');
  return re.test(value);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
