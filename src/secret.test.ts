import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Secret, registerSecretValue, scrubSecrets } from './secret.js';

/** The scrubber's original definition, kept as the reference the fast one must agree with. */
function naive(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) {
    const b64 = Buffer.from(v).toString('base64');
    const enc = encodeURIComponent(v);
    for (const form of enc === v ? [v, b64] : [v, b64, enc]) if (out.includes(form)) out = out.split(form).join('[REDACTED]');
  }
  return out;
}

describe('Secret', () => {
  it("fingerprints a key as the first 8 hex of its SHA-256, the same on every call, and apart from a rotated key's", () => {
    const value = 'sk-or-v1-test-fingerprint-0001';
    const key = new Secret(value);
    const sha = createHash('sha256').update(value).digest('hex').slice(0, 8);
    expect(key.fingerprint()).toBe(sha);
    expect(key.fingerprint()).toBe(sha);
    expect(new Secret(value).fingerprint()).toBe(sha);
    expect(new Secret('sk-or-v1-test-fingerprint-0002').fingerprint()).not.toBe(sha);
    expect(`${key.fingerprint()}`).not.toContain(value);
  });
});

describe('scrubSecrets', () => {
  it('removes a secret, its base64 and its URL-encoded forms', () => {
    const value = 'sk-test-scrub/plus+slash=';
    new Secret(value);

    const out = scrubSecrets(`a ${value} b ${Buffer.from(value).toString('base64')} c ${encodeURIComponent(value)} d`);

    expect(out).toBe('a [REDACTED] b [REDACTED] c [REDACTED] d');
  });

  it('returns a text without secrets unchanged, and short texts as they are', () => {
    registerSecretValue('sk-test-unrelated-000');

    expect(scrubSecrets('nothing secret here, just {"usage": 1.5}')).toBe('nothing secret here, just {"usage": 1.5}');
    expect(scrubSecrets('abc')).toBe('abc');
  });

  it('finds every one of 10,000 registered secrets in one text, adjacent or overlapping', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => `sk-or-v1-test-scrub-${String(i).padStart(6, '0')}`);
    for (const v of values) registerSecretValue(v);
    const text = `${values[0]}${values[1]} x ${values[9999]}-tail "${Buffer.from(values[5000]!).toString('base64')}"`;

    const out = scrubSecrets(text);

    expect(out).toBe('[REDACTED][REDACTED] x [REDACTED]-tail "[REDACTED]"');
  });

  it('redacts a secret containing another as one span', () => {
    registerSecretValue('inner-secret-1');
    registerSecretValue('outer-inner-secret-1-outer');

    expect(scrubSecrets('[outer-inner-secret-1-outer]')).toBe('[[REDACTED]]');
    expect(scrubSecrets('[inner-secret-1]')).toBe('[[REDACTED]]');
  });

  it('agrees with the naive scrubber on random texts built from secrets and filler', () => {
    const values = ['k3y-alpha-001', 'k3y-beta-0002', 'tok_é-ünïcode-x', 'a/b+c=d&e f'];
    for (const v of values) registerSecretValue(v);
    let seed = 7;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const pieces = [...values, ...values.map((v) => Buffer.from(v).toString('base64')), ...values.map(encodeURIComponent), 'xx', ' ', 'k3y-', '=', 'YWJj'];

    for (let round = 0; round < 500; round++) {
      const text = Array.from({ length: 1 + rand(8) }, () => pieces[rand(pieces.length)]).join('');

      expect(scrubSecrets(text)).toBe(naive(text, values));
    }
  });
});

describe('logger', () => {
  it.each([['json'], ['pretty']])('scrubs a planted key from %s output', async (format) => {
    const { createLogger } = await import('./log.js');
    const { PassThrough } = await import('node:stream');
    const planted = new Secret(`sk-or-v1-test-log-${format}-0123456789`);
    let out = '';
    const dest = new PassThrough();
    dest.on('data', (c: Buffer) => (out += c.toString()));

    const log = createLogger({ destination: dest, pretty: format === 'pretty' });
    log.info({ component: 'test', echoed: `body said ${planted.reveal()}`, key: planted }, 'probe failed');

    expect(out).toContain('probe failed');
    expect(out).not.toContain(planted.reveal());
  });
});
