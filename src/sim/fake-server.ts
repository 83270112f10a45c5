/**
 * A small HTTP server on loopback that speaks whatever a route table says. The provider
 * simulators (providers/<id>/sim.ts), the demo, the tests and the benchmark build on it.
 * It records every request, and counts any non-GET or unrouted request as a violation.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  /** Object = JSON; string = sent as is. */
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (until the server closes). */
  hang?: boolean;
  /** Stream this many bytes of filler (a huge body) without holding them in memory. */
  streamBytes?: number;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  at: number;
}

export type FakeHandler = (req: FakeRequest) => FakeReply | Promise<FakeReply>;

export interface FakeServer {
  url: string;
  port: number;
  requests: FakeRequest[];
  /** Requests that were not GET or hit no route. */
  violations: FakeRequest[];
  route(path: string, handler: FakeHandler): void;
  /** Forget recorded requests (not routes). */
  reset(): void;
  close(): Promise<void>;
}

export interface FakeServerOptions {
  port?: number;
  host?: string;
  /** Keep at most this many recorded requests (benchmarks set it low). */
  maxRecorded?: number;
}

export async function startFakeServer(
  routes: Record<string, FakeHandler> = {},
  opts: FakeServerOptions = {},
): Promise<FakeServer> {
  const table = new Map<string, FakeHandler>(Object.entries(routes));
  const requests: FakeRequest[] = [];
  const violations: FakeRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const maxRecorded = opts.maxRecorded ?? 100_000;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const rec: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      at: Date.now(),
    };
    if (requests.length < maxRecorded) requests.push(rec);
    const handler = table.get(url.pathname);
    if (rec.method !== 'GET' || handler === undefined) {
      violations.push(rec);
      send(res, rec.method !== 'GET' ? { status: 405, body: { error: { code: 405, message: 'method not allowed' } } } : { status: 404, body: { error: { code: 404, message: 'Not Found' } } });
      return;
    }
    Promise.resolve()
      .then(() => handler(rec))
      .then(async (reply) => {
        if (reply.hang) {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        if (!res.destroyed) send(res, reply);
      })
      .catch(() => send(res, { status: 500, body: { error: { code: 500, message: 'fake handler failed' } } }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    violations,
    route: (path, handler) => void table.set(path, handler),
    reset: () => {
      requests.length = 0;
      violations.length = 0;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, reply: FakeReply): void {
  const status = reply.status ?? 200;
  if (reply.streamBytes !== undefined) {
    res.writeHead(status, { 'content-type': 'application/json', ...reply.headers });
    streamFiller(res, reply.streamBytes);
    return;
  }
  const isText = typeof reply.body === 'string';
  const body = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  res.writeHead(status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(body),
    ...reply.headers,
  });
  res.end(body);
}

function streamFiller(res: ServerResponse, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      if (res.destroyed) return;
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('error', () => undefined);
  pump();
}
