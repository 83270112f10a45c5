/**
 * Prometheus metrics. Each key's lines are rendered from its KeyState when its run is stored
 * (prepare) and a scrape streams them (stream), so a key removed from the config vanishes from
 * /metrics at the next scrape, and a scrape never probes anything: values are cached from the last
 * probe run. Money carries a
 * currency label; `model` appears only for a key's watchModels; no label ever holds a secret.
 */
import { Gauge, Registry } from './prom-client.js';
import type { FiringAlert } from './alerting/types.js';
import { VERDICTS, type KeyAnalysis } from './analysis/types.js';
import type { KeyState } from './state.js';
import type { Currency } from '../probes/types.js';

export interface MetricsDeps {
  /**
   * The live states (read at every scrape). Rendered lines are cached per state object: a key
   * whose state is replaced is rendered at the next scrape; one whose state is changed in place
   * must be passed to prepare() (or stale()), as the daemon does for a steady run.
   */
  states: () => Iterable<KeyState>;
  /**
   * A key's analysis when its state does not hold it (the daemon's live states do not: Daemon.analysis).
   * Asked only when a key's lines are rendered without the analysis given to prepare().
   */
  analysis?: (state: KeyState) => KeyAnalysis | undefined;
  /** Alerts firing now (keywatch_alert_firing); absent = none. */
  firing?: () => readonly FiringAlert[];
  /** Lifetime of render()'s cached whole exposition (default 1000 ms); invalidate() drops it sooner. */
  cacheMs?: number;
  now?: () => number;
  /**
   * stream() lets the event loop run (a setImmediate turn) once it has held it this long (default
   * 10 ms). A scraper that reads as fast as keywatch writes never fills the response's buffer, so
   * without this a whole 25 MB scrape ran in one stretch of microtasks: 190-340 ms with no timer or
   * probe response handled (docs/performance.md, fix 46).
   */
  streamSliceMs?: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Marks a config (re)load as successful or not. */
  setReloadResult(ok: boolean, at?: number): void;
  /**
   * The whole Prometheus text exposition, cached for a short while (renders asked for meanwhile
   * share it). For callers that want all of it at once (tests, tools); /metrics streams instead.
   */
  render(): Promise<string>;
  /** The same exposition as bytes, assembled from each key's rendered lines into one buffer. */
  renderBytes(): Promise<Buffer>;
  /**
   * The same, leased: `release()` once done with it. A released render that is no longer current
   * is the next render's buffer, so repeated whole renders reuse one buffer (24 MB at 10,000 keys).
   * (/metrics used it until it streamed: see stream().)
   */
  lease(): Promise<{ bytes: Buffer; release: () => void }>;
  /** State changed: the next render() is fresh. */
  invalidate(): void;
  /**
   * Renders a key's lines now (the daemon calls it as it stores a run), so a scrape only copies bytes
   * however many keys changed since the last one: with a 60 s scrape interval every key has. The
   * state may be the object rendered last time with new numbers (a steady run is written into the
   * key's state in place: src/steady.ts): it is rendered whether or not it is the same object.
   */
  prepare(state: KeyState, analysis?: KeyAnalysis): void;
  /**
   * The key's state changed but is not rendered now: the next render renders it (a render otherwise
   * takes a key's lines as current while its state is the object they were rendered from).
   */
  stale(state: KeyState): void;
  /**
   * Writes the exposition to a response in chunks of ~64 KB, straight from each key's rendered
   * lines: no buffer of the whole (25 MB at 10,000 keys). `write` returns false (or resolves to
   * false) when the client has gone, which ends the stream; awaiting it when the response's buffer
   * is full keeps a slow scraper to a chunk or two in memory and lets probes run between chunks.
   * Every line is whole; a key that runs while the stream is under way may show its new values in
   * the families still to come. A writer that calls `sent` once the chunk's bytes are out (the
   * response's write callback) gives the chunk back for the next ones: a scrape then allocates a few
   * chunks instead of its whole size (25 MB of short-lived external memory a scrape at 10,000 keys;
   * no change in CPU or lateness was measurable from this alone, docs/performance.md fix 45).
   */
  stream(write: (chunk: Buffer, sent: () => void) => boolean | Promise<boolean>): Promise<void>;
  /** Renders every key's lines that are not current (start-up: so the first scrape only copies). */
  prepareAll(): void;
  /**
   * Keys whose rendered lines are kept (gone keys are dropped at the next render), renders of a
   * key's lines so far, and how many of those were from text (the others wrote a key's new
   * values into its lines in place).
   */
  stats(): { cachedKeys: number; keyRenders: number; textRenders: number };
  readonly contentType: string;
}

