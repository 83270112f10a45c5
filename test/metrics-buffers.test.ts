/**
 * /metrics reuses one buffer across scrapes: a render nobody sends any more becomes the next
 * render's buffer, and a render still being sent (or handed out by renderBytes) is never written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';
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

  it('a /metrics response releases its buffer once sent, so the next scrape reuses it', async () => {
    const { metrics, set } = setup();
    server = await startServer('127.0.0.1:0', {
      metrics,
      states: () => [],
      state: () => undefined,
      ready: () => ({ ready: true }) as never,
      reload: async () => ({ ok: true }),
      auth: () => ({ metricsAuth: false }),
      log: silentLogger(),
    });
    const body1 = await (await fetch(`${server.url}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 20)); // the response's 'close'
    const buffersSeen = new Set<ArrayBufferLike>();
    const probe = await metrics.lease();
    buffersSeen.add(probe.bytes.buffer);
    probe.release();

    set([valid('a', false)]);
    metrics.invalidate();
    const body2 = await (await fetch(`${server.url}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 20));
    const after = await metrics.lease();

    expect(body1).toContain('key="b"');
    expect(body2).toContain('keywatch_key_valid{key="a",provider="openrouter"} 0');
    expect(body2).not.toContain('key="b"');
    expect(buffersSeen.has(after.bytes.buffer)).toBe(true);
    after.release();
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
