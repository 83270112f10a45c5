/**
 * The one contract every provider adapter passes (Hono's `runTest({ newRouter })`, our version):
 * drive the adapter through a real HttpClient against its own simulator, in every scenario a
 * provider can put a key in, and check the facts, the error kinds, that no secret leaks, and that
 * only GETs to allowlisted paths reached the fake.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProbeError, type ProbeErrorKind } from '../src/errors.js';
import { HttpClient, isAllowed } from '../src/http/client.js';
import { createLogger } from '../src/log.js';
import type { ProbeContext, ProviderAdapter, ProviderRegistry } from '../src/provider.js';
import { runKey } from '../src/runner.js';
import { Secret } from '../src/secret.js';
import { PROBE_KINDS, type KeyFacts, type ProbeOutcome } from '../probes/types.js';
import type { ProviderSim, SimOptions, SimScenario } from '../providers/openai-compatible/sim-kit.js';

/** What a scenario should produce: facts to check, or the kind of error the first failing probe throws. */
export type Expectation = { facts: (facts: KeyFacts, outcomes: ProbeOutcome[]) => void } | { error: ProbeErrorKind };

export interface ContractSpec {
  startSim: (opts: SimOptions) => Promise<ProviderSim>;
  /** An obviously fake key in the provider's format. */
  key: string;
  adminKey?: string;
  watchModels?: string[];
  valid: Expectation;
  invalid: Expectation;
  /** null: the provider has no such state that a read-only probe can see. */
  restricted: Expectation | null;
  quota: Expectation | null;
}

export interface RunInput {
  http: HttpClient;
  baseUrl: string;
  key: string | Secret;
  adminKey?: string | Secret;
  watchModels?: string[];
  timeoutMs?: number;
  now?: () => number;
}

export interface RunResult {
  facts: KeyFacts;
  outcomes: ProbeOutcome[];
}

/**
 * Runs the adapter's probes in PROBE_KINDS order, folding facts, the way the core runner does:
 * a probe's ProbeError becomes an outcome, a key found invalid stops the run.
 */
export async function runProbes(adapter: ProviderAdapter, input: RunInput): Promise<RunResult> {
  const facts: KeyFacts = {};
  const outcomes: ProbeOutcome[] = [];
  const now = input.now ?? Date.now;
  const secret = (v: string | Secret) => (v instanceof Secret ? v : new Secret(v));
  for (const kind of PROBE_KINDS) {
    const impl = adapter.probes[kind];
    if (impl === undefined) continue;
    const baseUrl = input.baseUrl.replace(/\/+$/, '');
    const ctx: ProbeContext = {
      http: input.http.scoped(baseUrl, adapter.allowedPaths),
      httpAt: (other) => input.http.scoped(other, adapter.allowedPaths),
      baseUrl,
      key: secret(input.key),
      ...(input.adminKey !== undefined ? { adminKey: secret(input.adminKey) } : {}),
      timeoutMs: input.timeoutMs ?? 2000,
      watchModels: input.watchModels ?? [],
      known: { ...facts },
      now,
    };
    const at = now();
    try {
      const learned = await impl(ctx);
      if (learned === undefined) continue; // not applicable to this key: no outcome
      fold(facts, learned);
      outcomes.push({ probe: kind, ok: true, durationMs: now() - at, at, facts: learned });
    } catch (err) {
      if (!isProbeError(err)) throw err;
      outcomes.push({
        probe: kind,
        ok: false,
        errorKind: err.kind,
        ...(err.status !== undefined ? { status: err.status } : {}),
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
        message: err.message,
        durationMs: now() - at,
        at,
      });
    }
    if (facts.valid === false) break;
  }
  return { facts, outcomes };
}

function fold(into: KeyFacts, more: KeyFacts): void {
  for (const [k, v] of Object.entries(more) as [keyof KeyFacts, unknown][]) {
    if (v === undefined) continue;
    const prev = into[k];
    if ((k === 'usage' || k === 'rateLimits') && typeof prev === 'object' && prev !== null) {
      (into as Record<string, unknown>)[k] = { ...(prev as object), ...(v as object) };
    } else {
      (into as Record<string, unknown>)[k] = v;
    }
  }
}

