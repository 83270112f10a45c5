/**
 * The HTTP client against real local servers (port 0): whatever the transport does, a request ends
 * within its timeout as `timeout`, a body over the cap is refused, headers come back flattened, and
 * a Secret never shows in the URL it reports.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProbeError } from '../src/errors.js';
import { HttpClient } from '../src/http/client.js';
import { Secret } from '../src/secret.js';

let server: Server;
let base: string;
const open: ServerResponse[] = [];
const http = new HttpClient();

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/hang')) {
      open.push(res); // never answers
    } else if (path.startsWith('/drip')) {
      // Headers at once, then a byte every 50 ms forever: bodyTimeout never fires on its own.
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    } else if (path.startsWith('/big-declared')) {
      res.writeHead(200, { 'content-length': '5000' });
      res.end('x'.repeat(5000));
    } else if (path.startsWith('/big-chunked')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'.repeat(3000));
      res.end('y'.repeat(3000));
    } else if (path.startsWith('/chunks')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
      setTimeout(() => res.end('"é"}'), 20);
    } else {
      res.setHeader('x-multi', ['one', 'two']);
      res.writeHead(200, { 'content-type': 'application/json', 'X-Echo-Auth': String(req.headers.authorization ?? '') });
      res.end(JSON.stringify({ path, ua: req.headers['user-agent'], accept: req.headers.accept }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await http.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function failure(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isProbeError(err)) return { kind: err.kind, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

describe('HttpClient.get', () => {
  it('returns status, text, flattened lowercase headers and the shown URL', async () => {
    const res = await http.scoped(base, ['/ok']).get('/ok', { headers: { Authorization: 'Bearer abc' } });

    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ path: '/ok', ua: 'keywatch/0.1 (+read-only key monitor)', accept: 'application/json' });
    expect(res.headers['x-multi']).toBe('one, two');
    expect(res.headers['x-echo-auth']).toBe('Bearer abc');
    expect(res.url).toBe(`${base}/ok`);
  });

  it('a body that arrives in several chunks is decoded whole', async () => {
    const res = await http.get(`${base}/chunks`);

    expect(JSON.parse(res.text)).toEqual({ a: 'é' });
  });

  it('a hung server ends as timeout within the timeout', async () => {
    const t0 = Date.now();
    const f = await failure(http.get(`${base}/hang`, { timeoutMs: 300 }));

    expect(f.kind).toBe('timeout');
    expect(f.message).toBe(`no answer within 300 ms (${base}/hang)`);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a drip-fed body ends as timeout within the timeout', async () => {
    const t0 = Date.now();
    const f = await failure(http.get(`${base}/drip`, { timeoutMs: 300 }));

    expect(f.kind).toBe('timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a body over the cap is refused, by its content-length or as it arrives', async () => {
    const declared = await failure(http.get(`${base}/big-declared`, { maxBytes: 4096 }));
    const counted = await failure(http.get(`${base}/big-chunked`, { maxBytes: 4096 }));

    expect(declared).toEqual({ kind: 'bad_response', message: 'response body of 5000 bytes exceeds the 4096-byte cap' });
    expect(counted).toEqual({ kind: 'bad_response', message: `response body exceeds the 4096-byte cap (${base}/big-chunked)` });
  });

  it('a Secret query value is sent but shown as REDACTED', async () => {
    const secret = new Secret('sk-test-query-secret-0123456789');
    const res = await http.get(`${base}/ok`, { query: { key: secret, n: 2 } });

    expect(JSON.parse(res.text).path).toBe('/ok?key=sk-test-query-secret-0123456789&n=2');
    expect(res.url).toBe(`${base}/ok?key=REDACTED&n=2`);
  });

  it('a scoped path shows its URL scrubbed of a secret registered after the path was first asked for', async () => {
    // A gateway with the key in its base URL, asked for before the key was known as a secret.
    const token = 'sk-or-v1-test-scoped-path-0123456789abcdef';
    const scoped = http.scoped(`${base}/gw/${token}`, ['/ok']);
    expect((await scoped.get('/ok')).url).toBe(`${base}/gw/${token}/ok`);

    new Secret(token);
    const res = await scoped.get('/ok');

    expect(JSON.parse(res.text).path).toBe(`/gw/${token}/ok`);
    expect(res.url).not.toContain(token);
    expect(res.url).toContain(`${base}/gw/`);
  });

  it('a refused connection is a network error naming the code', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));

    const f = await failure(http.get(`http://127.0.0.1:${port}/x`));

    expect(f).toEqual({ kind: 'network', message: `request failed: ECONNREFUSED (http://127.0.0.1:${port}/x)` });
  });

  it('counts requests, failures and bytes', async () => {
    const own = new HttpClient();
    await own.get(`${base}/ok`);
    await failure(own.get(`${base}/big-declared`, { maxBytes: 10 }));
    await own.close();

    expect(own.stats.requests).toBe(2);
    expect(own.stats.failures).toBe(1);
    expect(own.stats.bytes).toBeGreaterThan(0);
  });

  it('a path off the allowlist is refused before any request', () => {
    expect(() => http.scoped(base, ['/ok']).get('/other')).toThrow(/not on the adapter's read-only allowlist/);
  });
});
