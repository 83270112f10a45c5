/**
 * The real daemon (`node --import tsx src/main.ts run --config X`) against the OpenRouter
 * simulator, with a webhook receiver that leaves one delivery hanging: SIGKILL while it is in
 * flight, restart on the same store. The in-flight notification arrives (at least once, same
 * delivery id), the delivered one is not sent again, and no alert is announced a second time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

const KEY_A = `sk-or-v1-test-${'a'.repeat(51)}`;
const KEY_B = `sk-or-v1-test-${'b'.repeat(51)}`;

let sim: OpenRouterSim;
let receiver: Receiver;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  sim = await startOpenRouterSim({
    keys: [
      { key: KEY_A, limit: 100, usage: 99, usagePerHour: 0 },
      { key: KEY_B, limit: 100, usage: 98, usagePerHour: 0 },
    ],
  });
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'kw-crash-daemon-'));
});
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await receiver.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Daemon {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
  output: () => string;
}

function daemon(configFile: string): Daemon {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'run', '--config', configFile], {
    cwd: process.cwd(),
    env: { ...process.env, KW_KEY_A: KEY_A, KW_KEY_B: KEY_B, KEYWATCH_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => out };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('SIGKILL with a firing notification in flight: after restart it arrives, nothing delivered is re-sent, nothing is re-announced', async () => {
  const configFile = join(dir, 'keywatch.yaml');
  writeFileSync(
    configFile,
    `
server: { listen: "127.0.0.1:0" }
storage: { path: "${join(dir, 'keywatch.db')}" }
defaults: { interval: 2s, jitter: 0 }
keys:
  - { name: key-a, provider: openrouter, key: "\${KW_KEY_A}", baseUrl: "${sim.url}", alerts: { limitRemainingBelow: 5 } }
  - { name: key-b, provider: openrouter, key: "\${KW_KEY_B}", baseUrl: "${sim.url}", alerts: { limitRemainingBelow: 5 } }
alerting:
  notifiers:
    - { name: hook, type: webhook, url: "${receiver.url}/hook" }
`,
  );
  receiver.script({ status: 200 }, { hang: true }); // the first delivery lands, the second stays in flight

  const first = daemon(configFile);
  await receiver.waitFor(2, 20_000);
  first.child.kill('SIGKILL');
  const killed = await first.exited;
  const probesBefore = sim.server.requests.length;
  const second = daemon(configFile);
  await receiver.waitFor(3, 20_000);
  // Let the restarted daemon probe both keys again (2s cadence) and settle, then stop it cleanly.
  await until(() => sim.server.requests.length >= probesBefore + 4, 20_000, 'the restarted daemon to probe again');
  await new Promise((r) => setTimeout(r, 500));
  second.child.kill('SIGTERM');
  const stopped = await second.exited;

  expect(killed.signal).toBe('SIGKILL');
  expect(stopped.code, second.output()).toBe(0);
  const got = receiver.received.map((r) => ({
    delivery: String(r.headers['x-keywatch-delivery']),
    status: (r.json as { status: string }).status,
    key: (r.json as { key: string }).key,
    answered: r.status ?? 'in flight',
  }));
  expect(got.map((g) => `${g.status} -> ${g.answered}`)).toEqual(['firing -> 200', 'firing -> in flight', 'firing -> 200']);
  // The in-flight one is delivered again under the same id; the delivered one is not re-sent.
  expect(got[2]!.delivery).toBe(got[1]!.delivery);
  expect(got[0]!.delivery).not.toBe(got[1]!.delivery);
  expect(new Set(got.map((g) => g.key))).toEqual(new Set(['key-a', 'key-b']));
  // One distinct firing per alert: every delivery id is sequence 1 of a firing.
  expect(new Set(got.map((g) => g.delivery)).size).toBe(2);
  for (const g of got) expect(g.delivery).toMatch(/^[0-9a-f]{16}:firing:1$/);
  for (const r of receiver.received) {
    expect(r.body).not.toContain(KEY_A);
    expect(r.body).not.toContain(KEY_B);
  }
}, 60_000);
