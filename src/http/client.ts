/**
 * The only way keywatch talks to a provider: GET, to an allowlisted path, with a timeout and
 * a body cap, over a keep-alive pool. There is no method parameter on purpose.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { ProbeError } from '../errors.js';
import { Secret, scrubSecrets } from '../secret.js';

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
    const base = baseUrl.replace(/\/+$/, '');
    return {
      get: (path, opts) => {
        if (!isAllowed(path, allowedPaths)) {
          // Our bug, not theirs: a probe asked for a path its adapter does not declare.
          throw new ProbeError('config', `path ${path} is not on the adapter's read-only allowlist`);
        }
        return this.get(base + path, opts);
      },
    };
  }

  async get(url: string, opts: GetOptions = {}): Promise<HttpResponse> {
    const target = new URL(url);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      target.searchParams.set(k, v instanceof Secret ? v.reveal() : String(v));
    }
    const shown = showUrl(target, opts.query);
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: 'application/json' };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      headers[k.toLowerCase()] = v instanceof Secret ? v.reveal() : v;
    }
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const maxBytes = opts.maxBytes ?? this.#maxBytes;
    this.stats.requests++;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(target, {
        method: 'GET',
        headers,
        dispatcher: this.#dispatcher,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        maxRedirections: 0,
      } as Parameters<typeof request>[1]);
      const text = await readCapped(res.body, maxBytes, res.headers['content-length'], shown);
      this.stats.bytes += text.length;
      return { status: res.statusCode, headers: flattenHeaders(res.headers), text, url: shown };
    } catch (err) {
      this.stats.failures++;
      throw classifyTransportError(err, shown, timeoutMs, signal);
    }
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
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

async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown },
  maxBytes: number,
  contentLength: string | string[] | undefined,
  shown: string,
): Promise<string> {
  const declared = typeof contentLength === 'string' ? Number(contentLength) : NaN;
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy();
    throw new ProbeError('bad_response', `response body of ${declared} bytes exceeds the ${maxBytes}-byte cap`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new ProbeError('bad_response', `response body exceeds the ${maxBytes}-byte cap (${shown})`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function classifyTransportError(err: unknown, shown: string, timeoutMs: number, signal: AbortSignal): ProbeError {
  if (err instanceof ProbeError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (signal.aborted || TIMEOUT_CODES.has(code) || e.name === 'TimeoutError' || e.name === 'AbortError') {
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
