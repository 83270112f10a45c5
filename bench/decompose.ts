/**
 * Where a key run's cost is: the same paced loop over the benchmark's 10,000 keys (166.7 runs/s, as
 * keywatch runs them) against the simulator, four ways, each in a process of its own:
 *   bare    undici's request() and the body as text: the benchmark's baseline;
 *   client  keywatch's HttpClient (its own dispatch handler) and JSON.parse of the answer;
 *   floor   `client`, then the rest of what the 1.5x target names in the least a run can do of it:
 *           the answer's numbers as one raw row (keywatch's probe_runs table and indexes, an hour
 *           of every key's rows already in it, 250 ms transactions) and as the key's /metrics lines
 *           (one template string written into the key's buffer); no state, rollup, checks or judging;
 *   runner  runKey: the OpenRouter adapter's probes with everything they check and learn;
 * with no state, store, analysis, alerting or /metrics (but floor's). What the daemon costs beyond
 * `runner` is the monitoring work; `floor` against `bare` is what any daemon storing and exporting
 * every run pays on this stack. Run after a build: `node dist/bench/decompose.js [MODE...] [--keys N]
 * [--warmup S] [--seconds S] [--rounds N] [--together] [--json FILE]`, the modes one after another
 * (default: all four), or with --together all at once, each with its own simulator (the VM's speed
 * moves by the minute: at once they share it); --json writes every process's figures (run.ts's
 * floor row reads them).
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { HttpClient, parseJson } from '../src/http/client.js';
import { runKey } from '../src/runner.js';
import { TICK_MS } from '../src/daemon.js';
import type { KeyState } from '../src/state.js';
import { registry } from '../providers/index.js';
import { benchConfigYaml } from './daemon-config.js';
import { floorSink, type DecomposeResult, type OpenRouterKey } from './floor.js';
import { benchKeyValue } from './keys.js';
import { cpuWindow } from './measure.js';
import { forkSim } from './sim-client.js';

const MODES = ['bare', 'client', 'floor', 'runner'] as const;
type Mode = (typeof MODES)[number];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    keys: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '30' },
    child: { type: 'boolean', default: false },
    together: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const keys = Number(values.keys);
const warmupS = Number(values.warmup);
const seconds = Number(values.seconds);
const modes = positionals.length === 0 ? [...MODES] : positionals;
for (const m of modes) if (!(MODES as readonly string[]).includes(m)) throw new Error(`mode must be one of ${MODES.join(', ')}, not "${m}"`);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number of at least 1, not "${values.rounds}"`);

if (!values.child) {
  const results: DecomposeResult[] = [];
  const one = (mode: string, round: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const args = [mode, '--child', '--keys', String(keys), '--warmup', String(warmupS), '--seconds', String(seconds)];
      const child = fork(fileURLToPath(import.meta.url), args, { stdio: 'inherit' });
      child.on('message', (m: Omit<DecomposeResult, 'round'>) => results.push({ ...m, round }));
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${mode} exited ${code}`))));
    });
  for (let round = 0; round < rounds; round++) {
    // --together: the modes at the same time (each with its own simulator), so the VM's minute
    // moves them alike; otherwise one after another.
    if (values.together) await Promise.all(modes.map((m) => one(m, round)));
    else for (const mode of modes) await one(mode, round);
  }
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
} else {
  await measure(modes[0] as Mode);
}

async function measure(mode: Mode): Promise<void> {
  const rate = keys / 60;
  const sim = await forkSim(keys);
  const cfg = parseConfig(benchConfigYaml({ simUrl: sim.url, storePath: '/dev/null', keys, intervalS: 60, maxRequestsPerSecond: 10_000 }), {
    providers: [...registry.keys()],
  });
  const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 });
  const http = new HttpClient({ defaultTimeoutMs: 10_000, dispatcher: agent });
  // As the daemon's states carry them: a fresh model list, so a run makes the one /key request.
  const previous = new Map<string, KeyState>();
  for (const k of cfg.keys) {
    previous.set(k.name, {
      name: k.name,
      claimedProvider: 'openrouter',
      provider: 'openrouter',
      labels: {},
      watchModels: k.watchModels,
      fingerprint: '',
      masked: '',
      facts: {},
      probes: { models: { probe: 'models', ok: true, at: Date.now() + 3_600_000, durationMs: 1 } },
      lastSuccessAt: {},
      consecutiveFailures: 0,
    });
  }
  const floor = mode === 'floor' ? floorSink(cfg.keys.map((k) => k.name), { flushEveryMs: 250 }) : undefined;
  let failures = 0;
  const one = async (i: number): Promise<void> => {
    const k = cfg.keys[i % keys]!;
    if (mode === 'bare') {
      const res = await request(`${sim.url}/key`, {
        method: 'GET',
        dispatcher: agent,
        headers: { authorization: `Bearer ${benchKeyValue(i % keys)}`, accept: 'application/json', 'user-agent': 'keywatch-bench-baseline' },
      });
      await res.body.text();
      if (res.statusCode !== 200) failures++;
    } else if (mode === 'client' || mode === 'floor') {
      const at = Date.now();
      const res = await http.scoped(sim.url, ['/key']).get('/key', { headers: { authorization: `Bearer ${k.key.reveal()}` }, timeoutMs: 10_000 });
      const body = parseJson(res) as { data?: OpenRouterKey };
      if (res.status !== 200) failures++;
      if (floor !== undefined && body.data !== undefined) floor.record(i % keys, at, Date.now() - at, body.data);
    } else {
      const r = await runKey({ key: k, previous: previous.get(k.name)! }, { registry, http });
      if (!r.ok) failures++;
    }
  };
  const pace = async (from: number, count: number): Promise<void> => {
    const t0 = performance.now();
    const all: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      // On keywatch's scheduler ticks (src/daemon.ts TICK_MS), as the bench's baseline is paced.
      const wait = t0 + Math.ceil((i * 1000) / rate / TICK_MS) * TICK_MS - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      all.push(one(from + i));
    }
    await Promise.all(all);
  };
  const warmupRuns = Math.round(rate * warmupS);
  await pace(0, warmupRuns);
  const runs = Math.round(rate * seconds);
  const cpu = cpuWindow();
  await pace(warmupRuns, runs);
  const { cpuS, systemS } = cpu.stop();
  const result: Omit<DecomposeResult, 'round'> = { mode, keys, runs, cpuMsPerRun: (cpuS / runs) * 1000, kernelMsPerRun: (systemS / runs) * 1000, failures };
  console.log(
    `${mode.padEnd(6)} ${keys} keys, ${runs} runs: ${result.cpuMsPerRun.toFixed(3)} ms CPU per run (${result.kernelMsPerRun.toFixed(3)} in the kernel), ${failures} failed`,
  );
  process.send?.(result);
  floor?.close();
  await agent.close();
  await sim.close();
}
