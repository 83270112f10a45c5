/** `keywatch notify-test`: a marked test message to each (or one) notifier, a line per result, exit 1 on any failure. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runCli } from '../src/cli/index.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';

let ok: Receiver;
let broken: Receiver;
let dir: string;
let file: string;

beforeEach(async () => {
  ok = await startReceiver();
  broken = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'kw-notify-'));
  file = join(dir, 'keywatch.yaml');
  writeFileSync(
    file,
    `
keys: []
alerting:
  notifiers:
    - { name: ops, type: slack, url: "\${SLACK_URL}" }
    - { name: hook, type: webhook, url: "${ok.url}/hook", secret: "\${HOOK_SECRET}" }
    - { name: pager, type: webhook, url: "${broken.url}/hook" }
`,
  );
});
afterEach(async () => {
  await ok.close();
  await broken.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const env = { SLACK_URL: `${ok.url}/services/T0/B0/SECRETPATH`, HOOK_SECRET: 'whsec-test-notify-123' };
  const code = await runCli(args, { stdout, stderr, stdin: new PassThrough(), env });
  return { code, out, err };
}

it('sends a marked test message to every notifier and exits 1 when one fails', async () => {
  broken.script({ status: 500 });

  const { code, out } = await cli(['notify-test', '--config', file]);

  expect(code).toBe(1);
  expect(out).toContain('ok    ops (slack): HTTP 200');
  expect(out).toContain('ok    hook (webhook): HTTP 200');
  expect(out).toContain('FAIL  pager (webhook): HTTP 500');
  expect(out).not.toContain('SECRETPATH');
  const slack = ok.received.find((r) => r.path.startsWith('/services'))!.json as { text: string };
  const hook = ok.received.find((r) => r.path === '/hook')!;
  expect(slack.text).toMatch(/^\[TEST\] /);
  expect(hook.json).toMatchObject({ version: 1, test: true, status: 'firing', summary: expect.stringContaining('not a real alert') });
  expect(hook.headers['x-keywatch-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
});

it('--notifier sends to that one only and exits 0 when it accepted', async () => {
  const { code, out } = await cli(['notify-test', '--config', file, '--notifier', 'ops']);

  expect(code).toBe(0);
  expect(out.trim().split('\n')).toEqual(['ok    ops (slack): HTTP 200', 'test message delivered to 1 notifier(s)']);
  expect(ok.received).toHaveLength(1);
  expect(broken.received).toHaveLength(0);
});

it('an unknown notifier name is an error that lists the configured ones', async () => {
  const { code, err } = await cli(['notify-test', '--config', file, '--notifier', 'nope']);

  expect(code).toBe(1);
  expect(err).toContain('no notifier named "nope" (configured: ops, hook, pager)');
});
