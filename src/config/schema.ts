/**
 * The config file's shape (see ../shared/CONTRACT.md). Strict on what we own: an unknown field
 * is an error. Defaults live beside their fields. Durations arrive as text and leave as ms.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { Secret } from '../secret.js';
import { parseDuration } from './duration.js';

/**
 * Alert rule names (stable: see CONTRACT.md), so a typo in severities, silences, notifier match or
 * digest is an error instead of a rule that silently never matches. The same set as alerting's
 * `RuleName`/`RULES` (test/config.test.ts fails when they drift).
 */
export const RULE_NAMES = [
  'key_invalid',
  'limit_remaining_low',
  'balance_low',
  'exhaustion_soon',
  'stability_degraded',
  'probe_failing',
  'identity_changed',
  'model_access_lost',
  'key_expiring',
] as const;

const DURATION_PATTERN = /^(0|(\d+(\.\d+)?(ms|s|m|h|d|w))+)$/;

/** `interval: 30` is a YAML number: say what is missing rather than only "expected string". */
const durationString = () =>
  z.string({ error: (iss) => (typeof iss.input === 'number' ? 'expected a duration such as 30s (a number needs a unit)' : undefined) });

/** A pattern (not only a refine) so the JSON Schema tells editors too. */
export const Duration = durationString()
  .regex(DURATION_PATTERN, { message: 'expected a duration such as 500ms, 30s, 5m, 48h or 30d' })
  .transform((s) => parseDuration(s)!);

/**
 * For periods where zero makes no sense (an interval of 0 would run a key in a tight loop).
 * The second pattern (a non-zero digit) tells editors too; the refine catches what rounds to 0 ms.
 */
export const PositiveDuration = durationString()
  .regex(DURATION_PATTERN, { message: 'expected a duration such as 500ms, 30s, 5m, 48h or 30d', abort: true })
  .regex(/[1-9]/, { message: 'must be more than 0' })
  .transform((s) => parseDuration(s)!)
  .refine((ms) => ms > 0, { message: 'must be more than 0' });

/** Why croner refuses a pattern, or undefined when it accepts it. The pattern itself is not echoed. */
export function cronProblem(pattern: string): string | undefined {
  try {
    new Cron(pattern, { paused: true }).stop();
    return undefined;
  } catch (err) {
    const reason = (err as Error).message.replace(/^CronPattern:\s*/, '').split(pattern).join('…');
    return `invalid cron pattern (${reason})`;
  }
}

/** A croner pattern (seconds field allowed), checked here so `validate` catches what `run` would refuse. */
const CronPattern = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    const problem = cronProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const RuleName = z.enum(RULE_NAMES);

const KeyName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, { message: 'must match [a-z0-9][a-z0-9_.-]* (lowercase, digits, _ . -)' });

const Listen = z
  .string()
  .regex(/^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, { message: 'expected host:port, e.g. 127.0.0.1:9477' });

const Url = z.string().refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), {
  message: 'expected an http(s) URL',
});

/** A credential: wrapped at parse time so the parsed config never holds it in the clear. */
const SecretString = z
  .string()
  .min(1)
  .transform((v) => new Secret(v));

/** A URL that carries a credential (Slack incoming webhooks): validated, then wrapped. */
const SecretUrl = z
  .string()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { message: 'expected an http(s) URL' })
  .transform((v) => new Secret(v));

const Labels = z.record(
  z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, { message: 'label names must match [a-zA-Z_][a-zA-Z0-9_]*' }),
  z.string(),
);

export const Thresholds = z.strictObject({
  limitRemainingBelow: z.number().nonnegative().optional(),
  limitRemainingRatioBelow: z.number().min(0).max(1).optional(),
  balanceBelow: z.number().nonnegative().optional(),
  exhaustionWithin: Duration.optional(),
  stabilityBelow: z.number().min(0).max(1).optional(),
  /** key_expiring fires this long before expires_at. */
  expiringWithin: Duration.optional(),
  /** probe_failing fires after this many consecutive failed probe runs. */
  probeFailures: z.number().int().positive().optional(),
  /** Recovery margin (fraction of the threshold) a value must clear before a firing alert resolves; default 0.1. */
  hysteresis: z.number().min(0).max(1).optional(),
});
export type Thresholds = z.infer<typeof Thresholds>;

