import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function keywatch(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, ['bin/keywatch.js', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the keywatch command (bin/keywatch.js)', () => {
  it('runs from a checkout, built or not', () => {
    const r = keywatch(['validate', '--config', 'config/keywatch.yaml'], { OPENROUTER_API_KEY: 'sk-or-v1-test-bin' });

    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('config/keywatch.yaml: ok');
  });

  it('exits 1 on an unknown command, with usage', () => {
    const r = keywatch(['frobnicate']);

    expect(r.code).toBe(1);
    expect(r.err).toContain('unknown command "frobnicate"');
    expect(r.err).toContain('usage: keywatch');
  });
});
