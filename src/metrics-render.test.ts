/**
 * The per-key families are written as text (fast) instead of through prom-client gauges (slow at
 * 10,000 keys). This checks the text is byte-for-byte what the prom-client version produced, on
 * states chosen to exercise every branch and every escaping rule. The reference below is that
 * prom-client version, unchanged.
 */
import { Gauge, Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { FiringAlert } from './alerting/types.js';
import { VERDICTS } from './analysis/types.js';
import type { KeyAnalysis } from './analysis/types.js';
import { createMetrics, type Metrics, type MetricsDeps } from './metrics.js';
import type { KeyState } from './state.js';
import type { Currency } from '../probes/types.js';
import { keyState } from '../test/helpers/state.js';

const CACHED = 'Cached from the last probe run, not probed per scrape.';
const USAGE_WINDOWS = ['total', 'daily', 'weekly', 'monthly'] as const;

const analysis = (verdict: 'ready' | 'review' | 'blocked', seconds?: number): KeyAnalysis => ({
  burnRates: [
    { window: '1h', currency: 'USD', perHour: 0.25, source: 'usage', spanMs: 3_600_000, samples: 60 },
    { window: '24h', currency: 'USD', perHour: 0.125, source: 'usage', spanMs: 86_400_000, samples: 1440 },
  ],
  exhaustion: { resetsFirst: false, confidence: 'high', note: 'n', ...(seconds !== undefined ? { seconds } : {}) },
  stability: { ratio: 0.97, windowMs: 86_400_000, samples: 100, consecutiveFailures: 0, flaps: 1, failures: {} },
  risk: { score: 0.3, reasons: [] },
  readiness: { verdict, reasons: [], nextActions: [] },
  limitMatrix: [],
  modelMatrix: { rows: [] },
});

function state({ name, ...over }: Partial<KeyState> & { name: string }): KeyState {
  return keyState(name, over);
}

const STATES: KeyState[] = [
  state({
    name: 'capped',
    labels: { team: 'search', key: 'shadow', __meta: 'x', provider: 'p' },
    watchModels: ['openrouter/auto', 'openrouter/free', 'openrouter/auto'],
    facts: {
      valid: true,
      currency: 'USD',
      usage: { total: 3.25, daily: 0.5, weekly: 1, monthly: 3.25 },
      limit: 20,
      limitRemaining: 16.75,
      limitReset: 'monthly',
      limitResetAt: 1_790_812_800,
      expiresAt: 1_800_000_000,
      models: { count: 2, source: 'user', access: { 'openrouter/auto': true }, pricingKnown: {} },
    },
    probes: {
      current_key: { probe: 'current_key', ok: true, durationMs: 12, at: 1_700_000_000_000 },
      models: { probe: 'models', ok: false, errorKind: 'timeout', durationMs: 2000, at: 1_700_000_000_012 },
    },
    lastSuccessAt: { current_key: 1_700_000_000_000 },
    lastRunAt: 1_700_000_000_000,
    analysis: analysis('review', 7200),
  }),
  state({ name: 'unlimited', facts: { valid: true, currency: 'USD', usage: { total: 12.5 }, limit: null, limitRemaining: null }, analysis: analysis('ready') }),
  state({ name: 'revoked', facts: { valid: false, validity: 'revoked' }, consecutiveFailures: 3 }),
  state({
    name: 'cny.balance',
    provider: 'deepseek',
    claimedProvider: 'auto',
    account: 'acme',
    labels: { note: 'quote " backslash \\ newline \n done', unicode: 'é😀' },
    facts: { valid: true, balance: 42.5, balanceCurrency: 'CNY', currency: 'CNY', limitResetAt: 1, limit: null },
  }),
  state({ name: 'never-run' }),
  state({ name: 'nan', facts: { valid: true, currency: 'USD', usage: { total: Number.NaN, daily: Number.POSITIVE_INFINITY, weekly: -0.5 } } }),
];

const FIRING: FiringAlert[] = [];

async function render(make: (deps: MetricsDeps) => Metrics, states: KeyState[]): Promise<string> {
  const m = make({ states: () => states, firing: () => FIRING, now: () => 1_700_000_000_000 });
  m.setReloadResult(true, 1_700_000_000_000);
  return m.render();
}

describe('per-key families written as text', () => {
  it('match the prom-client rendering byte for byte', async () => {
    const expected = await render(referenceMetrics, STATES);

    const actual = await render(createMetrics, STATES);

    expect(actual).toBe(expected);
  });

  it('match it with no keys at all', async () => {
    expect(await render(createMetrics, [])).toBe(await render(referenceMetrics, []));
  });

  it('re-render a key whose state object was replaced, and keep the others', async () => {
    let states = STATES.map((s) => ({ ...s }));
    const m = createMetrics({ states: () => states, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    await m.render();

    states = states.map((s) => (s.name === 'capped' ? { ...s, facts: { ...s.facts, valid: false }, consecutiveFailures: 9 } : s));
    m.invalidate();
    const after = await m.render();

    expect(after).toContain('keywatch_key_valid{key="capped",provider="openrouter"} 0');
    expect(after).toContain('keywatch_key_consecutive_failures{key="capped",provider="openrouter"} 9');
    expect(after).toBe(await render(referenceMetrics, states));
  });

  it('re-render a key whose state was written in place (a steady run) when prepared or marked stale, and only then', async () => {
    const states = STATES.map((s) => structuredClone(s));
    const capped = states.find((s) => s.name === 'capped')!;
    const m = createMetrics({ states: () => states, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    await m.render();
    const line = (v: number) => `keywatch_key_usage{key="capped",provider="openrouter",currency="USD",window="total"} ${v}`;

    capped.facts.usage!.total = 4.5;
    m.invalidate();
    expect(await m.render()).toContain(line(3.25)); // the same object: its lines are taken as current

    m.stale(capped);
    m.invalidate();
    expect(await m.render()).toContain(line(4.5));

    capped.facts.usage!.total = 5.75;
    capped.lastRunAt = 1_700_000_060_000;
    m.prepare(capped, capped.analysis);
    m.invalidate();
    const after = await m.render();
    expect(after).toContain(line(5.75));
    expect(after).toBe(await render(referenceMetrics, states));
  });

  it('write a key\'s new numbers into its lines in place, and match the reference after every run of a long random mix', async () => {
    // Numbers whose text is shorter, longer or the same length as the one before (the lines move),
    // non-finite ones (a line goes), and changes of the label sets (lines come and go, labels
    // beyond ASCII, a new provider): each run's render must be the reference's, in place or not.
    const random = mulberry32(7);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const NUMBERS = [0, 1, 7, 0.5, 3.25, 16.75, 0.1 + 0.2, 1e-7, 1.5e-9, 123_456_789.123, 1e21, 2.5e22, -0.5, -17, 99_999.99999, 4.000000000000001];
    const numbers = () => (random() < 0.05 ? pick([Number.NaN, Number.POSITIVE_INFINITY]) : random() < 0.5 ? pick(NUMBERS) : Math.round(random() * 10 ** Math.floor(random() * 12)) / 10 ** Math.floor(random() * 8));
    const states = Array.from({ length: 12 }, (_, i) => ({ ...structuredClone(STATES[i % STATES.length]!), name: `k-${i}` }));
    const m = createMetrics({ states: () => states, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    await m.render();
    const steps: ((s: KeyState) => void)[] = [
      (s) => (s.facts.usage = { ...s.facts.usage, total: numbers() }),
      (s) => s.facts.usage !== undefined && (s.facts.usage.daily = numbers()),
      (s) => s.facts.usage !== undefined && (s.facts.usage.weekly = numbers()),
      (s) => (s.facts.limitRemaining = numbers()),
      (s) => (s.facts.limit = random() < 0.7 ? numbers() : null),
      (s) => (s.facts.currency = random() < 0.9 ? 'USD' : undefined),
      (s) => (s.facts.balance = random() < 0.8 ? numbers() : undefined),
      (s) => (s.lastRunAt = random() < 0.9 ? 1_700_000_000_000 + Math.floor(random() * 10 ** Math.floor(random() * 10)) : undefined),
      (s) => (s.consecutiveFailures = Math.floor(random() * 3) * Math.floor(random() * 1000)),
      (s) => (s.probes = { current_key: { probe: 'current_key', ok: random() < 0.8, durationMs: numbers(), at: 1_700_000_000_000 }, ...(random() < 0.5 ? { models: { probe: 'models', ok: true, durationMs: numbers(), at: 1 } } : {}) }),
      (s) => (s.lastSuccessAt = { current_key: 1_700_000_000_000 + Math.floor(random() * 100_000_000) }),
      (s) => (s.facts.valid = pick([true, false, undefined])),
      (s) => (s.watchModels = random() < 0.5 ? [] : ['openrouter/auto', ...(random() < 0.5 ? ['modèle/ünï'] : [])]),
      (s) => (s.labels = random() < 0.5 ? {} : { team: pick(['search', 'équipe', 'a"b']) }),
      (s) => (s.provider = pick(['openrouter', 'openai', 'déjà'])),
    ];
    let inPlace = 0;
    for (let run = 0; run < 400; run++) {
      const s = pick(states);
      // Mostly numbers (the steady run); now and then a change of what lines the key has.
      const changes = random() < 0.8 ? [pick(steps.slice(0, 11))] : [pick(steps), pick(steps)];
      for (const change of changes) change(s);
      const before = m.stats();
      m.prepare(s, s.analysis);
      const after = m.stats();
      if (after.textRenders === before.textRenders) inPlace++;
      m.invalidate();
      expect(await m.render()).toBe(await render(referenceMetrics, states));
    }
    // Most runs were written in place, and some were not.
    expect(inPlace).toBeGreaterThan(200);
    expect(m.stats().textRenders).toBeGreaterThan(12 + 20);
  });

  it('write a value back in place when it returns to what its line held a render before', async () => {
    // Unchanged values are left as they are (KeyRec.values); a value that changes and changes back
    // must be compared with what the line holds now, not with what it held at the last text render.
    const k = state({ name: 'back', facts: { valid: true, currency: 'USD', usage: { total: 1, daily: 5 } }, lastRunAt: 1_700_000_000_000 });
    const states = [k];
    const m = createMetrics({ states: () => states, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    await m.render();
    const before = m.stats().textRenders;
    for (const total of [2, 1, 2, 2, 1]) {
      k.facts.usage!.total = total;
      m.prepare(k);
      m.invalidate();
      expect(await m.render()).toBe(await render(referenceMetrics, states));
    }
    expect(m.stats().textRenders).toBe(before);
  });

  it('render a key from text when its new numbers outgrow its buffer, the same bytes', async () => {
    const tiny = state({ name: 'tiny', facts: { valid: true, currency: 'USD', usage: { total: 1 } }, lastRunAt: 1_700_000_000_000 });
    const states = [tiny, structuredClone(STATES[0]!)];
    const m = createMetrics({ states: () => states, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    await m.render();
    const before = m.stats().textRenders;

    // Three short values become long ones: ~45 bytes more than the ~20 spare a key's buffer of ~200 has.
    tiny.facts.usage!.total = 0.1 + 0.2;
    tiny.consecutiveFailures = 0.1 + 0.7;
    tiny.lastRunAt = 1_700_000_000_123.456;
    m.prepare(tiny);
    m.invalidate();

    expect(m.stats().textRenders).toBe(before + 1);
    expect(await m.render()).toBe(await render(referenceMetrics, states));
  });

  it('match it for a fleet of 500 varied keys', async () => {
    const fleet = Array.from({ length: 500 }, (_, i) => ({ ...STATES[i % STATES.length]!, name: `k-${i}` }));

    expect(await render(createMetrics, fleet)).toBe(await render(referenceMetrics, fleet));
  });

  it("keys prepared at once (start-up's shared slabs) render as they should, and so do they after some outgrow their slice and others shrink", async () => {
    let fleet = Array.from({ length: 900 }, (_, i) => ({ ...STATES[i % STATES.length]!, name: `k-${i}` }));
    const m = createMetrics({ states: () => fleet, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    m.prepareAll();
    expect(await m.render()).toBe(await render(referenceMetrics, fleet));

    // Every third key grows (more labels and watched models: far past its slice's spare tenth),
    // every third shrinks to a revoked key's few lines; their neighbours in the slab stay as they were.
    fleet = fleet.map((s, i) =>
      i % 3 === 0
        ? { ...s, labels: { ...s.labels, owner: `team-${i}-${'x'.repeat(40)}` }, watchModels: ['openrouter/auto', 'openrouter/free', 'openai/gpt-4o', 'anthropic/claude'] }
        : i % 3 === 1
          ? { ...STATES[2]!, name: s.name }
          : s,
    );
    m.invalidate();
    expect(await m.render()).toBe(await render(referenceMetrics, fleet));
    expect(m.stats().cachedKeys).toBe(900);
  });

  it('stream it the same, byte for byte, over many chunks and a slow client', async () => {
    const fleet = Array.from({ length: 2000 }, (_, i) => ({ ...STATES[i % STATES.length]!, name: `k-${i}` }));
    const m = createMetrics({ states: () => fleet, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    const chunks: Buffer[] = [];

    // Every other chunk finds the response's buffer full and waits a turn of the event loop.
    await m.stream((chunk) => (chunks.push(chunk), chunks.length % 2 === 0 ? new Promise((r) => setImmediate(() => r(true))) : true));

    expect(chunks.length).toBeGreaterThan(4);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(await render(referenceMetrics, fleet));
  });

  it('reuses the chunks a writer reports sent: a few buffers for the whole scrape, the same bytes, scrape after scrape', async () => {
    const fleet = Array.from({ length: 2000 }, (_, i) => ({ ...STATES[i % STATES.length]!, name: `k-${i}` }));
    const m = createMetrics({ states: () => fleet, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    const expected = await render(referenceMetrics, fleet);
    const buffers = new Set<ArrayBufferLike>();
    for (let scrape = 0; scrape < 3; scrape++) {
      const copies: Buffer[] = [];
      let pending: (() => void)[] = [];
      // As a response does: the bytes are copied out (to the socket) a turn later, then reported sent.
      await m.stream((chunk, sent) => {
        buffers.add(chunk.buffer);
        const copy = Buffer.from(chunk);
        pending.push(() => {
          copies.push(copy);
          // A chunk reused before it was sent would show up here as changed bytes.
          expect(chunk.equals(copy)).toBe(true);
          sent();
        });
        return new Promise((r) =>
          setImmediate(() => {
            const now = pending;
            pending = [];
            for (const p of now) p();
            r(true);
          }),
        );
      });
      expect(copies.length).toBeGreaterThan(4);
      expect(Buffer.concat(copies).toString('utf8')).toBe(expected);
    }
    // Without reuse every chunk of the three scrapes is a buffer of its own.
    expect(buffers.size).toBeLessThanOrEqual(3);
  });

  it('lets the event loop run while streaming to a writer that never fills up, the same bytes', async () => {
    const fleet = Array.from({ length: 2000 }, (_, i) => ({ ...STATES[i % STATES.length]!, name: `k-${i}` }));
    const turnsWhileStreaming = async (streamSliceMs: number) => {
      const m = createMetrics({ states: () => fleet, firing: () => FIRING, now: () => 1_700_000_000_000, streamSliceMs });
      m.setReloadResult(true, 1_700_000_000_000);
      const chunks: Buffer[] = [];
      let turns = 0;
      let streaming = true;
      const count = (): void => {
        if (!streaming) return;
        turns++;
        setImmediate(count);
      };
      setImmediate(count);
      await m.stream((chunk) => (chunks.push(Buffer.from(chunk)), true));
      streaming = false;
      expect(Buffer.concat(chunks).toString('utf8')).toBe(await render(referenceMetrics, fleet));
      return { turns, chunks: chunks.length };
    };
    // A slice of 0: a turn of the loop after every chunk. A slice longer than the stream: none.
    const sliced = await turnsWhileStreaming(0);
    expect(sliced.turns).toBeGreaterThanOrEqual(sliced.chunks - 1);
    expect((await turnsWhileStreaming(60_000)).turns).toBe(0);
  });

  it('a key whose lines for a family outgrow a chunk, rendered again while it is being sent, comes out whole', async () => {
    const models = Array.from({ length: 1500 }, (_, i) => `vendor/model-${i}`);
    const wide = (allowed: boolean): KeyState =>
      state({
        name: 'wide',
        watchModels: models,
        facts: { valid: true, models: { count: models.length, source: 'user', access: Object.fromEntries(models.map((m) => [m, allowed])), pricingKnown: {} } },
      });
    let fleet = [...STATES, wide(true), ...STATES.map((st) => ({ ...st, name: `${st.name}-2` }))];
    const m = createMetrics({ states: () => fleet, firing: () => FIRING, now: () => 1_700_000_000_000 });
    m.setReloadResult(true, 1_700_000_000_000);
    const before = await m.render();
    const chunks: Buffer[] = [];
    // The wide key runs as soon as a chunk holds the start of its access lines (the rest still to
    // be sent): its lines are rendered again in place, every value 0 where it was 1.
    let ran = false;
    await m.stream((chunk) => {
      chunks.push(Buffer.from(chunk));
      if (!ran && chunk.includes('keywatch_key_model_access{key="wide"')) {
        ran = true;
        fleet = fleet.map((st) => (st.name === 'wide' ? wide(false) : st));
        m.prepare(fleet.find((st) => st.name === 'wide')!);
      }
      return new Promise((r) => setImmediate(() => r(true)));
    });
    const body = Buffer.concat(chunks).toString('utf8');
    const access = body.split('\n').filter((l) => l.startsWith('keywatch_key_model_access{key="wide"'));
    expect(before.split('\n').filter((l) => l.startsWith('keywatch_key_model_access{key="wide"')).length).toBe(1500);
    expect(access).toHaveLength(1500);
    // All from one render of the key: every value 1 or every value 0, never a line cut and joined.
    expect(access.every((l) => /^keywatch_key_model_access\{key="wide",[^{}]*model="vendor\/model-\d+"\} [01]$/.test(l))).toBe(true);
    expect(ran).toBe(true);
    expect(new Set(access.map((l) => l.slice(-1))).size).toBe(1);
  });

  it('stops streaming when the client has gone', async () => {
    const fleet = Array.from({ length: 2000 }, (_, i) => ({ ...STATES[i % STATES.length]!, name: `k-${i}` }));
    const m = createMetrics({ states: () => fleet });
    let writes = 0;

    await m.stream(() => (writes++, Promise.resolve(false)));

    expect(writes).toBe(1);
  });
});

// ---- the prom-client implementation, as it was -------------------------------------------------
function referenceMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  const now = deps.now ?? Date.now;
  const cacheMs = deps.cacheMs ?? 1000;

  /** A gauge refilled from every state at each collect. */
  function keyGauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (set: (labels: Record<L, string>, value: number) => void, s: KeyState) => void,
  ): void {
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const set = (labels: Record<L, string>, value: number) => {
          if (Number.isFinite(value)) this.set(labels as never, value);
        };
        for (const s of deps.states()) fill(set, s);
      },
    });
  }

  const kp = (s: KeyState) => ({ key: s.name, provider: s.provider });

  // keywatch_key_info carries each key's own config labels, whose names differ from key to key:
  // prom-client gauges fix their label names up front, so this one is a plain collector.
  const info = {
    name: 'keywatch_key_info',
    help: 'Always 1 for each monitored key, with its detected and configured provider and its config labels.',
    get: async () => ({
      name: 'keywatch_key_info',
      help: info.help,
      type: 'gauge',
      aggregator: 'sum',
      values: [...deps.states()].map((s) => ({ labels: infoLabels(s), value: 1 })),
    }),
  };
  registry.registerMetric(info as unknown as Metric);

  keyGauge('keywatch_key_valid', `1 when the provider accepts the key, 0 when it refused it (401/403/revoked). ${CACHED}`, ['key', 'provider'], (set, s) => {
    if (s.facts.valid !== undefined) set(kp(s), s.facts.valid ? 1 : 0);
  });
  keyGauge(
    'keywatch_key_usage',
    `Spend reported by the provider for the key, per window (total = all time; daily/weekly/monthly = current UTC period). ${CACHED}`,
    ['key', 'provider', 'currency', 'window'],
    (set, s) => {
      const currency = moneyCurrency(s);
      if (currency === undefined) return;
      for (const w of USAGE_WINDOWS) {
        const v = s.facts.usage?.[w];
        if (v !== undefined) set({ ...kp(s), currency, window: w }, v);
      }
    },
  );
  keyGauge('keywatch_key_limit', `Spend limit of the key; absent when the key is unlimited. ${CACHED}`, ['key', 'provider', 'currency'], (set, s) => {
    const currency = moneyCurrency(s);
    if (currency !== undefined && typeof s.facts.limit === 'number') set({ ...kp(s), currency }, s.facts.limit);
  });
  keyGauge(
    'keywatch_key_limit_remaining',
    `Spend remaining under the key's limit; absent when the key is unlimited. ${CACHED}`,
    ['key', 'provider', 'currency'],
    (set, s) => {
      const currency = moneyCurrency(s);
      if (currency !== undefined && typeof s.facts.limit === 'number' && typeof s.facts.limitRemaining === 'number') {
        set({ ...kp(s), currency }, s.facts.limitRemaining);
      }
    },
  );
  keyGauge('keywatch_key_limit_reset_timestamp_seconds', `Next reset of the key's spend limit (Unix seconds). ${CACHED}`, ['key', 'provider'], (set, s) => {
    if (s.facts.limitResetAt !== undefined && s.facts.limit !== null) set(kp(s), s.facts.limitResetAt);
  });
  keyGauge('keywatch_key_balance', `Account credit left, where the provider reports it. ${CACHED}`, ['key', 'provider', 'currency'], (set, s) => {
    const currency = s.facts.balanceCurrency ?? s.facts.currency;
    if (s.facts.balance !== undefined && currency !== undefined) set({ ...kp(s), currency }, s.facts.balance);
  });
  keyGauge('keywatch_key_expiry_timestamp_seconds', `When the key expires (Unix seconds); absent when it never does. ${CACHED}`, ['key', 'provider'], (set, s) => {
    if (typeof s.facts.expiresAt === 'number') set(kp(s), s.facts.expiresAt);
  });
  keyGauge(
    'keywatch_key_model_access',
    `1 when the key may use the watched model, 0 when not (watchModels only). ${CACHED}`,
    ['key', 'provider', 'model'],
    (set, s) => {
      const models = s.facts.models;
      if (models === undefined) return;
      for (const model of s.watchModels) set({ ...kp(s), model }, models.access[model] === true ? 1 : 0);
    },
  );
  keyGauge(
    'keywatch_key_burn_rate',
    `Spend per hour derived from the key's history, per window. ${CACHED}`,
    ['key', 'provider', 'currency', 'window'],
    (set, s) => {
      for (const b of s.analysis?.burnRates ?? []) set({ ...kp(s), currency: b.currency, window: b.window }, b.perHour);
    },
  );
  keyGauge(
    'keywatch_key_exhaustion_seconds',
    `Projected seconds until the limit or balance runs out at the current burn rate; absent when not burning. ${CACHED}`,
    ['key', 'provider'],
    (set, s) => {
      const seconds = s.analysis?.exhaustion.seconds;
      if (seconds !== undefined) set(kp(s), seconds);
    },
  );
  keyGauge('keywatch_key_stability', `Probe run success ratio over the stability window, 0..1. ${CACHED}`, ['key', 'provider'], (set, s) => {
    if (s.analysis !== undefined) set(kp(s), s.analysis.stability.ratio);
  });
  keyGauge('keywatch_key_risk_score', `Risk score of the key, 0..1. ${CACHED}`, ['key', 'provider'], (set, s) => {
    if (s.analysis !== undefined) set(kp(s), s.analysis.risk.score);
  });
  keyGauge('keywatch_key_readiness', `1 for the key's current launch readiness verdict, 0 for the others. ${CACHED}`, ['key', 'provider', 'verdict'], (set, s) => {
    const verdict = s.analysis?.readiness.verdict;
    if (verdict === undefined) return;
    for (const v of VERDICTS) set({ ...kp(s), verdict: v }, v === verdict ? 1 : 0);
  });
  keyGauge('keywatch_key_consecutive_failures', `Consecutive runs in which no probe answered. ${CACHED}`, ['key', 'provider'], (set, s) => {
    set(kp(s), s.consecutiveFailures);
  });
  keyGauge('keywatch_key_last_run_timestamp_seconds', 'When the key was last probed (Unix seconds).', ['key', 'provider'], (set, s) => {
    if (s.lastRunAt !== undefined) set(kp(s), s.lastRunAt / 1000);
  });
  keyGauge('keywatch_probe_success', `1 when the probe answered in the last run, 0 when it failed. ${CACHED}`, ['key', 'provider', 'probe'], (set, s) => {
    for (const o of Object.values(s.probes)) if (o) set({ ...kp(s), probe: o.probe }, o.ok ? 1 : 0);
  });
  keyGauge('keywatch_probe_duration_seconds', `How long the probe took in the last run. ${CACHED}`, ['key', 'provider', 'probe'], (set, s) => {
    for (const o of Object.values(s.probes)) if (o) set({ ...kp(s), probe: o.probe }, o.durationMs / 1000);
  });
  keyGauge(
    'keywatch_probe_last_success_timestamp_seconds',
    'When the probe last answered (Unix seconds).',
    ['key', 'provider', 'probe'],
    (set, s) => {
      for (const [probe, at] of Object.entries(s.lastSuccessAt)) if (at !== undefined) set({ ...kp(s), probe }, at / 1000);
    },
  );

  new Gauge({
    name: 'keywatch_alert_firing',
    help: '1 while the alert rule fires for the key.',
    labelNames: ['key', 'rule', 'severity'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of deps.firing?.() ?? []) this.set({ key: a.key, rule: a.rule, severity: a.severity }, 1);
    },
  });

  const reloadOk = new Gauge({
    name: 'keywatch_config_last_reload_successful',
    help: 'Whether the last configuration (re)load succeeded (1) or failed and the previous config is still running (0).',
    registers: [registry],
  });
  const reloadAt = new Gauge({
    name: 'keywatch_config_last_reload_success_timestamp_seconds',
    help: 'When the configuration was last loaded successfully (Unix seconds).',
    registers: [registry],
  });

  let cache: { text: string; at: number } | undefined;
  return {
    registry,
    contentType: registry.contentType,
    setReloadResult(ok, at = now()) {
      reloadOk.set(ok ? 1 : 0);
      if (ok) reloadAt.set(at / 1000);
      cache = undefined;
    },
    async render() {
      const t = now();
      if (cache !== undefined && t - cache.at < cacheMs) return cache.text;
      const text = await registry.metrics();
      cache = { text, at: t };
      return text;
    },
    async renderBytes() {
      return Buffer.from(await this.render());
    },
    async lease() {
      return { bytes: Buffer.from(await this.render()), release: () => undefined };
    },
    prepare() {},
    stale() {},
    prepareAll() {},
    async stream(write) {
      await write(Buffer.from(await this.render()), () => undefined);
    },
    stats: () => ({ cachedKeys: 0, keyRenders: 0, textRenders: 0 }),
    invalidate() {
      cache = undefined;
    },
  };
}

const RESERVED_REF = new Set(['key', 'provider', 'claimed_provider']);

function infoLabels(s: KeyState): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels)) {
    // A config label cannot shadow the identifying ones, nor use Prometheus' reserved prefix.
    const name = RESERVED_REF.has(k) || k.startsWith('__') ? `label_${k.replace(/^_+/, '')}` : k;
    labels[name] = v;
  }
  if (s.account !== undefined && labels.account === undefined) labels.account = s.account;
  return { ...labels, key: s.name, provider: s.provider, claimed_provider: s.claimedProvider };
}

function moneyCurrency(s: KeyState): Currency | undefined {
  return s.facts.currency;
}

/** A small seeded generator, so a failing mix can be run again. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
