/**
 * The only way keywatch talks to a provider: GET, to an allowlisted path, with a timeout and
 * a body cap, over a keep-alive pool. There is no method parameter on purpose.
 */
import type { Dispatcher } from 'undici';
import { Agent, undiciUtil } from './undici.js';
import { ProbeError } from '../errors.js';
import { Secret, scrubSecrets, secretsGeneration } from '../secret.js';

export const DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024;

export interface HttpResponse {
  status: number;
  /** Lowercase header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  text: string;
  url: string;
}

export interface GetOptions {
  headers?: Record<string, string | Secret>;
  /** Query parameters; a Secret value (Gemini `?key=`) is sent but never shown. */
  query?: Record<string, string | number | boolean | Secret | undefined>;
  timeoutMs?: number;
  maxBytes?: number;
}

/** What probes see: a GET bound to one base URL and one allowlist. */
export interface ScopedHttp {
  get(path: string, opts?: GetOptions): Promise<HttpResponse>;
}

export interface HttpStats {
  requests: number;
  failures: number;
  bytes: number;
}

export interface HttpClientOptions {
  /** Keep-alive connections per origin. */
  connectionsPerOrigin?: number;
  dispatcher?: Dispatcher;
  defaultTimeoutMs?: number;
  maxBytes?: number;
  userAgent?: string;
}

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, failures: 0, bytes: 0 };
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #userAgent: string;
  /**
   * The runner asks for a scoped view on every key run; the view and its parsed URLs do not change
   * between runs, so one per (base URL, allowlist) is kept instead of rebuilt each time.
   */
  readonly #scopes = new Map<string, { allowed: readonly (string | RegExp)[]; http: ScopedHttp }>();

  constructor(opts: HttpClientOptions = {}) {
    this.#ownsDispatcher = opts.dispatcher === undefined;
    this.#dispatcher =
      opts.dispatcher ??
      new Agent({
        connections: opts.connectionsPerOrigin ?? 16,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 120_000,
        pipelining: 1,
      });
    this.#timeoutMs = opts.defaultTimeoutMs ?? 10_000;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#userAgent = opts.userAgent ?? 'keywatch/0.1 (+read-only key monitor)';
  }

  /** A GET-only view restricted to paths under `baseUrl` that match `allowedPaths`. */
  scoped(baseUrl: string, allowedPaths: readonly (string | RegExp)[]): ScopedHttp {
    const cached = this.#scopes.get(baseUrl);
    if (cached !== undefined && cached.allowed === allowedPaths) return cached.http;
    const base = baseUrl.replace(/\/+$/, '');
    // Parsed once per path: a probe's paths are a handful of allowlisted strings. Bounded, because
    // an allowlist RegExp may admit paths with ids in them.
    // With the URL as errors show it, scrubbed again only once another secret is registered.
    const parsed = new Map<string, { url: ParsedUrl; shown: string; generation: number }>();
    const http: ScopedHttp = {
      get: (path, opts) => {
        if (!isAllowed(path, allowedPaths)) {
          // Our bug, not theirs: a probe asked for a path its adapter does not declare.
          throw new ProbeError('config', `path ${path} is not on the adapter's read-only allowlist`);
        }
        if (opts?.query !== undefined) return this.get(base + path, opts);
        let p = parsed.get(path);
        if (p === undefined) {
          let url: ParsedUrl;
          try {
            url = parseUrl(base + path);
          } catch (err) {
            return Promise.reject(err);
          }
          p = { url, shown: scrubSecrets(url.href), generation: secretsGeneration() };
          if (parsed.size < SCOPE_CACHE_MAX) parsed.set(path, p);
        } else if (p.generation !== secretsGeneration()) {
          p.shown = scrubSecrets(p.url.href);
          p.generation = secretsGeneration();
        }
        return this.#send(p.url, p.shown, opts);
      },
    };
    if (this.#scopes.size >= SCOPE_CACHE_MAX) this.#scopes.clear();
    this.#scopes.set(baseUrl, { allowed: allowedPaths, http });
    return http;
  }

  get(url: string, opts: GetOptions = {}): Promise<HttpResponse> {
    const query = opts.query;
    if (query === undefined) {
      let parsed: ParsedUrl;
      try {
        parsed = parseUrl(url);
      } catch (err) {
        return Promise.reject(err);
      }
      return this.#send(parsed, scrubSecrets(parsed.href), opts);
    }
    let target: URL;
    try {
      target = new URL(url);
    } catch (err) {
      return Promise.reject(err);
    }
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      target.searchParams.set(k, v instanceof Secret ? v.reveal() : String(v));
    }
    const shown = showUrl(target, query);
    return this.#send({ href: target.href, origin: target.origin, path: target.pathname + target.search }, shown, opts);
  }

  /**
   * One request straight through the dispatcher with our own handler: undici's request() would add
   * a Readable body stream, an async resource and (with a signal) an AbortSignal per request, and
   * the body then needs an async iterator; the handler collects the body into a list of chunks.
   */
  #send(url: ParsedUrl, shown: string, opts: GetOptions | undefined): Promise<HttpResponse> {
    const timeoutMs = opts?.timeoutMs ?? this.#timeoutMs;
    const maxBytes = opts?.maxBytes ?? this.#maxBytes;
    // A flat [name, value, ...] list: one array instead of an object plus an entries() pair per header.
    const headers: string[] = ['user-agent', this.#userAgent, 'accept', 'application/json'];
    const given = opts?.headers;
    if (given !== undefined) {
      for (const k in given) {
        if (!Object.hasOwn(given, k)) continue;
        const v = given[k]!;
        setHeader(headers, k.toLowerCase(), v instanceof Secret ? v.reveal() : v);
      }
    }
    this.stats.requests++;
    const handler = new GetHandler(this.stats, shown, timeoutMs, maxBytes);
    const done = new Promise<HttpResponse>((resolve, reject) => {
      handler.resolve = resolve;
      handler.reject = reject;
    });
    handler.start();
    this.#dispatcher.dispatch(
      {
        origin: url.origin,
        path: url.path,
        method: 'GET',
        headers,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      handler,
    );
    return done;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

const SCOPE_CACHE_MAX = 256;

interface ParsedUrl {
  href: string;
  origin: string;
  /** Path and query as sent on the request line. */
  path: string;
}

function parseUrl(url: string): ParsedUrl {
  const u = new URL(url);
  return { href: u.href, origin: u.origin, path: u.search ? u.pathname + u.search : u.pathname };
}

/** Later values for the same (lowercased) name win, as they did in a header object. */
function setHeader(headers: string[], name: string, value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) {
      headers[i + 1] = value;
      return;
    }
  }
  headers.push(name, value);
}

