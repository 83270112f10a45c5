import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * A credential. Every way of printing it says [REDACTED]; only `reveal()` gives the value,
 * and only the HTTP client calls it. Every Secret ever made is remembered (by value) so the
 * log scrubber can remove it from any text as a last line of defence.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
    registerSecretValue(value);
  }
  reveal(): string {
    return this.#value;
  }
  /** First 8 hex of SHA-256: stable, safe to store and show. */
  fingerprint(): string {
    return createHash('sha256').update(this.#value).digest('hex').slice(0, 8);
  }
  /** At most a masked form such as `sk-or-v1-…a1b2`. */
  masked(): string {
    return maskSecret(this.#value);
  }
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }
  toString(): string {
    return '[REDACTED]';
  }
  toJSON(): string {
    return '[REDACTED]';
  }
  [inspect.custom](): string {
    return 'Secret([REDACTED])';
  }
}

export function maskSecret(value: string): string {
  if (value.length < 12) return '…';
  const prefix = /^([a-z]+[-_](?:[a-z0-9]+[-_])?(?:v\d+[-_])?)/i.exec(value)?.[1] ?? '';
  const head = prefix.length > 0 && prefix.length <= 16 ? prefix : '';
  return `${head}…${value.slice(-4)}`;
}

const known = new Set<string>();

export function registerSecretValue(value: string): void {
  if (value.length >= 6) known.add(value);
}

/** Removes every known secret, and its base64 and URL-encoded forms, from a text. */
export function scrubSecrets(text: string): string {
  if (known.size === 0 || text.length === 0) return text;
  let out = text;
  for (const value of known) {
    for (const form of forms(value)) {
      if (out.includes(form)) out = out.split(form).join('[REDACTED]');
    }
  }
  return out;
}

function forms(value: string): string[] {
  const b64 = Buffer.from(value).toString('base64');
  const enc = encodeURIComponent(value);
  return enc === value ? [value, b64] : [value, b64, enc];
}