const CACHED = 'Cached from the last probe run, not probed per scrape.';
const USAGE_WINDOWS = ['total', 'daily', 'weekly', 'monthly'] as const;

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  const now = deps.now ?? Date.now;
  const cacheMs = deps.cacheMs ?? 1000;
  const streamSliceMs = deps.streamSliceMs ?? 10;

  // The per-key families are written as text straight from the states, not through prom-client
  // gauges: with 10,000 keys (~180,000 series) prom-client's reset/set/format cycle took ~1.2 s
  // per scrape and blocked probing (docs/performance.md). The output is byte-for-byte what
  // prom-client wrote (src/metrics-render.test.ts compares them); the registry keeps the few
  // fleet-level metrics and whatever other components register on it (alerting's counters).
  const families: KeyFamily[] = [];
  const keyGauge = (name: string, help: string, fill: KeyFamily['fill']): void => void families.push({ name, help, fill });

  // keywatch_key_info carries each key's own config labels, whose names differ from key to key.
  keyGauge('keywatch_key_info', 'Always 1 for each monitored key, with its detected and configured provider and its config labels.', (emit, s) => {
    emit.info(1, s);
  });
  keyGauge('keywatch_key_valid', `1 when the provider accepts the key, 0 when it refused it (401/403/revoked). ${CACHED}`, (emit, s) => {
    if (s.facts.valid !== undefined) emit(s.facts.valid ? 1 : 0);
  });
  keyGauge(
    'keywatch_key_usage',
    `Spend reported by the provider for the key, per window (total = all time; daily/weekly/monthly = current UTC period). ${CACHED}`,
    (emit, s) => {
      const currency = moneyCurrency(s);
      if (currency === undefined) return;
      for (const w of USAGE_WINDOWS) {
        const v = s.facts.usage?.[w];
        if (v !== undefined) emit(v, 'currency', currency, 'window', w);
      }
    },
  );
  keyGauge('keywatch_key_limit', `Spend limit of the key; absent when the key is unlimited. ${CACHED}`, (emit, s) => {
    const currency = moneyCurrency(s);
    if (currency !== undefined && typeof s.facts.limit === 'number') emit(s.facts.limit, 'currency', currency);
  });
  keyGauge('keywatch_key_limit_remaining', `Spend remaining under the key's limit; absent when the key is unlimited. ${CACHED}`, (emit, s) => {
    const currency = moneyCurrency(s);
    if (currency !== undefined && typeof s.facts.limit === 'number' && typeof s.facts.limitRemaining === 'number') {
      emit(s.facts.limitRemaining, 'currency', currency);
    }
  });
  keyGauge('keywatch_key_limit_reset_timestamp_seconds', `Next reset of the key's spend limit (Unix seconds). ${CACHED}`, (emit, s) => {
    if (s.facts.limitResetAt !== undefined && s.facts.limit !== null) emit(s.facts.limitResetAt);
  });
  keyGauge('keywatch_key_balance', `Account credit left, where the provider reports it. ${CACHED}`, (emit, s) => {
    const currency = s.facts.balanceCurrency ?? s.facts.currency;
    if (s.facts.balance !== undefined && currency !== undefined) emit(s.facts.balance, 'currency', currency);
  });
  keyGauge('keywatch_key_expiry_timestamp_seconds', `When the key expires (Unix seconds); absent when it never does. ${CACHED}`, (emit, s) => {
    if (typeof s.facts.expiresAt === 'number') emit(s.facts.expiresAt);
  });
  keyGauge('keywatch_key_model_access', `1 when the key may use the watched model, 0 when not (watchModels only). ${CACHED}`, (emit, s) => {
    const models = s.facts.models;
    if (models === undefined) return;
    for (const model of s.watchModels) emit(models.access[model] === true ? 1 : 0, 'model', model);
  });
  keyGauge('keywatch_key_burn_rate', `Spend per hour derived from the key's history, per window. ${CACHED}`, (emit, _s, a) => {
    for (const b of a?.burnRates ?? []) emit(b.perHour, 'currency', b.currency, 'window', b.window);
  });
  keyGauge(
    'keywatch_key_exhaustion_seconds',
    `Projected seconds until the limit or balance runs out at the current burn rate; absent when not burning. ${CACHED}`,
    (emit, _s, a) => {
      const seconds = a?.exhaustion.seconds;
      if (seconds !== undefined) emit(seconds);
    },
  );
  keyGauge('keywatch_key_stability', `Probe run success ratio over the stability window, 0..1. ${CACHED}`, (emit, _s, a) => {
    if (a !== undefined) emit(a.stability.ratio);
  });
  keyGauge('keywatch_key_risk_score', `Risk score of the key, 0..1. ${CACHED}`, (emit, _s, a) => {
    if (a !== undefined) emit(a.risk.score);
  });
  keyGauge('keywatch_key_readiness', `1 for the key's current launch readiness verdict, 0 for the others. ${CACHED}`, (emit, _s, a) => {
    const verdict = a?.readiness.verdict;
    if (verdict === undefined) return;
    for (const v of VERDICTS) emit(v === verdict ? 1 : 0, 'verdict', v);
  });
  keyGauge('keywatch_key_consecutive_failures', `Consecutive runs in which no probe answered. ${CACHED}`, (emit, s) => {
    emit(s.consecutiveFailures);
  });
  keyGauge('keywatch_key_last_run_timestamp_seconds', 'When the key was last probed (Unix seconds).', (emit, s) => {
    if (s.lastRunAt !== undefined) emit(s.lastRunAt / 1000);
  });
  keyGauge('keywatch_probe_success', `1 when the probe answered in the last run, 0 when it failed. ${CACHED}`, (emit, s) => {
    // for-in, not Object.values/entries: the same order, without an array a family a key run.
    for (const k in s.probes) {
      const o = s.probes[k as keyof KeyState['probes']];
      if (o) emit(o.ok ? 1 : 0, 'probe', o.probe);
    }
  });
  keyGauge('keywatch_probe_duration_seconds', `How long the probe took in the last run. ${CACHED}`, (emit, s) => {
    for (const k in s.probes) {
      const o = s.probes[k as keyof KeyState['probes']];
      if (o) emit(o.durationMs / 1000, 'probe', o.probe);
    }
  });
  keyGauge('keywatch_probe_last_success_timestamp_seconds', 'When the probe last answered (Unix seconds).', (emit, s) => {
    for (const probe in s.lastSuccessAt) {
      const at = s.lastSuccessAt[probe as keyof KeyState['lastSuccessAt']];
      if (at !== undefined) emit(at / 1000, 'probe', probe);
    }
  });

  /**
   * Each key's lines as bytes, one record per key name: `at[i]..at[i+1]` of `bytes` is family i's
   * part, each line preceded by a newline (the layout of the exposition, see renderBytesNow). The
   * daemon renders a key again as it stores the key's run (prepare), whether the run built a new
   * state or wrote its numbers into the key's state in place (src/steady.ts); any other change
   * (a reload) replaces the state object, so a scrape takes a record as current while its `state`
   * is the key's state object. A key that ran is rendered again into its own buffer: one buffer per
   * key for the daemon's life, not one per run.
   *
   * A line is written from parts that do not change from run to run -- the family's `\nname{`,
   * the key's `key="..",provider=".."`, the extra labels' text (shared by every key, see labelsEntry)
   * -- and the value. A key whose lines have the label sets they had last time (its layout: a run
   * that changed only numbers) gets its new values written into its bytes in place (renderValues);
   * any other is rendered from text, its pieces joined into one string (renderText). In a
   * micro-benchmark of 10,000 keys' renders cycled as the daemon cycles them, in place took 5.8 us
   * a key against 9.9 from text (docs/performance.md, fix 72); from text, one string for the key
   * measured 19 KB less allocated a run than a string per line.
   */
  const recs = new Map<string, KeyRec>();
  let keyRenders = 0;
  let textRenders = 0;
  /**
   * The key's label sets and values, family after family, each family's in order of first
   * appearance: the first `lines` of each array (they are never truncated: `length = 0` would drop
   * their storage every key). Family i's lines are `lineEnds[i - 1]..lineEnds[i]`.
   */
  const lineEntries: LabelsEntry[] = [];
  const lineValues: number[] = [];
  const lineEnds: number[] = [];
  let lines = 0;
  let scratch: Buffer = Buffer.allocUnsafeSlow(16 * 1024);
  /** The key being rendered from text: its lines' pieces, and the string offset where each family's lines end. */
  const pieces: string[] = [];
  const familyEnds: number[] = [];
  /** The layouts keys' lines have had, shared by the keys that have the same (see layoutOf). */
  const layouts: Layout[] = [];

  // Within one key and family a label set appears once (prom-client's set() overwrote repeats,
  // e.g. a model listed twice in watchModels): the first position, the last value.
  const add = (entry: LabelsEntry, value: number): void => {
    if (entry.mark === stamp) {
      lineValues[entry.slot] = value;
      return;
    }
    entry.mark = stamp;
    entry.slot = lines;
    lineEntries[lines] = entry;
    lineValues[lines] = value;
    lines++;
  };
  /** The key being rendered (for keywatch_key_info). */
  let renderingKey: KeyRec | undefined;
  const emit = ((value: number, n1?: string, v1?: string, n2?: string, v2?: string): void => {
    if (!Number.isFinite(value)) return;
    add(n1 === undefined || v1 === undefined ? NO_LABELS : labelsEntry(n1, v1, n2, v2), value);
  }) as Emit;
  emit.info = (value, s) => {
    if (Number.isFinite(value)) add(infoEntry(renderingKey!, s), value);
  };

  function keyBytes(s: KeyState, analysis?: KeyAnalysis, changed = false): KeyRec {
    let rec = recs.get(s.name);
    if (rec !== undefined && rec.state === s && !changed) return rec;
    const a = analysis ?? (deps.analysis !== undefined ? deps.analysis(s) : s.analysis);
    if (rec === undefined) {
      rec = { state: s, bytes: EMPTY, at: new Uint32Array(families.length + 1), base: '', baseSize: 0, provider: '', info: undefined, layout: undefined, layoutInfo: undefined, values: NO_VALUES, seen: 0 };
      recs.set(s.name, rec);
    }
    rec.state = s;
    keyRenders++;
    if (rec.base === '' || rec.provider !== s.provider) {
      rec.base = `${label('key', s.name).slice(1)}${label('provider', s.provider)}`;
      rec.baseSize = Buffer.byteLength(rec.base);
      rec.provider = s.provider;
      rec.layout = undefined;
    }
    renderingKey = rec;
    lines = 0;
    for (let i = 0; i < families.length; i++) {
      stamp++;
      families[i]!.fill(emit, s, a);
      lineEnds[i] = lines;
    }
    renderingKey = undefined;
    if (rec.layout === undefined || rec.layoutInfo !== rec.info?.entry || !sameLayout(rec.layout) || !renderValues(rec)) renderText(rec);
    return rec;
  }

  /**
   * The key's lines where they are laid out as last time (the same label sets in every family: a
   * run that changed only numbers, as nearly every run does), written in place: the bytes between
   * the values stay as they are, each value is written over the old one, and where its text is
   * longer or shorter the rest of the key's lines move (copyWithin: no allocation, unlike
   * Buffer.copy). A value equal to the one its line holds (most of a run's: validity, limits,
   * verdicts, counts) is left as it is, not turned into text again. False when the lines outgrow
   * the key's buffer; the caller then renders them from text, which does not read what this left.
   */
  function renderValues(rec: KeyRec): boolean {
    const b = rec.bytes;
    const held = rec.values;
    let end = rec.at[families.length]!;
    let pos = 0;
    let j = 0;
    for (let i = 0; i < families.length; i++) {
      const openSize = opens[i]!.length;
      for (const last = lineEnds[i]!; j < last; j++) {
        const e = lineEntries[j]!;
        // The line up to its value: `\nname{`, the key's labels unless the entry is all of them, the rest.
        pos += openSize + (e.whole ? 0 : rec.baseSize) + e.size;
        // The old value ends where the next line begins (every line begins with a newline) or the key's lines do.
        let to = pos;
        while (to < end && b[to] !== NEWLINE) to++;
        const v = lineValues[j]!;
        if (v === held[j]) {
          pos = to;
          continue;
        }
        held[j] = v;
        const value = String(v);
        const n = value.length;
        if (to - pos !== n) {
          const moved = end + n - (to - pos);
          if (moved > b.length) return false;
          b.copyWithin(pos + n, to, end);
          end = moved;
        }
        for (let k = 0; k < n; k++) b[pos + k] = value.charCodeAt(k);
        pos += n;
      }
      rec.at[i + 1] = pos;
    }
    return true;
  }

  /** The key's lines from their pieces' text, and the layout they have. */
  function renderText(rec: KeyRec): void {
    textRenders++;
    // The key's lines as one string (joined from its pieces, so the only new string is the result),
    // written into the scratch buffer with one call: four writes a line (27 lines a key) took 8 us a
    // key in a micro-benchmark, one string and one write ~2 us.
    let n = 0;
    let length = 0;
    let j = 0;
    for (let i = 0; i < families.length; i++) {
      const open = opens[i]!;
      for (const last = lineEnds[i]!; j < last; j++) {
        const e = lineEntries[j]!;
        const value = String(lineValues[j]);
        pieces[n++] = open;
        if (!e.whole) {
          pieces[n++] = rec.base;
          length += rec.base.length;
        }
        pieces[n++] = e.text;
        pieces[n++] = value;
        length += open.length + e.text.length + value.length;
      }
      familyEnds[i] = length;
    }
    // Pieces left from a longer key are blanked (joined, they would be written after this key's
    // lines, where no offset points: waste, not wrong bytes), not cut off (that drops the storage).
    for (let k = n; k < pieces.length && pieces[k] !== ''; k++) pieces[k] = '';
    const out = pieces.join('');
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (3 * out.length > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(3 * out.length, scratch.length * 2));
    let pos = scratch.write(out, 0);
    if (pos === out.length) {
      // All ASCII (one byte a unit): the families' byte offsets are their string offsets.
      for (let i = 0; i < families.length; i++) rec.at[i + 1] = familyEnds[i]!;
    } else {
      // A label value beyond ASCII: the families' byte offsets from one write each.
      pos = 0;
      let from = 0;
      for (let i = 0; i < families.length; i++) {
        pos += scratch.write(out.slice(from, familyEnds[i]), pos);
        from = familyEnds[i]!;
        rec.at[i + 1] = pos;
      }
    }
    if (rec.bytes.length < pos) rec.bytes = keyBuffer(Math.ceil(pos * 1.1));
    scratch.copy(rec.bytes, 0, 0, pos);
    rec.layout = layoutOf();
    rec.layoutInfo = rec.info?.entry;
    if (rec.values.length < lines) rec.values = new Float64Array(lines);
    for (let k = 0; k < lines; k++) rec.values[k] = lineValues[k]!;
  }

  /**
   * The layout of the lines just filled: one of those already seen (a fleet's keys have a few
   * between them), else a new one. A key's info entry is its own (its name and labels), so a
   * layout holds INFO where the info line is, and the key its info entry (KeyRec.layoutInfo).
   */
  function layoutOf(): Layout {
    for (const l of layouts) if (sameLayout(l)) return l;
    const layout = { entries: lineEntries.slice(0, lines).map((e) => (e.whole ? INFO : e)), ends: lineEnds.slice(0, families.length) };
    // Bounded: keys whose label sets come and go (watched models, currencies) make new ones.
    if (layouts.length >= MAX_LAYOUTS) layouts.shift();
    layouts.push(layout);
    return layout;
  }

  /** Whether the lines just filled have `l`'s label sets, family by family. */
  function sameLayout(l: Layout): boolean {
    if (l.entries.length !== lines) return false;
    for (let i = 0; i < families.length; i++) if (l.ends[i] !== lineEnds[i]) return false;
    for (let j = 0; j < lines; j++) {
      const e = lineEntries[j]!;
      if (l.entries[j] !== (e.whole ? INFO : e)) return false;
    }
    return true;
  }

  /**
   * While prepareAll renders every key (start-up), each key's buffer is a slice of a shared slab:
   * 10,000 buffers of their own took ~25 ms to allocate in a micro-benchmark and 94 ms of a profiled
   * start-up, ~100 slabs take a few. A key that later outgrows its slice gets a buffer of its own
   * (as every key rendered outside prepareAll does), and a slab lives while any key still writes
   * into it: at most the start-up render's size (~25 MB at 10,000 keys) is held for keys that have
   * left it, none while their lines keep their length.
   */
  let bulk: { slab: Buffer; used: number } | undefined;
  function keyBuffer(size: number): Buffer {
    if (bulk === undefined || size > SLAB_BYTES / 8) return Buffer.allocUnsafeSlow(size);
    if (bulk.used + size > bulk.slab.length) bulk = { slab: Buffer.allocUnsafeSlow(SLAB_BYTES), used: 0 };
    const b = bulk.slab.subarray(bulk.used, bulk.used + size);
    bulk.used += size;
    return b;
  }

  /** keywatch_key_info's label set: the key's own, kept while its labels, account and providers stay. */
  function infoEntry(rec: KeyRec, s: KeyState): LabelsEntry {
    const i = rec.info;
    if (i !== undefined && i.labels === s.labels && i.account === s.account && i.provider === s.provider && i.claimed === s.claimedProvider) {
      return i.entry;
    }
    const entry = entryOf(`${infoLabelText(s)}} `, true);
    rec.info = { labels: s.labels, account: s.account, provider: s.provider, claimed: s.claimedProvider, entry };
    return entry;
  }

  /** Family i's `\nname{`. */
  const opens = families.map((f) => `\n${f.name}{`);

  const headers = families.map((f) => Buffer.from(`# HELP ${f.name} ${escapeText(f.help)}\n# TYPE ${f.name} gauge`));
  const BLANK = Buffer.from('\n\n');

  /**
   * Every key family, then prom-client's own metrics, in one buffer: per family its HELP and TYPE,
   * each key's lines for it, and a blank line between families (the text prom-client wrote).
   */
  /** Every current key's lines, rendered where they are not current; keys gone are forgotten. */
  function currentKeys(states: readonly KeyState[]): KeyRec[] {
    const keys: KeyRec[] = new Array<KeyRec>(states.length);
    const seen = ++renders;
    for (let i = 0; i < states.length; i++) {
      const k = keyBytes(states[i]!);
      k.seen = seen;
      keys[i] = k;
    }
    // Keys no longer in the states (removed by a reload, or no longer discovered).
    if (recs.size > keys.length) for (const [name, r] of recs) if (r.seen !== seen) recs.delete(name);
    return keys;
  }

  async function renderBytesNow(): Promise<Rendered> {
    // The states as they are when the render starts; their lines are rendered after prom-client's
    // part, with nothing awaited between rendering the keys and copying them, because a key's
    // buffer is rewritten in place when it runs again.
    const states = [...deps.states()];
    const tail = Buffer.from(await registry.metrics());
    const keys = currentKeys(states);
    let size = 0;
    for (const k of keys) size += k.at[families.length]!;
    for (const h of headers) size += h.length + BLANK.length;
    size += tail.length;
    // A spare buffer (a finished render nobody sends any more) if it fits; else a new one with room
    // for the fleet to grow a little before the next allocation.
    let out: Buffer;
    if (spare !== undefined && spare.length >= size) {
      out = spare;
      spare = undefined;
    } else out = Buffer.allocUnsafeSlow(Math.ceil(size * 1.1));
    let pos = 0;
    for (let i = 0; i < families.length; i++) {
      if (i > 0) pos += BLANK.copy(out, pos);
      pos += headers[i]!.copy(out, pos);
      for (const k of keys) {
        const from = k.at[i]!;
        const to = k.at[i + 1]!;
        if (to > from) pos += k.bytes.copy(out, pos, from, to);
      }
    }
    pos += BLANK.copy(out, pos);
    pos += tail.copy(out, pos);
    return { bytes: out.subarray(0, pos), base: out, leases: 0, exposed: false };
  }
  let renders = 0;

  async function stream(write: (chunk: Buffer, sent: () => void) => boolean | Promise<boolean>): Promise<void> {
    const states = [...deps.states()];
    const tail = Buffer.from(await registry.metrics());
    const keys = currentKeys(states);
    let chunk = freeChunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
    let pos = 0;
    let sliceStart = performance.now();
    // A chunk handed to write() is the response's until sent: the next one is another buffer.
    const send = async (): Promise<boolean> => {
      const base = chunk;
      const full = chunk.subarray(0, pos);
      chunk = freeChunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
      pos = 0;
      let given = false;
      const ok = await write(full, () => {
        if (given || freeChunks.length >= MAX_FREE_CHUNKS) return;
        given = true;
        freeChunks.push(base);
      });
      // Waiting for a drain is no turn of the loop: the socket's corked writes flush, and 'drain'
      // fires, in the same round of ticks. Hence a turn by the clock.
      if (ok && performance.now() - sliceStart >= streamSliceMs) {
        await new Promise((r) => setImmediate(r));
        sliceStart = performance.now();
      }
      return ok;
    };
    // Copies b[from, to) into the chunk, sending full chunks; false once the client has gone.
    const put = async (b: Buffer, from: number, to: number): Promise<boolean> => {
      while (from < to) {
        if (pos === CHUNK_BYTES && !(await send())) return false;
        const n = Math.min(to - from, CHUNK_BYTES - pos);
        b.copy(chunk, pos, from, from + n);
        pos += n;
        from += n;
      }
      return true;
    };
    for (let i = 0; i < families.length; i++) {
      if (i > 0 && !(await put(BLANK, 0, BLANK.length))) return;
      if (!(await put(headers[i]!, 0, headers[i]!.length))) return;
      for (const k of keys) {
        // A key's lines are copied whole, with no await between reading where they are and copying
        // them: a key that runs during an await is rendered again in place, and a copy spanning
        // the await would join the old lines' start to the new lines' end.
        let from = k.at[i]!;
        let to = k.at[i + 1]!;
        if (to <= from) continue;
        if (pos + (to - from) > CHUNK_BYTES && pos > 0) {
          if (!(await send())) return;
          from = k.at[i]!;
          to = k.at[i + 1]!;
        }
        if (to - from > CHUNK_BYTES) {
          // Longer than a chunk (hundreds of models): a copy of its own, sent across awaits.
          const copy = Buffer.from(k.bytes.subarray(from, to));
          if (!(await put(copy, 0, copy.length))) return;
          continue;
        }
        k.bytes.copy(chunk, pos, from, to);
        pos += to - from;
      }
    }
    if (!(await put(BLANK, 0, BLANK.length)) || !(await put(tail, 0, tail.length))) return;
    if (pos > 0) await send();
    if (freeChunks.length < MAX_FREE_CHUNKS) freeChunks.push(chunk);
  }

  /** Chunks whose bytes are out, for the next ones (shared by concurrent scrapes). */
  const freeChunks: Buffer[] = [];

  /** The buffer the next render may write into. */
  let spare: Buffer | undefined;

  /** A render that is no longer current: its buffer is free once no response sends it. */
  function recycle(r: Rendered | undefined): void {
    if (r === undefined || r.leases > 0 || r.exposed || r === cache?.rendered) return;
    if (spare === undefined || r.base.length > spare.length) spare = r.base;
  }

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

  let cache: { rendered: Rendered; at: number } | undefined;
  /** Bumped by every invalidation: a render started before one is not fresh enough after it. */
  let generation = 0;
  /** The render in progress: scrapes arriving meanwhile share it instead of rendering again. */
  let rendering: { rendered: Promise<Rendered>; generation: number } | undefined;

  async function renderFresh(t: number, gen: number): Promise<Rendered> {
    const r = await renderBytesNow();
    if (gen === generation) {
      const old = cache?.rendered;
      cache = { rendered: r, at: t };
      recycle(old);
    }
    return r;
  }

  function current(): Promise<Rendered> {
    const t = now();
    if (cache !== undefined && t - cache.at < cacheMs) return Promise.resolve(cache.rendered);
    if (rendering !== undefined && rendering.generation === generation) return rendering.rendered;
    const next = { rendered: renderFresh(t, generation), generation };
    rendering = next;
    const done = () => {
      if (rendering === next) rendering = undefined;
    };
    next.rendered.then(done, done);
    return next.rendered;
  }

  function drop(): void {
    const old = cache?.rendered;
    cache = undefined;
    generation++;
    recycle(old);
  }

  async function lease(): Promise<{ bytes: Buffer; release: () => void }> {
    const r = await current();
    r.leases++;
    let released = false;
    return {
      bytes: r.bytes,
      release: () => {
        if (released) return;
        released = true;
        r.leases--;
        recycle(r);
      },
    };
  }

  return {
    registry,
    contentType: registry.contentType,
    setReloadResult(ok, at = now()) {
      reloadOk.set(ok ? 1 : 0);
      if (ok) reloadAt.set(at / 1000);
      drop();
    },
    lease,
    // Handed out without a lease: never reused, so the caller may keep it.
    renderBytes: async () => {
      const r = await current();
      r.exposed = true;
      return r.bytes;
    },
    render: async () => {
      const l = await lease();
      try {
        return l.bytes.toString('utf8');
      } finally {
        l.release();
      }
    },
    invalidate() {
      drop();
    },
    prepare(state, analysis) {
      keyBytes(state, analysis, true);
    },
    stale(state) {
      const rec = recs.get(state.name);
      if (rec !== undefined) rec.state = undefined;
    },
    stream,
    prepareAll() {
      bulk = { slab: EMPTY, used: 0 };
      try {
        currentKeys([...deps.states()]);
      } finally {
        bulk = undefined;
      }
    },
    stats: () => ({ cachedKeys: recs.size, keyRenders, textRenders }),
  };
}

