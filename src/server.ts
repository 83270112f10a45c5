/**
 * The daemon's HTTP face (node:http): /metrics (cached render, optional bearer auth), /healthz,
 * /readyz, /api/keys[/NAME] (state JSON, never more of a key than its masked form), POST /-/reload,
 * and a seam for extra routes (alerting's /api/alerts, /api/silences). When server.token is set,
 * /api/* and /-/reload need `Authorization: Bearer <token>`. Without a token, requests that change
 * something (POST/PUT/DELETE/PATCH on /api/* and /-/reload) are served to loopback peers only.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigIssue } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { scrubSecrets, type Secret } from './secret.js';
import type { KeyState } from './state.js';

export interface ReadyCheck {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface ServerDeps {
  metrics: Metrics;
  states: () => Iterable<KeyState>;
  state: (name: string) => KeyState | undefined;
  /** Extra, non-secret facts about a key for the API (next run time, ...). */
  describe?: (name: string) => Record<string, unknown>;
  ready: () => ReadyCheck;
  reload: () => Promise<{ ok: boolean; issues?: ConfigIssue[] }>;
  /** Read at each request, so a reload can change them. */
  auth: () => { token?: Secret; metricsAuth: boolean };
  /** Extra routes; resolves true when it handled the request (auth is checked before). */
  handle?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  log: Logger;
}

export interface KeywatchServer {
  url: string;
  close(): Promise<void>;
}

export async function startServer(listen: string, deps: ServerDeps): Promise<KeywatchServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    route(req, res, deps).catch((err: unknown) => {
      deps.log.error({ err }, 'http handler failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Scrapes are short; do not let a stuck client hold shutdown.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

async function route(req: IncomingMessage, res: ServerResponse, deps: ServerDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://keywatch');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const { token, metricsAuth } = deps.auth();

  if (path === '/healthz') return text(res, 200, 'ok\n');
  if (path === '/readyz') {
    const r = deps.ready();
    return json(res, r.ready ? 200 : 503, r);
  }
  if (path === '/metrics') {
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET');
    if (metricsAuth && token !== undefined && !authorized(req, token)) return unauthorized(res);
    // Streamed from each key's rendered lines (chunked): no 25 MB buffer per scrape at 10,000 keys.
    res.writeHead(200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    await deps.metrics.stream((chunk, sent) => write(res, chunk, sent));
    res.end();
    return;
  }
  if (path === '/-/reload') {
    if (method !== 'POST' && method !== 'PUT') return methodNotAllowed(res, 'POST');
    if (mutationDenied(method, token, req.socket.remoteAddress)) return json(res, 403, { error: NEEDS_TOKEN });
    if (token !== undefined && !authorized(req, token)) return unauthorized(res);
    const r = await deps.reload();
    return json(res, r.ok ? 200 : 400, r.ok ? { ok: true } : { ok: false, issues: r.issues ?? [] });
  }
  if (path === '/api' || path.startsWith('/api/')) {
    if (mutationDenied(method, token, req.socket.remoteAddress)) return json(res, 403, { error: NEEDS_TOKEN });
    if (token !== undefined && !authorized(req, token)) return unauthorized(res);
    if (path === '/api/keys' || path === '/api/keys/') {
      if (method !== 'GET') return methodNotAllowed(res, 'GET');
      const names = [...deps.states()].map((s) => s.name).sort((a, b) => a.localeCompare(b));
      // Each key as it is when its chunk is written (a key may run between chunks; one gone is left out).
      return jsonList(res, 'keys', names, (name) => {
        const s = deps.state(name);
        return s === undefined ? undefined : view(s, deps);
      });
    }
    if (path.startsWith('/api/keys/')) {
      if (method !== 'GET') return methodNotAllowed(res, 'GET');
      const name = decodeURIComponent(path.slice('/api/keys/'.length));
      const s = deps.state(name);
      return s === undefined ? json(res, 404, { error: `no key named ${JSON.stringify(name)}` }) : json(res, 200, view(s, deps));
    }
    if (deps.handle !== undefined && (await deps.handle(req, res, url))) return;
  }
  return json(res, 404, { error: 'not found' });
}

/** The state as the API shows it: KeyState holds no secret (fingerprint and masked form only). */
function view(s: KeyState, deps: ServerDeps): Record<string, unknown> {
  return { ...s, ...(deps.describe?.(s.name) ?? {}) };
}

const NEEDS_TOKEN =
  'changes (silences, reload) are only accepted from localhost when no token is set: set server.token and send Authorization: Bearer <token>';

/**
 * Without server.token, anyone who can reach the port could add silences or reload: the container
 * listens on 0.0.0.0. So unauthenticated changes are served to loopback peers only; reads stay open.
 */
export function mutationDenied(method: string, token: Secret | undefined, remoteAddress: string | undefined): boolean {
  if (token !== undefined) return false;
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false;
  return !isLoopback(remoteAddress);
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

function authorized(req: IncomingMessage, token: Secret): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (m === null) return false;
  const given = Buffer.from(m[1]!.trim());
  const want = Buffer.from(token.reveal());
  return given.length === want.length && timingSafeEqual(given, want);
}

function unauthorized(res: ServerResponse): void {
  res.setHeader('www-authenticate', 'Bearer realm="keywatch"');
  json(res, 401, { error: 'unauthorized' });
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  json(res, 405, { error: 'method not allowed' });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  // The scrubber is a last line: nothing in these bodies should ever hold a secret.
  const text = scrubSecrets(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Keys per chunk of a streamed list. */
export const LIST_CHUNK = 200;

/**
 * `{"<field>":[...]}` with 200, streamed: LIST_CHUNK items at a time (those `show` gives undefined
 * for are left out), each chunk written (waiting for drain) and the event loop let go between
 * chunks. The same bytes json() writes, but at 10,000 keys json() held the loop for 1.2-1.7 s
 * (every state and its analysis judged again, 34 MB of JSON and its scrub in one piece), a probe's
 * worth of lateness; now probes run between chunks.
 */
async function jsonList<T>(res: ServerResponse, field: string, items: readonly T[], show: (item: T) => unknown): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  const parts: string[] = [];
  let first = true;
  for (let i = 0; i < items.length || i === 0; i += LIST_CHUNK) {
    parts.length = 0;
    if (i === 0) parts.push(`{${JSON.stringify(field)}:[`);
    for (let j = i; j < Math.min(i + LIST_CHUNK, items.length); j++) {
      const shown = show(items[j]!);
      if (shown === undefined) continue;
      parts.push(`${first ? '' : ','}${JSON.stringify(shown)}`);
      first = false;
    }
    if (i + LIST_CHUNK >= items.length) parts.push(']}');
    if (!(await write(res, Buffer.from(scrubSecrets(parts.join('')))))) return;
    if (i + LIST_CHUNK < items.length) await new Promise((r) => setImmediate(r));
  }
  res.end();
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port: Number(listen.slice(i + 1)) };
}

/**
 * Writes a chunk; when the response's buffer is full, resolves once it drained (true) or the client
 * went away (false). `sent` is called once the chunk's bytes have left for the socket (not on an error).
 */
function write(res: ServerResponse, chunk: Buffer, sent?: () => void): boolean | Promise<boolean> {
  if (res.destroyed) return false;
  const written = sent === undefined ? res.write(chunk) : res.write(chunk, (err) => err == null && sent());
  if (written) return true;
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