const Severity = z.enum(['critical', 'warning', 'info']);

/** Routing: which keys/severities/rules/labels a notifier gets; absent or empty = all. */
const NotifierMatch = z.strictObject({
  severity: z.array(Severity).optional(),
  keys: z.array(z.string()).optional(),
  rules: z.array(RuleName).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

/** At most `max` notifications per `per`; the rest are held (never dropped). */
const NotifierRateLimit = z.strictObject({ max: z.number().int().positive(), per: PositiveDuration });

export const Notifier = z.discriminatedUnion('type', [
  z.strictObject({
    name: z.string().min(1),
    type: z.literal('slack'),
    url: SecretUrl,
    match: NotifierMatch.optional(),
    rateLimit: NotifierRateLimit.optional(),
  }),
  z.strictObject({
    name: z.string().min(1),
    type: z.literal('webhook'),
    url: SecretUrl,
    secret: SecretString.optional(),
    headers: z.record(z.string(), z.string()).optional(),
    match: NotifierMatch.optional(),
    rateLimit: NotifierRateLimit.optional(),
  }),
  z.strictObject({
    name: z.string().min(1),
    type: z.literal('alertmanager'),
    url: Url,
    match: NotifierMatch.optional(),
  }),
]);
export type Notifier = z.infer<typeof Notifier>;

export const Silence = z.strictObject({
  key: z.string().optional(),
  rule: RuleName.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  /** ISO date-time; absent = no start bound. */
  startsAt: z.string().datetime({ offset: true }).optional(),
  endsAt: z.string().datetime({ offset: true }),
  comment: z.string().optional(),
});

export const KeyConfig = z
  .strictObject({
    name: KeyName,
    provider: z.string().min(1),
    key: SecretString.optional(),
    keyFile: z.string().min(1).optional(),
    adminKey: SecretString.optional(),
    baseUrl: Url.optional(),
    interval: PositiveDuration.optional(),
    schedule: CronPattern.optional(),
    timeout: PositiveDuration.optional(),
    labels: Labels.default({}),
    watchModels: z.array(z.string().min(1)).default([]),
    alerts: Thresholds.optional(),
    enabled: z.boolean().default(true),
  })
  .superRefine((k, ctx) => {
    if (k.key === undefined && k.keyFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'one of key or keyFile is required' });
    }
    if (k.key !== undefined && k.keyFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'give key or keyFile, not both' });
    }
    if (k.interval !== undefined && k.schedule !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'give interval or schedule, not both' });
    }
  });
export type KeyConfig = z.infer<typeof KeyConfig>;

export const AccountConfig = z.strictObject({
  name: KeyName,
  provider: z.string().min(1),
  adminKey: SecretString,
  baseUrl: Url.optional(),
  interval: PositiveDuration.optional(),
  schedule: CronPattern.optional(),
  labels: Labels.default({}),
  watchModels: z.array(z.string().min(1)).default([]),
  alerts: Thresholds.optional(),
  includeDisabled: z.boolean().default(true),
});
export type AccountConfig = z.infer<typeof AccountConfig>;

