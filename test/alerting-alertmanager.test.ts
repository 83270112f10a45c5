/**
 * Against a real prometheus-alertmanager (Debian package): keywatch posts its alert to
 * /api/v2/alerts with the contract labels, Alertmanager lists it, and keywatch does not also
 * notify the direct notifiers for keys routed there. Skips visibly when the binary is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess } from './helpers/ops.js';
import { config, FAKE_KEY, harness, keyState } from './fixtures/alerting/harness.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { requireTool } from './helpers/tools.js';

const bin = requireTool('prometheus-alertmanager', 'prometheus-alertmanager');

describe.skipIf(bin === undefined)('alertmanager notifier', () => {
  let am: ChildProcess;
  let amUrl: string;
  let dir: string;
  let receiver: Receiver;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kw-am-'));
    receiver = await startReceiver();
    writeFileSync(join(dir, 'alertmanager.yml'), "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n");
    const port = await freePort();
    amUrl = `http://127.0.0.1:${port}`;
    am = spawn(
      bin!,
      [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=', // no gossip port: a single local instance
      ],
      { stdio: 'ignore' },
    );
    await waitReady(`${amUrl}/-/ready`, 20_000);
  });
  afterAll(async () => {
    // Wait for Alertmanager to exit before removing its data directory (it writes on shutdown).
    if (am) await stopProcess(am);
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('receives the firing alert, lists it in /api/v2/alerts, and direct notifiers stay quiet', async () => {
    const h = harness(
      config(`
server: { externalUrl: "https://keywatch.example.internal" }
keys:
  - { name: prod-main, provider: openrouter, key: "\${TEST_KEY}", labels: { team: search }, alerts: { limitRemainingBelow: 5 } }
alerting:
  notifiers:
    - { name: am, type: alertmanager, url: "${amUrl}", match: { keys: ["prod-*"] } }
    - { name: ops, type: slack, url: "${receiver.url}/services/T0/B0/X" }
`),
      { now: Date.now },
    );

    h.alerting.evaluate(keyState({ facts: { limit: 100, limitRemaining: 2, currency: 'USD' } }), Date.now());
    await h.alerting.flush(5000);
    const listed = (await (await fetch(`${amUrl}/api/v2/alerts`)).json()) as AmAlert[];
    const raw = JSON.stringify(listed);
    h.alerting.evaluate(keyState({ facts: { limit: 100, limitRemaining: 50, currency: 'USD' } }), Date.now() + 1);
    await h.alerting.flush(5000);
    const after = (await (await fetch(`${amUrl}/api/v2/alerts?active=true`)).json()) as AmAlert[];
    await h.close();

    expect(listed).toHaveLength(1);
    expect(listed[0]!.labels).toEqual({ alertname: 'limit_remaining_low', key: 'prod-main', provider: 'openrouter', severity: 'warning', team: 'search' });
    expect(listed[0]!.annotations).toMatchObject({ summary: expect.stringContaining('2.00 USD'), value: '2.00 USD', threshold: '5.00 USD' });
    expect(listed[0]!.status.state).toBe('active');
    expect(listed[0]!.generatorURL).toBe('https://keywatch.example.internal/api/keys/prod-main');
    expect(raw).not.toContain(FAKE_KEY);
    expect(after.filter((a) => a.labels.alertname === 'limit_remaining_low' && a.status.state === 'active')).toHaveLength(0);
    expect(receiver.received).toHaveLength(0);
  });
});

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: string };
  generatorURL?: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`alertmanager not ready at ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