export function runProviderContract(adapter: ProviderAdapter, spec: ContractSpec): void {
  describe(`provider contract: ${adapter.id}`, () => {
    let sim: ProviderSim;
    let http: HttpClient;
    const messages: string[] = [];

    beforeAll(async () => {
      sim = await spec.startSim({ key: spec.key, ...(spec.adminKey !== undefined ? { adminKey: spec.adminKey } : {}) });
      http = new HttpClient();
    });
    afterAll(async () => {
      await http.close();
      await sim.close();
    });

    const run = async (scenario: SimScenario, timeoutMs = 2000): Promise<RunResult> => {
      sim.set(scenario);
      const result = await runProbes(adapter, {
        http,
        baseUrl: sim.baseUrl,
        key: spec.key,
        ...(spec.adminKey !== undefined ? { adminKey: spec.adminKey } : {}),
        watchModels: spec.watchModels ?? [],
        timeoutMs,
      });
      for (const o of result.outcomes) if (o.message !== undefined) messages.push(o.message);
      messages.push(JSON.stringify(result.facts));
      return result;
    };

    const check = (result: RunResult, expectation: Expectation): void => {
      if ('facts' in expectation) {
        const failed = result.outcomes.filter((o) => !o.ok);
        expect(failed.map((o) => `${o.probe}: ${o.errorKind}: ${o.message}`)).toEqual([]);
        expectation.facts(result.facts, result.outcomes);
      } else {
        const failed = result.outcomes.filter((o) => !o.ok);
        expect(failed.length).toBeGreaterThan(0);
        expect(failed[0]?.errorKind).toBe(expectation.error);
      }
    };

    it('declares a usable identity', () => {
      expect(adapter.id).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      expect(adapter.allowedPaths.length).toBeGreaterThan(0);
      expect(Object.keys(adapter.probes).length).toBeGreaterThan(0);
    });

    it('valid: reports the key as usable', async () => {
      const result = await run('valid');

      check(result, spec.valid);
      expect(result.facts.valid).toBe(true);
    });

    it('invalid: a refused key is a finding (valid=false), not an error', async () => {
      const result = await run('invalid');

      check(result, spec.invalid);
    });

    it('a wrong key in the valid scenario is refused the same way', async () => {
      sim.set('valid');

      const result = await runProbes(adapter, { http, baseUrl: sim.baseUrl, key: `${spec.key}-wrong`, timeoutMs: 2000 });

      expect(result.facts.valid).toBe(false);
    });

    it.skipIf(spec.restricted === null)('restricted: reported as such', async () => {
      const result = await run('restricted');

      check(result, spec.restricted!);
    });

    it.skipIf(spec.quota === null)('quota exhausted: reported as quota', async () => {
      const result = await run('quota');

      check(result, spec.quota!);
    });

    it('429: rate_limited with the retry-after the provider asked for', async () => {
      const result = await run('rate_limited');

      const failed = result.outcomes.filter((o) => !o.ok);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((o) => o.errorKind === 'rate_limited')).toBe(true);
      expect(failed[0]?.retryAfterMs).toBeGreaterThan(0);
    });

    it('5xx: upstream', async () => {
      const result = await run('upstream');

      const failed = result.outcomes.filter((o) => !o.ok);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((o) => o.errorKind === 'upstream')).toBe(true);
    });

    it('a hanging provider: timeout', async () => {
      const result = await run('hang', 300);

      const failed = result.outcomes.filter((o) => !o.ok);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((o) => o.errorKind === 'timeout')).toBe(true);
    });

    it('a malformed body: bad_response', async () => {
      const result = await run('malformed');

      const failed = result.outcomes.filter((o) => !o.ok);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed.every((o) => o.errorKind === 'bad_response')).toBe(true);
    });

    it('the key never appears in any message or fact', () => {
      const secrets = [spec.key, spec.adminKey].filter((s): s is string => s !== undefined);
      const all = messages.join('\n');

      expect(messages.length).toBeGreaterThan(0);
      for (const s of secrets) {
        expect(all).not.toContain(s);
        expect(all).not.toContain(Buffer.from(s).toString('base64'));
      }
    });

    it("through core's runKey, the key never appears in captured logs, messages, outcomes or facts", async () => {
      // runKey itself takes no logger: log each result the way the daemon does (its debug line),
      // and the whole result at trace, through the real logger writing to a captured stream.
      const stream = new PassThrough();
      let logged = '';
      stream.on('data', (d) => (logged += String(d)));
      const log = createLogger({ level: 'trace', destination: stream, pretty: false });
      const registry: ProviderRegistry = new Map([[adapter.id, adapter]]);
      const results: string[] = [];
      const scenarios: SimScenario[] = ['valid', 'invalid', 'rate_limited', 'upstream', 'malformed', 'hang'];
      if (spec.restricted !== null) scenarios.push('restricted');
      if (spec.quota !== null) scenarios.push('quota');

      for (const scenario of scenarios) {
        sim.set(scenario);
        const result = await runKey(
          {
            key: {
              name: `contract-${scenario}`,
              provider: adapter.id,
              key: new Secret(spec.key),
              ...(spec.adminKey !== undefined ? { adminKey: new Secret(spec.adminKey) } : {}),
              baseUrl: sim.baseUrl,
              intervalMs: 60_000,
              timeoutMs: scenario === 'hang' ? 300 : 2000,
              labels: {},
              watchModels: spec.watchModels ?? [],
              thresholds: {},
            },
          },
          { registry, http },
        );
        log.debug({ key: result.key, provider: result.provider, probe: result.failedProbe, kind: result.errorKind }, 'key run not ok');
        log.trace({ result }, 'key run');
        // Unscrubbed: what runKey returns must be clean before any logger's scrubber sees it.
        results.push(JSON.stringify(result));
      }
      await new Promise((resolve) => setImmediate(resolve));

      const all = `${results.join('\n')}\n${logged}`;
      expect(logged).toContain('key run');
      expect(results.some((r) => r.includes('"message"'))).toBe(true);
      for (const secret of [spec.key, spec.adminKey].filter((x): x is string => x !== undefined)) {
        expect(all).not.toContain(secret);
        expect(all).not.toContain(Buffer.from(secret).toString('base64'));
        expect(all).not.toContain(encodeURIComponent(secret));
      }
    });

    it('only GETs to allowlisted paths reached the fake', () => {
      const basePath = new URL(sim.baseUrl).pathname.replace(/\/+$/, '');
      const reached = sim.server.requests;

      expect(reached.length).toBeGreaterThan(0);
      expect(sim.server.violations).toEqual([]);
      for (const r of reached) {
        expect(r.method).toBe('GET');
        const relative = r.path.startsWith(basePath) ? r.path.slice(basePath.length) : r.path;
        expect(isAllowed(relative, adapter.allowedPaths) || isAllowed(r.path, adapter.allowedPaths), r.path).toBe(true);
      }
    });
  });
}