export const Config = z
  .strictObject({
    server: z
      .strictObject({
        listen: Listen.default('127.0.0.1:9477'),
        token: SecretString.optional(),
        metricsAuth: z.boolean().default(false),
        /** Where people reach keywatch/Grafana; used for links in alerts. */
        externalUrl: Url.optional(),
        /** Alert messages link here when set: a URL template where {key} becomes the key's name (URL-encoded). */
        dashboardUrl: Url.optional(),
      })
      .prefault({}),
    storage: z
      .strictObject({
        path: z.string().min(1).default('./data/keywatch.db'),
        retention: PositiveDuration.prefault('30d'),
        /** Raw probe rows are kept this long, then rolled up hourly. */
        rawRetention: PositiveDuration.prefault('48h'),
        /**
         * A key's last state (served at once after a restart) is written when something that matters
         * changed (validity, provider, a failing or recovered probe, limit, models, verdict), else at
         * most this often; every run is still recorded in the history. At shutdown everything is
         * written; after a crash the usage figures served until each key's next run are at most this
         * old. 0 = write it after every run.
         */
        stateSaveInterval: Duration.prefault('5m'),
      })
      .prefault({}),
    defaults: z
      .strictObject({
        interval: PositiveDuration.prefault('5m'),
        schedule: CronPattern.optional(),
        timeout: PositiveDuration.prefault('10s'),
        /**
         * The model list changes rarely and can be large (OpenRouter lists hundreds of models): after a
         * successful models probe, skip it for this long (0 = every run). Validity never waits: every
         * adapter with a separate models probe checks the key in current_key on every run.
         */
        modelsInterval: Duration.prefault('15m'),
        /**
         * Burn rates and stability come from a week of history: read and computed at most this often
         * per key (0 = every run), and at once after a failed or recovered run, a limit or usage reset,
         * a top-up or a change of validity, provider or currency. A key that spends otherwise than its
         * figures' 1h rate says (by over 25%: it started, stopped or changed spending) has them read
         * again after a third of this (analysis/index.ts, spendDrifted). Every run still judges the live
         * state (exhaustion, risk, readiness, matrices) against them. What is read is the last 25 hours;
         * the week before them is kept per key for an hour (analysis/index.ts, farFigures).
         */
        analysisInterval: Duration.prefault('15m'),
        /** Spread first runs over this much of the interval so keys do not fire together. */
        jitter: z.number().min(0).max(1).default(1),
        /** Concurrent probe runs per provider. */
        concurrency: z.number().int().positive().default(16),
        /** Requests per second per provider (politeness cap). */
        maxRequestsPerSecond: z.number().positive().default(50),
        /** Window for stability and latency figures. */
        stabilityWindow: PositiveDuration.prefault('24h'),
        /** Readiness wants at least this much runway. */
        readinessHorizon: PositiveDuration.prefault('7d'),
      })
      .prefault({}),
    providers: z
      .record(
        z.string(),
        z.strictObject({
          baseUrl: Url.optional(),
          concurrency: z.number().int().positive().optional(),
          maxRequestsPerSecond: z.number().positive().optional(),
        }),
      )
      .default({}),
    accounts: z.array(AccountConfig).default([]),
    keys: z.array(KeyConfig).default([]),
    alerting: z
      .strictObject({
        thresholds: Thresholds.default({}),
        for: Duration.prefault('0s'),
        /** The condition must also hold for this many consecutive evaluations before firing (0: off). */
        forProbes: z.number().int().nonnegative().default(0),
        repeat: Duration.prefault('4h'),
        sendResolved: z.boolean().default(true),
        notifiers: z.array(Notifier).default([]),
        silences: z.array(Silence).default([]),
        severities: z.partialRecord(RuleName, Severity).default({}),
        /** Noisy rules collected into one Slack message per interval instead of one message each. */
        digest: z
          .strictObject({ rules: z.array(RuleName).min(1), interval: PositiveDuration.prefault('1h') })
          .optional(),
      })
      .prefault({}),
    shard: z
      .strictObject({ index: z.number().int().nonnegative(), count: z.number().int().positive() })
      .refine((s) => s.index < s.count, { message: 'shard.index must be below shard.count' })
      .optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.keys.forEach((k, i) => {
      const first = seen.get(k.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['keys', i, 'name'], message: `duplicate key name "${k.name}" (also keys[${first}])` });
      } else seen.set(k.name, i);
    });
    const names = new Set<string>();
    c.alerting.notifiers.forEach((n, i) => {
      if (names.has(n.name)) {
        ctx.addIssue({ code: 'custom', path: ['alerting', 'notifiers', i, 'name'], message: `duplicate notifier name "${n.name}"` });
      }
      names.add(n.name);
    });
  });

export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
