import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'kw-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  return keywatch(['run', ...args], env);
}

function keywatch(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: join(import.meta.dirname, '..'),
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('keywatch run (CLI)', () => {
  it('exits 1 with one line per config problem, naming its YAML path', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `storage: { path: ${join(dir, 'x.db')} }\nkeys:\n  - { name: Bad Name, provider: openrouter, key: "\${NOT_SET_ANYWHERE}" }\n  - { name: ok, provider: nope, key: x, colour: red }\n`);

    const res = run(['--config', file]);
    const lines = res.stderr.trim().split('\n');

    expect(res.status).toBe(1);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/bad\.yaml: keys\[0\]\.key: environment variable NOT_SET_ANYWHERE is not set$/),
        expect.stringMatching(/bad\.yaml: keys\[1\]\.colour: unknown field$/),
      ]),
    );
    expect(lines.every((l) => l.includes('bad.yaml: '))).toBe(true);
  });

  it('exits 1 on a malformed --shard', () => {
    const res = run(['--config', join(dir, 'none.yaml'), '--shard', '2/2']);

    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/--shard 2\/2/);
  });

  it('exits 1 on a cron pattern croner refuses, naming its YAML path (not a croner stack)', () => {
    const file = join(dir, 'cron.yaml');
    writeFileSync(file, `storage: { path: ${join(dir, 'cron.db')} }\nkeys:\n  - { name: a, provider: openrouter, key: sk-or-v1-test-cli, schedule: "99 * * * *" }\n`);

    const res = run(['--config', file]);

    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toMatch(/^\S*cron\.yaml: keys\[0\]\.schedule: invalid cron pattern \(Invalid value for minute: 99\)$/);
  });

  it('exits 1 on an unknown KEYWATCH_HEAP, before reading the config', () => {
    const res = run(['--config', join(dir, 'missing.yaml')], { KEYWATCH_HEAP: 'quick' });

    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('keywatch run: KEYWATCH_HEAP must be one of small, fast, default (got "quick")');
  });

  it('exits 1 when the config file is missing', () => {
    const res = run(['--config', join(dir, 'missing.yaml')]);

    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/missing\.yaml: file not found/);
  });
});

describe('usage mistakes are one line, not a crash', () => {
  it.each([
    ['validate', 1],
    ['run', 1],
    // report keeps 3 ("could not report"): its 1 means "needs review".
    ['report', 3],
  ])('keywatch %s --confg x exits %i', (command, code) => {
    const res = keywatch([command as string, '--confg', join(dir, 'x.yaml')]);

    expect(res.status).toBe(code);
    expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^keywatch ${command}: Unknown option '--confg'`))]);
  });
});

describe('keywatch run: the heap policy', () => {
  it("once started, sets the small heap's flags, the memory reducer's by the name this node knows, and no flag V8 refuses", async () => {
    const file = emptyConfig('heap');
    const out = await outputUntil(process.execPath, ['--import', 'tsx', 'src/main.ts', 'run', '--config', file], { KEYWATCH_LOG_LEVEL: 'debug' }, 'heap policy applied');

    const line = JSON.parse(out.split('\n').find((l) => l.includes('heap policy applied'))!) as { flags: string[] };
    expect(line.flags).toEqual(expect.arrayContaining(['--optimize-for-size', '--heap-growing-percent=20']));
    expect(line.flags.filter((f) => f.startsWith('--memory-reducer-'))).toHaveLength(1);
    expect(out).not.toMatch(/unrecognized flag/i);
    // Started without keywatch's node flags (plain `node src/main.ts`): the start-up line says so.
    expect(startedLine(out).gc).toBe('parallel');
  });

  it('started as the `keywatch` command (its #! line), collects garbage on the main thread and says so', async () => {
    const file = emptyConfig('gc');
    // Executed as a program, as a shell, the image's entrypoint or npm's bin link runs it.
    const out = await outputUntil(join(import.meta.dirname, '..', 'bin', 'keywatch.js'), ['run', '--config', file], {}, 'keywatch started');

    expect(startedLine(out).gc).toBe('single-threaded');
  });
});

/** A config with no keys, listening on a free port, its store in the test's directory. */
function emptyConfig(name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `server: { listen: "127.0.0.1:0" }\nstorage: { path: ${join(dir, `${name}.db`)} }\nkeys: []\n`);
  return file;
}

/** Runs `command` until its output (stdout and stderr) holds `until`, then stops it with SIGTERM; the output. */
async function outputUntil(command: string, args: string[], env: Record<string, string>, until: string): Promise<string> {
  const child = spawn(command, args, { cwd: join(import.meta.dirname, '..'), env: { PATH: process.env.PATH, ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await vi.waitFor(() => expect(out).toContain(until), { timeout: 20_000, interval: 100 });
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  return out;
}

function startedLine(out: string): { gc?: string } {
  return JSON.parse(out.split('\n').find((l) => l.includes('keywatch started'))!) as { gc?: string };
}
