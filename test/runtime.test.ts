/** The daemon's heap policy (src/runtime.ts) and the start-up signal it waits for. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { daemonFlags } from '../bench/daemon-client.js';
import { applyHeapPolicy, gcMode, HEAP_POLICIES, heapPolicy, knownV8Flags, NODE_FLAGS, oneReducerGc } from '../src/runtime.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

let td: TestDaemon | undefined;

/** Three keys on a provider nobody listens on (runs are not scheduled in these tests). */
const KEYS_YAML = `keys:
${['a', 'b', 'c'].map((n) => `  - { name: ${n}, provider: openrouter, key: sk-or-v1-test-runtime-${n}, baseUrl: "http://127.0.0.1:9/api/v1" }`).join('\n')}
`;
afterEach(async () => {
  await td?.cleanup();
  td = undefined;
});

describe('heap policy', () => {
  it('is a small heap unless KEYWATCH_HEAP names another policy; anything else is an error naming the variable', () => {
    expect(heapPolicy({})).toBe('small');
    expect(heapPolicy({ KEYWATCH_HEAP: '' })).toBe('small');
    expect(heapPolicy({ KEYWATCH_HEAP: 'small' })).toBe('small');
    expect(heapPolicy({ KEYWATCH_HEAP: 'default' })).toBe('default');
    expect(heapPolicy({ KEYWATCH_HEAP: 'fast' })).toBe('fast');
    expect(() => heapPolicy({ KEYWATCH_HEAP: 'Fast' })).toThrow('KEYWATCH_HEAP must be one of small, fast, default (got "Fast")');
  });

  it('default sets no V8 flag; fast only turns pretenuring off; small adds --optimize-for-size and fewer mark-compacts; none is a heap cap', () => {
    const limit = getHeapStatistics().heap_size_limit;

    expect(applyHeapPolicy('default')).toEqual([]);
    expect(applyHeapPolicy('fast')).toEqual(['--no-allocation-site-pretenuring']);
    expect(applyHeapPolicy('small')).toEqual([
      '--optimize-for-size',
      '--no-allocation-site-pretenuring',
      '--heap-growing-percent=20',
    ]);
    expect(getHeapStatistics().heap_size_limit).toBe(limit);
  });

  it('sets only flags this node knows (V8 prints an error for an unknown one and goes on without it)', async () => {
    const known = new Set(
      [...execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' }).matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1]),
    );
    const found = await knownV8Flags();
    const flags = HEAP_POLICIES.flatMap((p) => applyHeapPolicy(p, found)).map((f) => f.replace(/^--(no-)?/, '').replace(/=.*$/, ''));

    expect(found).toEqual(known);
    expect(flags).toContain('heap-growing-percent');
    // This node has the memory reducer's flag under one of its names.
    expect(flags.filter((f) => f.startsWith('memory-reducer-'))).toHaveLength(1);
    expect(flags.filter((f) => !known.has(f))).toEqual([]);
  });

  it("the memory reducer's single collection by the name this V8 gives it, or not at all", async () => {
    expect(oneReducerGc(new Set(['memory-reducer-single-gc']))).toEqual(['--memory-reducer-single-gc']);
    expect(oneReducerGc(new Set(['memory-reducer-gc-count']))).toEqual(['--memory-reducer-gc-count=1']);
    expect(oneReducerGc(new Set(['memory-reducer-gc-count', 'memory-reducer-single-gc']))).toEqual(['--memory-reducer-gc-count=1']);
    expect(oneReducerGc(new Set())).toEqual([]);
    // A node that cannot be asked: no flag, no error.
    expect(await knownV8Flags('/nonexistent/node')).toEqual(new Set());
    expect(applyHeapPolicy('small', new Set())).toEqual(['--optimize-for-size', '--no-allocation-site-pretenuring', '--heap-growing-percent=20']);
  });
});

describe("keywatch's node flags", () => {
  const root = new URL('..', import.meta.url);
  const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

  it('are flags this node knows: it starts with them and says nothing', () => {
    const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    for (const f of NODE_FLAGS) expect(known).toMatch(new RegExp(`^\\s+${f}\\b`, 'm'));
    const r = spawnSync(process.execPath, [...NODE_FLAGS, '-p', '1 + 1'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ status: 0, stdout: '2\n' });
  });

  it('start every way keywatch is started: both #! lines, the start and demo scripts, and the bench daemons unless told otherwise', () => {
    const shebang = `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`;
    expect(read('bin/keywatch.js').split('\n')[0]).toBe(shebang);
    expect(read('src/main.ts').split('\n')[0]).toBe(shebang);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toContain(`node ${NODE_FLAGS.join(' ')} dist/src/main.js run`);
    expect(scripts.demo).toContain(`node ${NODE_FLAGS.join(' ')} dist/src/main.js demo`);
    // The image runs `keywatch` (bin/keywatch.js), so its #! line.
    expect(read('Dockerfile')).toMatch(/ln -s \/app\/bin\/keywatch\.js \/usr\/local\/bin\/keywatch/);
    expect(read('Dockerfile')).toContain('ENTRYPOINT ["keywatch", "run"]');

    expect(daemonFlags({})).toEqual([...NODE_FLAGS]);
    expect(daemonFlags({ BENCH_DAEMON_ARGS: '--cpu-prof  --trace-gc' })).toEqual([...NODE_FLAGS, '--cpu-prof', '--trace-gc']);
    expect(daemonFlags({ BENCH_PARALLEL_GC: '1', BENCH_DAEMON_ARGS: '--trace-gc' })).toEqual(['--trace-gc']);
  });

  it('gcMode tells a process started with them from one that was not', () => {
    expect(gcMode([...NODE_FLAGS])).toBe('single-threaded');
    expect(gcMode(['--import', 'tsx', ...NODE_FLAGS])).toBe('single-threaded');
    expect(gcMode(['--single-threaded'])).toBe('single-threaded');
    expect(gcMode([])).toBe('parallel');
    expect(gcMode(['--import', 'tsx'])).toBe('parallel');
  });
});

describe('daemon.started', () => {
  it('resolves once every key\'s /metrics lines are rendered: a scrape right after it renders none again', async () => {
    td = await startTestDaemon({ yaml: KEYS_YAML, maintenanceStartDelayMs: 0 });
    await td.daemon.started;
    const rendered = td.daemon.metrics.stats().keyRenders;

    const text = await td.metricsText();

    expect(rendered).toBe(3);
    expect(text).toContain('keywatch_key_info{');
    expect(td.daemon.metrics.stats().keyRenders).toBe(rendered);
  });
});
