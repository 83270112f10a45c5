import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, type Demo } from '../src/demo.js';
import { silentLogger } from '../src/log.js';

describe('keywatch demo', () => {
  let demo: Demo;
  let printed = '';
  const dir = mkdtempSync(join(tmpdir(), 'kw-demo-'));
  beforeAll(async () => {
    const out = new PassThrough();
    out.on('data', (c: Buffer) => (printed += c.toString()));
    demo = await startDemo({ listen: '127.0.0.1:0', dbPath: join(dir, 'demo.db'), log: silentLogger(), out });
  });
  afterAll(async () => {
    await demo.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves real numbers from the simulator and prints signed alerts', async () => {
    await demo.daemon.runOnce();
    await demo.daemon.runOnce();

    const metrics = await (await fetch(`${demo.daemon.url}/metrics`)).text();
    expect(metrics).toContain('keywatch_key_valid{key="old-revoked",provider="openrouter"} 0');
    expect(metrics).toMatch(/keywatch_key_limit_remaining\{key="batch-near-limit",provider="openrouter",currency="USD"\} 2\.\d+/);
    expect(metrics).toMatch(/keywatch_key_balance\{key="prod-main",provider="openrouter",currency="USD"\} \d+/);
    expect(metrics).toContain('keywatch_key_valid{key="team.mobile-app",provider="openrouter"} 1');
    expect(metrics).not.toMatch(/keywatch_key_limit\{key="research-unlimited"/);
    expect(metrics).toContain('keywatch_notification_failures_total{notifier="demo-log"} 0');
    await expect.poll(() => printed, { timeout: 10_000 }).toMatch(/\[alert signed\] FIRING\s+key_invalid old-revoked/);
    expect(printed).not.toContain('sk-or-v1-demo');
  });

  it('only GETs allowlisted OpenRouter paths', () => {
    expect(demo.sim.server.violations).toEqual([]);
  });
});

describe('keywatch demo on a busy port', () => {
  it('exits 1 with a hint instead of a stack trace', async () => {
    const { createServer } = await import('node:net');
    const { runCli } = await import('../src/cli/index.js');
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'kw-demo-busy-'));
    let err = '';
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => (err += c.toString()));

    const code = await runCli(['demo', '--listen', `127.0.0.1:${port}`, '--data', dir], {
      stdout: new PassThrough(),
      stderr,
      stdin: process.stdin,
      env: { KEYWATCH_LOG_LEVEL: 'silent' },
    });

    busy.close();
    rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(1);
    expect(err).toContain(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
  });
});
