/**
 * storage.stateSaveInterval: a key's last state is written at once when something a restart must
 * get right changed, else at most every interval; flush() and close() write the newest of all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, stateSignature, type Store } from '../src/store/index.js';
import type { KeyState } from '../src/state.js';
import { keyState } from './helpers/state.js';

const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const MIN = 60_000;

let dir: string | undefined;
let store: Store | undefined;
afterEach(() => {
  store?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  store = undefined;
  dir = undefined;
});

function open(stateSaveIntervalMs: number): { store: Store; file: string } {
  dir = mkdtempSync(join(tmpdir(), 'kw-states-'));
  const file = join(dir, 'kw.db');
  // maxBatch 1: every queued write goes to disk at once, so what is on disk is what was queued.
  store = openStore(file, { stateSaveIntervalMs, maxBatch: 1, flushIntervalMs: 60_000 });
  return { store, file };
}

function onDisk(file: string, key = 'k'): KeyState | undefined {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const row = db.prepare('SELECT state FROM key_state WHERE key = ?').get(key) as { state: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.state) as KeyState);
  } finally {
    db.close();
  }
}

const run = (min: number, usage: number, over: Partial<KeyState> = {}): KeyState =>
  keyState('k', { lastRunAt: T0 + min * MIN, facts: { valid: true, currency: 'USD', usage: { total: usage } }, ...over });

describe('state saves', () => {
  it('writes figures that only moved at most every interval', () => {
    const { store: s, file } = open(5 * MIN);
    s.saveState(run(0, 1));

    s.saveState(run(1, 2));
    s.saveState(run(4, 5));
    const held = onDisk(file)?.facts.usage?.total;
    s.saveState(run(5, 6));

    expect(held).toBe(1);
    expect(onDisk(file)?.facts.usage?.total).toBe(6);
    expect(s.stats().deferredStates).toBe(0);
  });

  it('writes at once when validity changes, or a probe fails', () => {
    const { store: s, file } = open(5 * MIN);
    s.saveState(run(0, 1));

    s.saveState(run(1, 2, { facts: { valid: false } }));
    const refused = onDisk(file)?.facts.valid;
    s.saveState(run(2, 2, { probes: { current_key: { probe: 'current_key', ok: false, errorKind: 'upstream', durationMs: 5, at: T0 + 2 * MIN } } }));

    expect(refused).toBe(false);
    expect(onDisk(file)?.probes.current_key?.ok).toBe(false);
  });

  it('close() and loadStates() write the newest state of every key', () => {
    const { store: s, file } = open(5 * MIN);
    s.saveState(run(0, 1));
    s.saveState(run(1, 2));

    const loaded = s.loadStates().get('k')?.facts.usage?.total;
    s.saveState(run(2, 3));
    s.close();
    store = undefined;

    expect(loaded).toBe(2);
    expect(onDisk(file)?.facts.usage?.total).toBe(3);
  });

  it('forgetting a key drops its held-back state too', () => {
    const { store: s, file } = open(5 * MIN);
    s.saveState(run(0, 1));
    s.saveState(run(1, 2));

    s.forgetState('k');
    s.flush();

    expect(onDisk(file)).toBeUndefined();
  });

  it('with 0 writes every state', () => {
    const { store: s, file } = open(0);
    s.saveState(run(0, 1));

    s.saveState(run(1, 2));

    expect(onDisk(file)?.facts.usage?.total).toBe(2);
  });

  it('the signature ignores figures and sees what a restart must get right', () => {
    const base = run(0, 1);
    expect(stateSignature(run(3, 9))).toBe(stateSignature(base));
    for (const other of [
      run(0, 1, { provider: 'openai' }),
      run(0, 1, { consecutiveFailures: 1 }),
      run(0, 1, { facts: { valid: true, currency: 'USD', limit: 10 } }),
      run(0, 1, { labels: { team: 'x' } }),
      run(0, 1, { fingerprint: 'ffffffff' }),
    ]) {
      expect(stateSignature(other)).not.toBe(stateSignature(base));
    }
  });

  it('the signature sees a model lost or gained, and the same models in a new object as the same', () => {
    const models = (access: Record<string, boolean>) => ({ source: 'user' as const, count: Object.keys(access).length, access, pricingKnown: {} });
    const withModels = (access: Record<string, boolean>, labels: Record<string, string> = {}) =>
      run(0, 1, { labels, facts: { valid: true, currency: 'USD', models: models(access) } });
    const base = stateSignature(withModels({ a: true, b: true, c: false }));

    expect(stateSignature(withModels({ a: true, b: true, c: false }))).toBe(base);
    expect(stateSignature(withModels({ a: true, b: false, c: false }))).not.toBe(base);
    expect(stateSignature(withModels({ a: true, b: true, c: true }))).not.toBe(base);
    expect(stateSignature(withModels({ a: true, b: true, c: false }, { team: 'y' }))).not.toBe(base);
  });
});
