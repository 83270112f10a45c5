/**
 * SIGKILL while a notification is in flight, then restart: a real child process running the real
 * alerting on a real SQLite file. At-least-once for what was in flight; nothing already delivered
 * is sent again; a firing alert is not re-announced.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startReceiver, type Receiver } from './helpers/receiver.js';

let receiver: Receiver;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'kw-crash-'));
});
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

function worker(state: unknown): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/alerting/worker.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, KW_DB: join(dir, 'keywatch.db'), KW_RECEIVER: receiver.url, KW_STATE: JSON.stringify(state) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited };
}

it('a notification in flight at SIGKILL is delivered after restart; nothing delivered is re-sent or re-announced', async () => {
  const bothLow = { facts: { limit: 100, limitRemaining: 1, balance: 2, currency: 'USD' } };
  receiver.script({ status: 200 }, { hang: true });

  const first = worker(bothLow);
  await receiver.waitFor(2, 20_000); // limit_remaining_low delivered; balance_low hanging in flight
  first.child.kill('SIGKILL');
  const killed = await first.exited;
  const second = worker(bothLow);
  const finished = await second.exited;
  const third = worker(bothLow);
  const again = await third.exited;

  expect(killed.signal).toBe('SIGKILL');
  expect(finished.code).toBe(0);
  expect(again.code).toBe(0);
  const got = receiver.received.map((r) => {
    const b = r.json as { rule: string; status: string };
    return `${b.status} ${b.rule} ${String(r.headers['x-keywatch-delivery']).split(':').slice(1).join(':')} -> ${r.status ?? 'in flight'}`;
  });
  expect(got).toEqual([
    'firing limit_remaining_low firing:1 -> 200',
    'firing balance_low firing:1 -> in flight',
    'firing balance_low firing:1 -> 200',
  ]);
  expect(receiver.received[1]!.headers['x-keywatch-delivery']).toBe(receiver.received[2]!.headers['x-keywatch-delivery']);
  const db = new Database(join(dir, 'keywatch.db'), { readonly: true });
  const rows = db.prepare('SELECT status FROM alert_outbox ORDER BY id').all();
  db.close();
  expect(rows).toEqual([{ status: 'delivered' }, { status: 'delivered' }]);
});
