/**
 * A local webhook / Slack incoming-webhook receiver for tests: records every request with its raw
 * body, and answers from a script (500, 429 + Retry-After, hang, ...) then 200 "ok" like Slack.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceiverReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (until the receiver closes): a delivery "in flight". */
  hang?: boolean;
}

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The exact bytes received, as text (signatures are over these). */
  body: string;
  json: unknown;
  /** Epoch ms when the request arrived. */
  at: number;
  /** What we answered (undefined while hanging). */
  status?: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Queue replies for the next requests, in order; afterwards every request gets 200 "ok". */
  script(...replies: ReceiverReply[]): void;
  /** Resolves once at least n requests arrived; rejects after timeoutMs. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const queue: ReceiverReply[] = [];
  const hanging = new Set<ServerResponse>();
  const waiters: { n: number; resolve: () => void }[] = [];

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const rec: Received = { method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body, json, at: Date.now() };
      received.push(rec);
      const reply = queue.shift() ?? {};
      if (reply.hang) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
      } else {
        rec.status = reply.status ?? 200;
        res.writeHead(rec.status, { 'content-type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? (rec.status < 300 ? 'ok' : 'error'));
      }
      for (const w of [...waiters]) {
        if (received.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    received,
    script: (...replies) => void queue.push(...replies),
    waitFor(n, timeoutMs = 10_000) {
      if (received.length >= n) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver: expected ${n} requests, got ${received.length}`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(received);
          },
        });
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
