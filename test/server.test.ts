import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createAlerting } from '../src/alerting/index.js';
import { Secret } from '../src/secret.js';
import { LIST_CHUNK, mutationDenied, parseListen } from '../src/server.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const TOKEN = 'kw-test-server-token-0123456789';
let open: TestDaemon;
let locked: TestDaemon;

const yaml = (server: string) => `
server: ${server}
keys: []
`;

beforeAll(async () => {
  open = await startTestDaemon({ yaml: yaml('{}') });
  locked = await startTestDaemon({ yaml: yaml('{ token: "${KW_TOKEN}", metricsAuth: true }'), env: { KW_TOKEN: TOKEN } });
});
afterAll(async () => {
  await open.cleanup();
  await locked.cleanup();
});

const bearer = { authorization: `Bearer ${TOKEN}` };

describe('server', () => {
  it('answers /healthz and /readyz', async () => {
    const health = await open.get('/healthz');
    const ready = await open.get('/readyz');

    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ready: true, checks: { config: true, store: true, scheduler: true } });
  });

  it('serves /metrics and /api without auth when no token is set', async () => {
    expect((await open.get('/metrics')).status).toBe(200);
    expect((await open.get('/api/keys')).json()).toEqual({ keys: [] });
  });

  it.each([
    ['/api/keys', 'GET'],
    ['/metrics', 'GET'],
    ['/-/reload', 'POST'],
  ])('requires the bearer token on %s when server.token is set', async (path, method) => {
    const none = method === 'GET' ? await locked.get(path) : await locked.post(path);
    const wrong = method === 'GET' ? await locked.get(path, { authorization: 'Bearer nope' }) : await locked.post(path, { authorization: 'Bearer nope' });
    const right = method === 'GET' ? await locked.get(path, bearer) : await locked.post(path, bearer);

    expect(none.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
    expect(none.text + wrong.text).not.toContain(TOKEN);
  });

  it('streams /api/keys in chunks as the same compact JSON, every key once, sorted, no secret', async () => {
    const n = LIST_CHUNK * 2 + 50;
    const name = (i: number) => `k-${String(i).padStart(4, '0')}`;
    const secret = (i: number) => `sk-or-v1-test-server-list-${String(i).padStart(6, '0')}`;
    const keys = Array.from({ length: n }, (_, i) => `  - { name: ${name(n - 1 - i)}, provider: openrouter, key: ${secret(n - 1 - i)} }`);
    const many = await startTestDaemon({ yaml: `keys:\n${keys.join('\n')}\n`, schedule: false });
    onTestFinished(() => many.cleanup());

    const res = await many.get('/api/keys');
    const body = res.json() as { keys: { name: string; masked: string }[] };

    expect(res.status).toBe(200);
    expect(res.text).toBe(JSON.stringify(body));
    expect(body.keys.map((k) => k.name)).toEqual(Array.from({ length: n }, (_, i) => name(i)));
    expect(body.keys.every((k) => k.masked.includes('…'))).toBe(true);
    expect(res.text).not.toContain('sk-or-v1-test-server-list-');
  });

  it('keeps /healthz and /readyz open for probes', async () => {
    expect((await locked.get('/healthz')).status).toBe(200);
    expect((await locked.get('/readyz')).status).toBe(200);
  });

  it('hands /api/alerts to the alerting seam, and 404s the unknown', async () => {
    const handled: string[] = [];
    const td = await startTestDaemon({
      yaml: yaml('{}'),
      alerting: () => ({
        evaluate: () => undefined,
        forget: () => undefined,
        firing: () => [],
        reload: () => undefined,
        flush: async () => undefined,
        stop: async () => undefined,
        handle: async (_req, res, url) => {
          if (url.pathname !== '/api/alerts') return false;
          handled.push(url.pathname);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"alerts":[]}');
          return true;
        },
      }),
    });

    const alerts = await td.get('/api/alerts');
    const unknown = await td.get('/api/nothing');
    const root = await td.get('/');
    await td.cleanup();

    expect(alerts.json()).toEqual({ alerts: [] });
    expect(handled).toEqual(['/api/alerts']);
    expect(unknown.status).toBe(404);
    expect(root.status).toBe(404);
  });

  it('refuses other methods', async () => {
    expect((await open.post('/metrics')).status).toBe(405);
    expect((await open.get('/-/reload')).status).toBe(405);
  });

  it.each([
    ['127.0.0.1:9477', { host: '127.0.0.1', port: 9477 }],
    ['[::1]:80', { host: '::1', port: 80 }],
    [':9477', { host: '0.0.0.0', port: 9477 }],
  ])('parses listen %s', (text, want) => {
    expect(parseListen(text)).toEqual(want);
  });
});

describe('changes without a token', () => {
  it.each([
    ['POST', undefined, '127.0.0.1', false],
    ['POST', undefined, '127.8.9.10', false],
    ['DELETE', undefined, '::1', false],
    ['POST', undefined, '::ffff:127.0.0.1', false],
    ['POST', undefined, '192.0.2.7', true],
    ['DELETE', undefined, '10.0.0.1', true],
    ['PUT', undefined, '::ffff:10.0.0.1', true],
    ['POST', undefined, 'fd00::2', true],
    ['POST', undefined, undefined, true],
    ['GET', undefined, '192.0.2.7', false],
    ['HEAD', undefined, '192.0.2.7', false],
    ['POST', 'token', '192.0.2.7', false],
  ] as const)('%s without token=%s from %s: denied=%s', (method, token, peer, denied) => {
    const secret = token === undefined ? undefined : new Secret(TOKEN);

    expect(mutationDenied(method, secret, peer)).toBe(denied);
  });

  it('serves silences and reload to a loopback peer without a token', async () => {
    const td = await startTestDaemon({ yaml: yaml('{}'), alerting: createAlerting });
    onTestFinished(() => td.cleanup());

    const reload = await td.post('/-/reload');
    const silence = await fetch(`${td.daemon.url}/api/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'k', endsAt: new Date(Date.now() + 3_600_000).toISOString() }),
    });

    expect(reload.status).toBe(200);
    expect(silence.status).toBe(201);
  });
});
