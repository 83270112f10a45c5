/**
 * The few error types keywatch throws. Callers branch on `code`/`kind`, never on message text.
 * A finding (a revoked key, an empty balance) is not an error: it is data in a probe result.
 */

export interface ConfigIssue {
  /** YAML path, e.g. `keys[2].key`; empty for the file as a whole. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = 'KW_CONFIG';
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super(issues.map((i) => formatIssue(i, file)).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(issue: ConfigIssue, file?: string): string {
  const where = [file, issue.path].filter(Boolean).join(': ');
  return where ? `${where}: ${issue.message}` : issue.message;
}

/**
 * Why a probe could not tell us anything.
 * - auth: the credential was refused where we expected it to work (e.g. a management call)
 * - rate_limited: 429 (their side, transient)
 * - quota: out of credit / spend limit hit (402, "insufficient_quota", "credit balance is too low")
 * - upstream: 5xx, 408 and other "their side failed" statuses
 * - timeout: no full answer within the probe timeout
 * - network: DNS, refused, reset, TLS
 * - bad_response: not the JSON shape the provider documents (HTML, garbage, too large)
 * - config: our side is misconfigured (unknown path, 404 on a documented endpoint, unsupported)
 */
export type ProbeErrorKind =
  | 'auth'
  | 'rate_limited'
  | 'quota'
  | 'upstream'
  | 'timeout'
  | 'network'
  | 'bad_response'
  | 'config';

export const PROBE_ERROR_KINDS: readonly ProbeErrorKind[] = [
  'auth',
  'rate_limited',
  'quota',
  'upstream',
  'timeout',
  'network',
  'bad_response',
  'config',
];

export interface ProbeErrorDetails {
  status?: number;
  /** Milliseconds the provider asked us to wait (Retry-After or equivalent). */
  retryAfterMs?: number;
  /** Rate-limit facts parsed from the failing response, if any. */
  rateLimits?: import('../probes/types.js').RateLimits;
  cause?: unknown;
}

export class ProbeError extends Error {
  readonly code = 'KW_PROBE';
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly rateLimits?: import('../probes/types.js').RateLimits;
  constructor(
    readonly kind: ProbeErrorKind,
    message: string,
    details: ProbeErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProbeError';
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.rateLimits !== undefined) this.rateLimits = details.rateLimits;
  }
}

export function isProbeError(e: unknown): e is ProbeError {
  return e instanceof ProbeError;
}