const RESERVED = new Set(['key', 'provider', 'claimed_provider']);

/** value, and up to two labels after key and provider (names and values, unescaped). */
interface Emit {
  (value: number, n1?: string, v1?: string, n2?: string, v2?: string): void;
  /** keywatch_key_info: the key's whole label set in place of key and provider. */
  info(value: number, s: KeyState): void;
}

/**
 * The text of a line's labels after key and provider, with the closing `} `: `,currency="USD"} `.
 * `whole`: the text is the line's entire label set (keywatch_key_info). `mark`/`slot`: whether and
 * where the family being rendered already has this label set (see add()).
 */
interface LabelsEntry {
  text: string;
  /** The text's length in UTF-8 bytes. */
  size: number;
  whole: boolean;
  mark: number;
  slot: number;
}

const NO_LABELS: LabelsEntry = entryOf('} ', false);
/** Where a layout has a key's keywatch_key_info line (the entry is the key's own). */
const INFO: LabelsEntry = entryOf('', true);
/** Layouts kept for keys to share (Metrics' layoutOf), at most. */
const MAX_LAYOUTS = 64;
const NEWLINE = 0x0a;

function entryOf(text: string, whole: boolean): LabelsEntry {
  return { text, size: Buffer.byteLength(text), whole, mark: 0, slot: 0 };
}
const EMPTY = Buffer.alloc(0);
/** A key's values before its first render (KeyRec.values). */
const NO_VALUES = new Float64Array(0);
/** prepareAll's key buffers are cut from slabs of this size (see keyBuffer). */
const SLAB_BYTES = 256 * 1024;
/** /metrics is streamed in chunks of this size (see Metrics.stream). */
const CHUNK_BYTES = 64 * 1024;
/** Sent chunks kept for reuse, at most (1 MB): a scrape has one or two out at a time. */
const MAX_FREE_CHUNKS = 16;

