/**
 * Whole renders (lease) reuse one buffer: a render nobody holds any more becomes the next render's
 * buffer, and a render still held (or handed out by renderBytes) is never written. /metrics itself
 * is streamed from the keys' lines (the last test).
 */
import { get } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../src/metrics.js';
import { startServer, type KeywatchServer } from '../src/server.js';
import type { KeyState } from '../src/state.js';
import { keyState } from './helpers/state.js';
import { silentLogger } from '../src/log.js';

const valid = (name: string, ok: boolean): KeyState => keyState(name, { facts: { valid: ok } });

function setup() {
  let states = [valid('a', true), valid('b', true)];
  const metrics = createMetrics({ states: () => states, cacheMs: 60_000 });
  return { metrics, set: (next: KeyState[]) => (states = next) };
}

let server: KeywatchServer | undefined;

/** A server with nothing but /metrics of interest. */
function metricsServer(metrics: Metrics): Promise<KeywatchServer> {
  return startServer('127.0.0.1:0', {
    metrics,
    states: () => [],
    state: () => undefined,
    ready: () => ({ ready: true }) as never,
    reload: async () => ({ ok: true }),
    auth: () => ({ metricsAuth: false }),
    log: silentLogger(),
  });
}
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('metrics buffers', () => {
  it('a released render is the next render’s buffer', async () => {
    const { metrics, set } = setup();
    const first = await metrics.lease();
    const firstBuffer = first.bytes.buffer;
    first.release();

    set([valid('a', false), valid('b', true)]);
    metrics.invalidate();
    const second = await metrics.lease();

    expect(second.bytes.buffer).toBe(firstBuffer);
    expect(second.bytes.toString()).toContain('keywatch_key_valid{key="a",provider="openrouter"} 0');
    second.release();
  });

  it('never writes a render that is still being sent', async () => {
    const { metrics, set } = setup();
    const sending = await metrics.lease();
    const text = sending.bytes.toString();

    set([valid('a', false)]);
    metrics.invalidate();
    const next = await metrics.lease();
    next.release();
    metrics.invalidate();
    const third = await metrics.lease();

    expect(next.bytes.buffer).not.toBe(sending.bytes.buffer);
    expect(third.bytes.buffer).not.toBe(sending.bytes.buffer);
    expect(sending.bytes.toString()).toBe(text);
    sending.release();
    third.release();
  });

  it('never writes what renderBytes() handed out', async () => {
    const { metrics, set } = setup();
    const kept = await metrics.renderBytes();
    const text = kept.toString();

    set([valid('a', false)]);
    metrics.invalidate();
    const next = await metrics.lease();

    expect(next.bytes.buffer).not.toBe(kept.buffer);
    expect(kept.toString()).toBe(text);
    next.release();
  });

  it('/metrics is streamed from the keys\' lines: a paused scraper gets whole lines, each key once, while keys run; HEAD gets headers', async () => {
    const keys = 3000;
    const usd = (i: number, total: number): KeyState => keyState(`key-${i}`, { facts: { valid: true, currency: 'USD', usage: { total } } });
    let states = Array.from({ length: keys }, (_, i) => usd(i, i));
    const metrics = createMetrics({ states: () => states });
    server = await metricsServer(metrics);

    // A scraper that reads a chunk, then lets every key run (longer values) before reading on.
    const body = await new Promise<string>((resolve, reject) => {
      get(`${server!.url}/metrics`, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          parts.push(c);
          if (parts.length === 1) {
            res.pause();
            states = Array.from({ length: keys }, (_, i) => usd(i, 1_000_000.125 + i));
            for (const st of states) metrics.prepare(st);
            setTimeout(() => res.resume(), 50);
          }
        });
        res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
        res.on('error', reject);
      }).on('error', reject);
    });
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });

    const lines = body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines.filter((l) => !/^[a-z_]+(\{[^{}]*\})? -?[0-9.e+-]+$/.test(l))).toEqual([]);
    const usage = lines.filter((l) => l.startsWith('keywatch_key_usage{'));
    expect(usage).toHaveLength(keys);
    // Each key once, with its value from before or after it ran (the kernel may have taken the whole family already).
    usage.forEach((l, i) => expect([`${i}`, `${1_000_000.125 + i}`]).toContain(l.slice(l.lastIndexOf(' ') + 1)));
    expect(body.match(/^# TYPE keywatch_key_usage gauge$/gm)).toHaveLength(1);
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});

describe('/metrics chunks reused once sent', () => {
  it('two slow scrapes at once, then a third, each get the whole exposition byte for byte', async () => {
    const keys = 3000;
    const states = Array.from({ length: keys }, (_, i) => keyState(`key-${i}`, { facts: { valid: true, currency: 'USD', usage: { total: i + 0.5 } } }));
    const metrics = createMetrics({ states: () => states, now: () => 1_700_000_000_000 });
    const expected = await metrics.render();
    server = await metricsServer(metrics);
    // A scraper that pauses after every few reads, so chunks wait in the response's buffer.
    const scrape = () =>
      new Promise<string>((resolve, reject) => {
        get(`${server!.url}/metrics`, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            parts.push(Buffer.from(c));
            if (parts.length % 3 === 0) {
              res.pause();
              setTimeout(() => res.resume(), 2);
            }
          });
          res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
          res.on('error', reject);
        }).on('error', reject);
      });
    const [a, b] = await Promise.all([scrape(), scrape()]);
    const c = await scrape();
    expect(a.length).toBeGreaterThan(64 * 1024 * 4);
    for (const body of [a, b, c]) expect(body === expected).toBe(true);
  });
});

describe('metrics.prepare', () => {
  it('renders a key’s lines when it is stored, so a scrape only copies them', async () => {
    const s = valid('a', true);
    let reads = 0;
    const counted: KeyState = Object.defineProperty({ ...s }, 'facts', {
      get: () => {
        reads++;
        return s.facts;
      },
      enumerable: true,
    });
    const metrics = createMetrics({ states: () => [counted] });

    metrics.prepare(counted);
    const afterPrepare = reads;
    const text = await metrics.render();

    expect(afterPrepare).toBeGreaterThan(0);
    expect(reads).toBe(afterPrepare);
    expect(text).toContain('keywatch_key_valid{key="a",provider="openrouter"} 1');
  });
});
