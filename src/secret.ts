import { hash } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * A credential. Every way of printing it says [REDACTED]; only `reveal()` gives the value,
 * and only the HTTP client calls it. Every Secret ever made is remembered (by value) so the
 * log scrubber can remove it from any text as a last line of defence.
 */
export class Secret {
  readonly #value: string;
  #fingerprint: string | undefined;
  constructor(value: string) {
    this.#value = value;
    registerSecretValue(value);
  }
  reveal(): string {
    return this.#value;
  }
  /**
   * First 8 hex of SHA-256: stable, safe to store and show. Computed once (the value never changes):
   * start-up and every reload ask it of every key, an `auto` key's every run too.
   */
  fingerprint(): string {
    return (this.#fingerprint ??= hash('sha256', this.#value, 'hex').slice(0, 8));
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

/**
 * Every form of every known secret, indexed by a rolling hash of its last TAIL characters, so one
 * pass over a text finds them all: the scrubber runs on every request URL and every stored state,
 * and with 10,000 keys a loop over each secret (computing its base64 each time) cost ~50 ms per
 * call and most of the daemon's CPU (see docs/performance.md).
 */
const TAIL = 6;
const BASE = 31;
const POW = (() => {
  let p = 1;
  for (let i = 1; i < TAIL; i++) p = Math.imul(p, BASE);
  return p;
})();
const byTail = new Map<number, string[]>();
/**
 * A bit per (hash & FILTER_MASK): set for every registered tail. Most text positions match no
 * tail, and testing a bit is several times cheaper than a Map lookup (with 10,000 keys, scrubbing
 * a stored state was ~23 ns per character, most of it byTail.get).
 */
const FILTER_BITS = 1 << 21;
const FILTER_MASK = FILTER_BITS - 1;
const filter = new Uint32Array(FILTER_BITS >>> 5);

/** Bumped by every secret registered: a text scrubbed before may now need scrubbing again. */
let generation = 0;

/** Changes whenever a secret is registered (so a scrubbed text may be kept while it does not). */
export function secretsGeneration(): number {
  return generation;
}

export function registerSecretValue(value: string): void {
  if (value.length < TAIL || known.has(value)) return;
  known.add(value);
  generation++;
  for (const form of forms(value)) {
    let h = 0;
    for (let i = form.length - TAIL; i < form.length; i++) h = (Math.imul(h, BASE) + form.charCodeAt(i)) | 0;
    filter[(h & FILTER_MASK) >>> 5]! |= 1 << (h & 31);
    const list = byTail.get(h);
    if (list === undefined) byTail.set(h, [form]);
    else if (!list.includes(form)) list.push(form);
  }
}

/** Removes every known secret, and its base64 and URL-encoded forms, from a text. */
export function scrubSecrets(text: string): string {
  if (known.size === 0 || text.length < TAIL) return text;
  let found: [number, number][] | undefined;
  let h = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h =
      i < TAIL
        ? (Math.imul(h, BASE) + c) | 0
        : (Math.imul((h - Math.imul(text.charCodeAt(i - TAIL), POW)) | 0, BASE) + c) | 0;
    if (i < TAIL - 1 || (filter[(h & FILTER_MASK) >>> 5]! & (1 << (h & 31))) === 0) continue;
    const candidates = byTail.get(h);
    if (candidates === undefined) continue;
    const end = i + 1;
    for (const form of candidates) {
      const start = end - form.length;
      if (start >= 0 && text.startsWith(form, start)) (found ??= []).push([start, end]);
    }
  }
  if (found === undefined) return text;
  // Overlapping matches (one secret inside another) become one redaction covering both.
  found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let out = '';
  let pos = 0;
  for (const [start, end] of found) {
    if (end <= pos) continue;
    if (start < pos) {
      pos = end;
      continue;
    }
    out += `${text.slice(pos, start)}[REDACTED]`;
    pos = end;
  }
  return out + text.slice(pos);
}

function forms(value: string): string[] {
  const b64 = Buffer.from(value).toString('base64');
  const enc = encodeURIComponent(value);
  return enc === value ? [value, b64] : [value, b64, enc];
}