/**
 * Label texts by name and value (nested maps, so a lookup builds no key string). Shared by every
 * key and every Metrics: they hold currencies, windows, probes, verdicts and watched models, a few
 * hundred at most.
 */
const LABELS1 = new Map<string, Map<string, LabelsEntry>>();
const LABELS2 = new Map<string, Map<string, Map<string, Map<string, LabelsEntry>>>>();

/**
 * Bumped per family rendered (by any Metrics: entries are shared): an entry whose mark is the
 * current stamp is already in the family being rendered.
 */
let stamp = 0;

function labelsEntry(n1: string, v1: string, n2: string | undefined, v2: string | undefined): LabelsEntry {
  if (n2 === undefined || v2 === undefined) {
    const byValue = child(LABELS1, n1);
    let e = byValue.get(v1);
    if (e === undefined) byValue.set(v1, (e = entryOf(`${label(n1, v1)}} `, false)));
    return e;
  }
  const byValue2 = child(child(child(LABELS2, n1), v1), n2);
  let e = byValue2.get(v2);
  if (e === undefined) byValue2.set(v2, (e = entryOf(`${label(n1, v1)}${label(n2, v2)}} `, false)));
  return e;
}

function child<V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> {
  let c = m.get(k);
  if (c === undefined) m.set(k, (c = new Map()));
  return c;
}

