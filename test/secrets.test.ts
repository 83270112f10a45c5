import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenRouterSim, type OpenRouterSim } from '../providers/openrouter/sim.js';

// Planted secrets: if any of these shows up anywhere outside the provider's Authorization header, we leak.
const PLANTED = 'sk-or-v1-test-planted-5ec12e7-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const PLANTED_BAD = 'sk-or-v1-test-planted-5ec12e7-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const PLANTED_FLAKY = 'sk-or-v1-test-planted-5ec12e7-cccccccccccccccccccccccccccccccccccccccccccc';
const PLANTED_MGMT = 'sk-or-v1-test-planted-5ec12e7-dddddddddddddddddddddddddddddddddddddddddddd';
const TOKEN = 'kw-test-api-token-5ec12e7-eeeeeeeeeeeeeeee';
const SECRETS = [PLANTED, PLANTED_BAD, PLANTED_FLAKY, PLANTED_MGMT, TOKEN];

let sim: OpenRouterSim;
let dir: string;
let stdout = '';
let stderr = '';
let exitCode: number | null = null;
const bodies: string[] = [];
let dbBytesWhileRunning = '';

function leaks(text: string): string[] {
  return SECRETS.flatMap((s) => [s, Buffer.from(s).toString('base64')]).filter((form) => text.includes(form));
}

beforeAll(async () => {
  sim = await startOpenRouterSim({
    keys: [
      { key: PLANTED, limit: 10, limitReset: 'daily', usage: 1 },
      { key: PLANTED_BAD, revoked: true },
      { key: PLANTED_FLAKY, fault: 'html' },
      { key: PLANTED_MGMT, management: true },
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'kw-secrets-'));
  const config = join(dir, 'keywatch.yaml');
  writeFileSync(
    config,
    `
server: { listen: "127.0.0.1:0", token: "\${KW_TOKEN}" }
storage: { path: ${join(dir, 'kw.db')} }
defaults: { interval: 1s, jitter: 0, timeout: 2s }
providers: { openrouter: { baseUrl: "${sim.url}" } }
keys:
  - { name: planted, provider: openrouter, key: "\${PLANTED}", adminKey: "\${PLANTED_MGMT}" }
  - { name: revoked, provider: openrouter, key: "\${PLANTED_BAD}" }
  - { name: html, provider: openrouter, key: "\${PLANTED_FLAKY}" }
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'run', '--config', config], {
    cwd: join(import.meta.dirname, '..'),
    env: {
      PATH: process.env.PATH,
      KEYWATCH_LOG_LEVEL: 'debug',
      PLANTED,
      PLANTED_BAD,
      PLANTED_FLAKY,
      PLANTED_MGMT,
      KW_TOKEN: TOKEN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', (code) => ((exitCode = code), r())));

  const url = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout)?.[1]);
  const auth = { authorization: `Bearer ${TOKEN}` };
  await waitFor(async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text.includes('keywatch_key_usage{key="planted"') && text.includes('keywatch_probe_success{key="html"') ? text : undefined;
  });
  for (const path of ['/metrics', '/api/keys', '/api/keys/planted', '/api/keys/revoked', '/api/keys/html', '/api/alerts', '/readyz']) {
    const res = await fetch(url + path, { headers: auth });
    bodies.push(`${path} ${res.status} ${await res.text()}`);
  }
  bodies.push(await (await fetch(`${url}/api/keys`)).text()); // unauthorized answer
  dbBytesWhileRunning = ['kw.db', 'kw.db-wal']
    .map((f) => join(dir, f))
    .filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1'))
    .join('');

  child.kill('SIGTERM');
  await exited;
}, 60_000);

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out; stdout so far:\n${stdout}\nstderr:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('secrets never leak (real CLI: node --import tsx src/main.ts run)', () => {
  it('really probed with the keys (the test is not vacuous)', () => {
    const auths = sim.server.requests.map((r) => String(r.headers.authorization));

    expect(auths).toContain(`Bearer ${PLANTED}`);
    expect(auths).toContain(`Bearer ${PLANTED_MGMT}`);
    expect(bodies[0]).toContain('keywatch_key_valid{key="revoked",provider="openrouter"} 0');
    expect(bodies.join('\n')).toContain('bad_response');
    expect(stdout).toContain('key run not ok');
  });

  it('not in stdout or stderr', () => {
    expect(leaks(stdout)).toEqual([]);
    expect(leaks(stderr)).toEqual([]);
  });

  it('not in /metrics or any /api answer', () => {
    expect(bodies).toHaveLength(8);
    expect(leaks(bodies.join('\n'))).toEqual([]);
  });

  it('not in the SQLite file or its WAL', () => {
    const after = ['kw.db', 'kw.db-wal', 'kw.db-shm']
      .map((f) => join(dir, f))
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');

    expect(dbBytesWhileRunning.length).toBeGreaterThan(0);
    expect(dbBytesWhileRunning).toContain('planted');
    expect(leaks(dbBytesWhileRunning)).toEqual([]);
    expect(leaks(after)).toEqual([]);
  });

  it('shuts down gracefully on SIGTERM with exit 0', () => {
    expect(exitCode).toBe(0);
    expect(stdout).toContain('keywatch stopped');
  });
});