/**
 * undici's dispatch handler for one GET: collects the body under the cap and settles the promise.
 * The whole request is bounded by one timer (a drip-fed body would otherwise reset bodyTimeout
 * with every byte); headersTimeout/bodyTimeout end a stalled phase earlier with the same kind.
 */
class GetHandler implements Dispatcher.DispatchHandler {
  resolve!: (res: HttpResponse) => void;
  reject!: (err: unknown) => void;
  #abort: ((err?: Error) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timedOut = false;
  #settled = false;
  #status = 0;
  #headers: Record<string, string> | undefined;
  #chunks: Buffer[] | undefined;
  #first: Buffer | undefined;
  #size = 0;

  constructor(
    readonly stats: HttpStats,
    readonly shown: string,
    readonly timeoutMs: number,
    readonly maxBytes: number,
  ) {}

  start(): void {
    this.#timer = setTimeout(onDeadline, this.timeoutMs, this);
  }

  deadline(): void {
    this.#timer = undefined;
    if (this.#settled) return;
    this.#timedOut = true;
    const err = new ProbeError('timeout', `no answer within ${this.timeoutMs} ms (${this.shown})`);
    // Not yet on a socket (waiting for a connection): settle now; onConnect aborts it when it gets one.
    if (this.#abort === undefined) this.fail(err);
    else this.#abort(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.#timedOut) {
      abort(new ProbeError('timeout', `no answer within ${this.timeoutMs} ms (${this.shown})`));
      return;
    }
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null, _resume: () => void): boolean {
    this.#status = statusCode;
    const headers = flatHeaders(rawHeaders);
    const length = headers['content-length'];
    const declared = length !== undefined ? Number(length) : NaN;
    if (Number.isFinite(declared) && declared > this.maxBytes) {
      // Thrown here, undici aborts the request and hands the error to onError.
      throw new ProbeError('bad_response', `response body of ${declared} bytes exceeds the ${this.maxBytes}-byte cap`);
    }
    this.#headers = headers;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size > this.maxBytes) {
      throw new ProbeError('bad_response', `response body exceeds the ${this.maxBytes}-byte cap (${this.shown})`);
    }
    if (this.#first === undefined) this.#first = chunk;
    else (this.#chunks ??= [this.#first]).push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const body = this.#chunks !== undefined ? Buffer.concat(this.#chunks, this.#size) : this.#first;
    const text = body === undefined ? '' : body.toString('utf8');
    this.stats.bytes += text.length;
    this.resolve({ status: this.#status, headers: this.#headers ?? {}, text, url: this.shown });
  }

  onError(err: Error): void {
    this.fail(classifyTransportError(err, this.shown, this.timeoutMs, this.#timedOut));
  }

  fail(err: ProbeError): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.stats.failures++;
    this.reject(err);
  }
}

function onDeadline(handler: GetHandler): void {
  handler.deadline();
}

/**
 * Lowercase names, repeated headers joined with ", " (what undici's parseHeaders plus a join gave).
 * Known names come back as interned strings from undici's lookup, so no name is allocated.
 */
function flatHeaders(raw: Buffer[] | string[] | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === null) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = undiciUtil.headerNameToString(raw[i]!);
    if (key === '__proto__') continue; // a header object could not hold it either
    const v = raw[i + 1]!;
    const value = typeof v === 'string' ? v : v.toString('latin1');
    out[key] = Object.hasOwn(out, key) ? `${out[key]}, ${value}` : value;
  }
  return out;
}

export function isAllowed(path: string, allowed: readonly (string | RegExp)[]): boolean {
  const bare = path.split('?')[0] ?? path;
  return allowed.some((a) => (typeof a === 'string' ? a === bare : a.test(bare)));
}

function showUrl(url: URL, query: GetOptions['query']): string {
  const copy = new URL(url.toString());
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v instanceof Secret) copy.searchParams.set(k, 'REDACTED');
  }
  return scrubSecrets(copy.toString());
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function classifyTransportError(err: unknown, shown: string, timeoutMs: number, timedOut: boolean): ProbeError {
  if (err instanceof ProbeError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (timedOut || TIMEOUT_CODES.has(code) || e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new ProbeError('timeout', `no answer within ${timeoutMs} ms (${shown})`);
  }
  const what = code || e.name || 'error';
  return new ProbeError('network', scrubSecrets(`request failed: ${what} (${shown})`));
}

/** Retry-After: delta seconds or an HTTP date; returns milliseconds, or undefined. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Parses JSON or throws bad_response naming what came instead (never the body itself). */
export function parseJson(res: HttpResponse): unknown {
  try {
    return JSON.parse(res.text);
  } catch {
    const type = res.headers['content-type'] ?? 'no content-type';
    throw new ProbeError('bad_response', `response is not JSON (HTTP ${res.status}, ${type.split(';')[0]})`, {
      status: res.status,
    });
  }
}

/**
 * The statuses that mean "their side failed or asked us to wait", common to every provider:
 * 429 -> rate_limited (with Retry-After), 408/5xx -> upstream. Adapters handle 401/402/403 first,
 * because what those mean differs per provider and per endpoint.
 */
export function throwForTransientStatus(res: HttpResponse, now = Date.now()): void {
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now);
  if (res.status === 429) {
    throw new ProbeError('rate_limited', 'rate limited (HTTP 429)', {
      status: 429,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (res.status === 408 || res.status >= 500) {
    throw new ProbeError('upstream', `provider error (HTTP ${res.status})`, {
      status: res.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
}