/** One render: the exposition (a view of `base`), and who still sends it. */
interface Rendered {
  bytes: Buffer;
  base: Buffer;
  /** Responses sending it now. */
  leases: number;
  /** Handed out by renderBytes() (kept by its caller): its buffer is never reused. */
  exposed: boolean;
}

/** A key's exposition lines as bytes; family i's part is bytes[at[i]..at[i+1]), at[0] = 0. */
interface KeyRec {
  /** The state they were rendered from (undefined: stale, see Metrics.stale). */
  state: KeyState | undefined;
  bytes: Buffer<ArrayBufferLike>;
  at: Uint32Array;
  /** `key="..",provider=".."`, its length in UTF-8 bytes, and the provider it was made for. */
  base: string;
  baseSize: number;
  provider: string;
  info: { labels: KeyState['labels']; account: string | undefined; provider: string; claimed: string; entry: LabelsEntry } | undefined;
  /** The label sets of `bytes`' lines, and the key's info entry they hold (see layoutOf); undefined: none yet, or the key's provider changed (its labels changing is a new info entry). */
  layout: Layout | undefined;
  layoutInfo: LabelsEntry | undefined;
  /** The values `bytes`' lines hold, line by line (meaningful while `layout` is set). */
  values: Float64Array;
  /** The render that last saw the key among the states. */
  seen: number;
}

/** A key's lines' label sets, in order (INFO for its keywatch_key_info line), and where each family's end (line counts). */
interface Layout {
  entries: LabelsEntry[];
  ends: number[];
}

interface KeyFamily {
  name: string;
  help: string;
  /** `a`: the key's analysis (the state may not hold it). */
  fill: (emit: Emit, s: KeyState, a: KeyAnalysis | undefined) => void;
}

/** `,name="value"` with the value escaped as the exposition format requires. */
function label(name: string, value: string): string {
  // Nearly every value needs no escaping: test once rather than replace three times.
  if (!NEEDS_ESCAPE.test(value)) return `,${name}="${value}"`;
  return `,${name}="${escapeText(value).replace(/"/g, '\\"')}"`;
}

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function infoLabelText(s: KeyState): string {
  let text = '';
  for (const [k, v] of Object.entries(infoLabels(s))) text += label(k, v);
  return text.slice(1);
}

function infoLabels(s: KeyState): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels)) {
    // A config label cannot shadow the identifying ones, nor use Prometheus' reserved prefix.
    const name = RESERVED.has(k) || k.startsWith('__') ? `label_${k.replace(/^_+/, '')}` : k;
    labels[name] = v;
  }
  if (s.account !== undefined && labels.account === undefined) labels.account = s.account;
  return { ...labels, key: s.name, provider: s.provider, claimed_provider: s.claimedProvider };
}

function moneyCurrency(s: KeyState): Currency | undefined {
  return s.facts.currency;
}
